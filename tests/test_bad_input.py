"""Every bad input raises a specific ``ecgxai.errors`` exception naming the file and the problem.

Corrupted records are built in ``tmp_path`` from copies of reference records; the reference
folder itself is only read.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

import ecgxai
from ecgxai import errors
from ecgxai.config import STANDARD_LEADS
from ecgxai.errors import (
    ConfigurationError,
    CorruptRecordError,
    ECGXAIError,
    HeaderError,
    InputShapeError,
    InvalidSignalError,
    LeadMismatchError,
    MissingHeaderError,
    MissingSignalFileError,
    ModelOutputError,
    RecordNotFoundError,
    UnknownClassError,
)
from ecgxai.io.records import Record

N_CLASSES = 27


@pytest.fixture(scope="module")
def src(reference_dir: Path) -> Path:
    """Base path of a 5000-sample reference record (A0003)."""
    return reference_dir / "records" / "A0003"


@pytest.fixture(scope="module")
def val(src: Path) -> np.ndarray:
    return scipy.io.loadmat(str(src.with_suffix(".mat")))["val"]


def write_header(src: Path, dest: Path, *, fs: str = "500", n_samples: str | None = None) -> Path:
    """Copy ``src``'s header as ``dest``.hea (record and file names changed), optionally altered."""
    lines = src.with_suffix(".hea").read_text().splitlines()
    first = lines[0].split()
    first[0], first[2] = dest.name, fs
    if n_samples is not None:
        first[3] = n_samples
    body = [ln.replace(f"{src.name}.mat", f"{dest.name}.mat") for ln in lines[1:]]
    header = dest.with_suffix(".hea")
    header.write_text("\n".join([" ".join(first), *body]) + "\n")
    return header


def copy_record(src: Path, dest: Path) -> Path:
    """A faithful copy of ``src`` (header and .mat) under the name ``dest``."""
    write_header(src, dest)
    shutil.copyfile(src.with_suffix(".mat"), dest.with_suffix(".mat"))
    return dest


def probability_model(x: np.ndarray) -> np.ndarray:
    """A deterministic callable model: a sigmoid of each input's mean, one column per class."""
    score = 1.0 / (1.0 + np.exp(-x.mean(axis=(1, 2), dtype=np.float64) / 100.0))
    return np.repeat(score[:, None], N_CLASSES, axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def classifier():
    return ecgxai.load_model(probability_model, class_names=ecgxai.SCORED_CODES, input_length=5000)


# --- exception hierarchy --------------------------------------------------------------------


@pytest.mark.parametrize("cls", [
    ConfigurationError, errors.RecordError, RecordNotFoundError, MissingHeaderError,
    MissingSignalFileError, HeaderError, CorruptRecordError, InvalidSignalError, LeadMismatchError,
    UnknownClassError, errors.ModelError, errors.ModelLoadError, errors.UnsafeModelError,
    errors.MissingDependencyError, ModelOutputError, InputShapeError, errors.NotDifferentiableError,
])
def test_every_error_is_an_ecgxai_error(cls: type) -> None:
    assert issubclass(cls, ECGXAIError)
    assert cls.__module__ == "ecgxai.errors"


def test_record_errors_carry_path_and_problem() -> None:
    exc = CorruptRecordError(Path("/data/A0001.mat"), "no 'val' variable")
    assert (exc.path, exc.problem) == ("/data/A0001.mat", "no 'val' variable")
    assert str(exc) == "/data/A0001.mat: no 'val' variable"
    assert isinstance(exc, ValueError)
    assert isinstance(RecordNotFoundError("x", "gone"), FileNotFoundError)


# --- missing files ------------------------------------------------------------------------


def test_mat_without_header(src: Path, tmp_path: Path) -> None:
    shutil.copyfile(src.with_suffix(".mat"), tmp_path / "LONE.mat")
    with pytest.raises(MissingHeaderError, match=r"LONE\.hea: header file not found; pass fs=") as info:
        ecgxai.read_record(tmp_path / "LONE.mat")
    assert info.value.path == str(tmp_path / "LONE.hea")


def test_mat_without_header_reads_with_explicit_fs(src: Path, tmp_path: Path, val: np.ndarray,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    shutil.copyfile(src.with_suffix(".mat"), tmp_path / "LONE.mat")
    with caplog.at_level(logging.WARNING, logger="ecgxai"):
        rec = ecgxai.read_record(tmp_path / "LONE", fs=360)
    assert not caplog.records  # an explicit fs is not a guess
    assert rec.fs == 360.0
    assert rec.lead_names == STANDARD_LEADS
    np.testing.assert_array_equal(rec.to_units("adc"), val.T)
    np.testing.assert_allclose(rec.signal, val.T / 1000.0, rtol=1e-6)


def test_mat_without_header_default_fs_logs_a_warning(src: Path, tmp_path: Path, val: np.ndarray,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    shutil.copyfile(src.with_suffix(".mat"), tmp_path / "LONE.mat")
    with caplog.at_level(logging.WARNING, logger="ecgxai"):
        rec = ecgxai.read_record(tmp_path / "LONE.mat", allow_default_fs=True)
    assert rec.fs == 500.0
    np.testing.assert_array_equal(rec.to_units("adc"), val.T)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "LONE.mat" in warnings[0].getMessage()
    assert "header missing, assuming 500 Hz" in warnings[0].getMessage()


@pytest.mark.parametrize("fs", [0, -500, float("nan"), float("inf")])
@pytest.mark.parametrize("with_header", [True, False])
def test_impossible_fs_argument(src: Path, tmp_path: Path, fs: float, with_header: bool) -> None:
    if with_header:
        copy_record(src, tmp_path / "ARG")
    else:
        shutil.copyfile(src.with_suffix(".mat"), tmp_path / "ARG.mat")
    with pytest.raises(ConfigurationError, match=r"fs must be a positive number of Hz, got"):
        ecgxai.read_record(tmp_path / "ARG", fs=fs)


def test_header_without_its_mat(src: Path, tmp_path: Path) -> None:
    write_header(src, tmp_path / "NOMAT")
    with pytest.raises(MissingSignalFileError,
                       match=r"NOMAT\.mat: signal file named in NOMAT\.hea not found"):
        ecgxai.read_record(tmp_path / "NOMAT")


@pytest.mark.parametrize("given", ["GHOST", "GHOST.mat", "GHOST.hea"])
def test_neither_header_nor_mat(tmp_path: Path, given: str) -> None:
    with pytest.raises(RecordNotFoundError, match=r"GHOST: no \.hea header and no \.mat signal file") as info:
        ecgxai.read_record(tmp_path / given)
    assert info.value.path == str(tmp_path / "GHOST")


# --- corrupt signal files ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["4", "5"])
def test_mat_without_val(src: Path, tmp_path: Path, val: np.ndarray, fmt: str) -> None:
    write_header(src, tmp_path / "NOVAL")
    scipy.io.savemat(str(tmp_path / "NOVAL.mat"), {"data": val}, format=fmt)
    with pytest.raises(CorruptRecordError, match=r"NOVAL\.mat: no 'val' variable in \.mat file"):
        ecgxai.read_record(tmp_path / "NOVAL")


def test_mat_of_garbage_bytes(src: Path, tmp_path: Path) -> None:
    write_header(src, tmp_path / "GARBAGE")
    (tmp_path / "GARBAGE.mat").write_bytes(bytes(range(256)) * 50)
    with pytest.raises(CorruptRecordError, match=r"GARBAGE\.mat: unreadable \.mat file"):
        ecgxai.read_record(tmp_path / "GARBAGE")


@pytest.mark.parametrize("keep", [0.5, 0.0], ids=["half", "empty"])
def test_truncated_mat(src: Path, tmp_path: Path, keep: float) -> None:
    write_header(src, tmp_path / "TRUNC")
    data = src.with_suffix(".mat").read_bytes()
    (tmp_path / "TRUNC.mat").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptRecordError, match=r"TRUNC\.mat: unreadable \.mat file"):
        ecgxai.read_record(tmp_path / "TRUNC")


def test_truncated_wfdb_dat(tmp_path: Path, src: Path) -> None:
    rec = ecgxai.read_record(src)
    wfdb.wrsamp("DAT", fs=500, units=["mV"] * 12, sig_name=list(rec.lead_names),
                d_signal=rec.digital.astype(np.int64), fmt=["16"] * 12,
                adc_gain=[float(g) for g in rec.gain], baseline=[int(b) for b in rec.baseline],
                write_dir=str(tmp_path))
    assert ecgxai.read_record(tmp_path / "DAT").n_samples == 5000  # intact copy reads
    dat = tmp_path / "DAT.dat"
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 2])
    with pytest.raises(CorruptRecordError, match=r"DAT\.dat: unreadable or truncated signal file"):
        ecgxai.read_record(tmp_path / "DAT")


@pytest.mark.parametrize("declared", ["4000", "6000"])
def test_header_sample_count_differs_from_mat(src: Path, tmp_path: Path, declared: str) -> None:
    copy_record(src, tmp_path / "WRONGN")
    write_header(src, tmp_path / "WRONGN", n_samples=declared)
    pattern = rf"WRONGN\.mat: 'val' has shape \(12, 5000\), header declares \(12, {declared}\)"
    with pytest.raises(CorruptRecordError, match=pattern):
        ecgxai.read_record(tmp_path / "WRONGN")


# --- bad headers ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "this is not a WFDB header\n",
    "\x00\x01\x02\x03 binary junk\n",
    "",
], ids=["words", "binary", "empty"])
def test_header_garbage(src: Path, tmp_path: Path, text: str) -> None:
    shutil.copyfile(src.with_suffix(".mat"), tmp_path / "BADHEA.mat")
    (tmp_path / "BADHEA.hea").write_text(text)
    with pytest.raises(HeaderError, match=r"BADHEA\.hea: cannot parse header"):
        ecgxai.read_record(tmp_path / "BADHEA")


@pytest.mark.parametrize("fs", ["0", "-500", "-0.5"])
def test_header_with_impossible_sampling_frequency(src: Path, tmp_path: Path, fs: str) -> None:
    copy_record(src, tmp_path / "BADFS")
    write_header(src, tmp_path / "BADFS", fs=fs)
    with pytest.raises(HeaderError, match=r"BADFS\.hea: invalid sampling frequency"):
        ecgxai.read_record(tmp_path / "BADFS")


def test_valid_copy_reads(src: Path, tmp_path: Path, val: np.ndarray) -> None:
    """Control for the corruptions above: the unaltered copy reads."""
    rec = ecgxai.read_record(copy_record(src, tmp_path / "GOOD"))
    np.testing.assert_array_equal(rec.to_units("adc"), val.T)


# --- invalid samples -----------------------------------------------------------------------


@pytest.mark.parametrize(("bad", "count"), [
    ({(3, 100): np.nan}, 1),
    ({(0, 0): np.inf, (11, 4999): -np.inf}, 2),
    ({(5, 7): np.nan, (6, 8): np.inf, (7, 9): np.nan}, 3),
], ids=["nan", "inf", "mixed"])
def test_non_finite_samples(src: Path, tmp_path: Path, val: np.ndarray, bad: dict, count: int) -> None:
    write_header(src, tmp_path / "NONFINITE")
    data = val.astype(np.float64)
    for index, value in bad.items():
        data[index] = value
    scipy.io.savemat(str(tmp_path / "NONFINITE.mat"), {"val": data}, format="4")
    with pytest.raises(InvalidSignalError, match=rf"NONFINITE\.mat: signal holds {count} NaN or infinite"):
        ecgxai.read_record(tmp_path / "NONFINITE")


def test_non_finite_samples_without_header(tmp_path: Path, val: np.ndarray) -> None:
    data = val.astype(np.float64)
    data[2, 2] = np.nan
    scipy.io.savemat(str(tmp_path / "NOHEANAN.mat"), {"val": data}, format="4")
    with pytest.raises(InvalidSignalError, match=r"NOHEANAN\.mat: signal holds 1 NaN"):
        ecgxai.read_record(tmp_path / "NOHEANAN", fs=500)


def test_zero_length_signal(src: Path, tmp_path: Path) -> None:
    write_header(src, tmp_path / "EMPTY", n_samples="0")
    scipy.io.savemat(str(tmp_path / "EMPTY.mat"), {"val": np.zeros((12, 0), np.int16)}, format="4")
    with pytest.raises(InvalidSignalError, match=r"EMPTY\.mat: signal has zero samples"):
        ecgxai.read_record(tmp_path / "EMPTY")


def test_zero_length_signal_without_header(tmp_path: Path) -> None:
    scipy.io.savemat(str(tmp_path / "EMPTY.mat"), {"val": np.zeros((12, 0), np.int16)}, format="4")
    with pytest.raises(InvalidSignalError, match=r"EMPTY\.mat: signal has zero samples"):
        ecgxai.read_record(tmp_path / "EMPTY.mat", fs=500)


# --- leads ---------------------------------------------------------------------------------


def _with_leads(rec: Record, columns: list[int], names: tuple[str, ...]) -> Record:
    return Record(name=rec.name + "_x", signal=rec.signal[:, columns], fs=rec.fs, lead_names=names,
                  gain=rec.gain[columns], baseline=rec.baseline[columns],
                  digital=rec.digital[:, columns], path=rec.path)


def test_record_with_eleven_leads(src: Path) -> None:
    rec = ecgxai.read_record(src)
    eleven = _with_leads(rec, list(range(11)), STANDARD_LEADS[:11])
    with pytest.raises(LeadMismatchError, match=r"A0003: .*\(missing \['V6'\]\)") as info:
        ecgxai.to_model_input(eleven, maxlen=5000, lead_names=STANDARD_LEADS)
    assert info.value.path == str(src)
    # the same record is fine for a model that does not name its leads
    assert ecgxai.to_model_input(eleven, maxlen=5000).shape == (5000, 11)


def test_record_with_renamed_leads(src: Path) -> None:
    rec = ecgxai.read_record(src)
    names = (*STANDARD_LEADS[:6], "C1", "C2", "C3", "C4", "C5", "C6")
    renamed = _with_leads(rec, list(range(12)), names)
    with pytest.raises(LeadMismatchError) as info:
        ecgxai.to_model_input(renamed, maxlen=5000, lead_names=STANDARD_LEADS)
    message = str(info.value)
    assert "A0003" in message
    assert "missing ['V1', 'V2', 'V3', 'V4', 'V5', 'V6']" in message
    assert "C1" in message  # the record's own leads are listed


def test_record_without_path_is_named_in_lead_error() -> None:
    rec = Record(name="in-memory", signal=np.zeros((10, 2), np.float32), fs=500.0,
                 lead_names=("I", "II"), gain=np.ones(2), baseline=np.zeros(2, np.int64))
    with pytest.raises(LeadMismatchError, match=r"^in-memory: .*missing \['III'"):
        ecgxai.to_model_input(rec, maxlen=10, lead_names=STANDARD_LEADS)


def test_bad_units_are_refused(src: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"units must be one of \('adc', 'mV'\), got 'uV'"):
        ecgxai.preprocess_for_model(src, maxlen=5000, units="uV")


# --- classes -------------------------------------------------------------------------------


def test_unknown_target_code() -> None:
    with pytest.raises(UnknownClassError, match=r"target 999999: none of its codes \['999999'\]"):
        ecgxai.validate_target_meta({"999999": {"name": "made up", "aliases": ["999999"]}},
                                    ecgxai.SCORED_CODES)


def test_unknown_label_code() -> None:
    with pytest.raises(UnknownClassError, match=r"labels\[0\]: unknown class code\(s\) \['123'\]"):
        ecgxai.build_y_true_from_labels(["123"], ecgxai.SCORED_CODES, unknown="error")
    # the default ignores it instead
    assert not ecgxai.build_y_true_from_labels(["123"], ecgxai.SCORED_CODES).any()


def test_unknown_class_error_message_is_not_quoted() -> None:
    try:
        ecgxai.build_y_true_from_labels(["123"], ecgxai.SCORED_CODES, unknown="error")
    except UnknownClassError as exc:
        assert str(exc).startswith("labels[0]")
        assert isinstance(exc, KeyError)
    else:
        pytest.fail("no UnknownClassError")


# --- models --------------------------------------------------------------------------------


def test_model_output_width_differs_from_class_list() -> None:
    with pytest.raises(ModelOutputError, match=r"model output has shape \(1, 5\), expected \(1, 27\) "
                                               r"for 27 class names"):
        ecgxai.load_model(lambda x: np.full((len(x), 5), 0.5, np.float32),
                          class_names=list(ecgxai.SCORED_CODES), input_length=5000)


@pytest.mark.parametrize("value", [3.0, -0.5])
def test_model_output_outside_unit_interval(value: float) -> None:
    def logits(x: np.ndarray) -> np.ndarray:
        return np.full((len(x), N_CLASSES), value, np.float32)

    with pytest.raises(ModelOutputError, match=r"logits: outputs outside \[0, 1\].*output_activation="):
        ecgxai.load_model(logits, class_names=ecgxai.SCORED_CODES, input_length=5000)
    # the suggested fix works
    model = ecgxai.load_model(logits, class_names=ecgxai.SCORED_CODES, input_length=5000,
                              output_activation="sigmoid")
    np.testing.assert_allclose(model.predict(np.zeros((1, 5000, 12))), 1 / (1 + np.exp(-value)), rtol=1e-6)


def test_model_output_with_nan() -> None:
    with pytest.raises(ModelOutputError, match=r"nan_model: model output holds NaN"):
        ecgxai.load_model(_nan_model, class_names=ecgxai.SCORED_CODES, input_length=5000)


def _nan_model(x: np.ndarray) -> np.ndarray:
    return np.full((len(x), N_CLASSES), np.nan, np.float32)


_nan_model.__name__ = "nan_model"


@pytest.mark.parametrize("shape", [(2, 4000, 12), (2, 5000, 11), (5000,), (1, 2, 5000, 12), (0, 5000, 12)])
def test_predict_with_wrong_input_shape(classifier, shape: tuple[int, ...]) -> None:
    expected = r"input batch is empty" if shape[0] == 0 else re.escape(f"input has shape {shape}")
    with pytest.raises(InputShapeError, match=rf"probability_model: {expected}"):
        classifier.predict(np.zeros(shape, np.float32))


def test_predict_with_wrong_shape_names_expected_shape(classifier) -> None:
    with pytest.raises(InputShapeError, match=r"model expects \(N, 5000, 12\)"):
        classifier.predict(np.zeros((3, 12, 5000), np.float32))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_predict_with_non_finite_input(classifier, value: float) -> None:
    x = np.zeros((2, 5000, 12), np.float32)
    x[1, 100, 3] = value
    with pytest.raises(InputShapeError, match=r"input holds NaN or infinite values"):
        classifier.predict(x)
    x[1, 100, 3] = 0.0
    assert classifier.predict(x).shape == (2, N_CLASSES)


def test_callable_model_does_not_import_tensorflow() -> None:
    code = (
        "import sys, numpy as np, ecgxai\n"
        "m = ecgxai.load_model(lambda x: np.full((len(x), 27), 0.5, np.float32),\n"
        "                      class_names=ecgxai.SCORED_CODES, input_length=5000)\n"
        "print(m.predict(np.zeros((1, 5000, 12)))[0, 0], 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0.5", "False"]


# --- batched prediction with a bad record in the batch ------------------------------------


@pytest.fixture
def bad_record(src: Path, tmp_path: Path) -> Path:
    write_header(src, tmp_path / "BROKEN")
    (tmp_path / "BROKEN.mat").write_bytes(b"not a mat file" * 100)
    return tmp_path / "BROKEN"


def test_batched_predict_all_gives_nan_for_the_bad_row(classifier, reference_dir: Path, bad_record: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    good1 = reference_dir / "records" / "A0003"
    good2 = reference_dir / "records" / "HR00013"
    with caplog.at_level(logging.WARNING, logger="ecgxai"):
        probs = ecgxai.batched_predict_all(classifier, [good1, bad_record, good2], batch_size=2,
                                           progress=False)
    assert probs.shape == (3, N_CLASSES) and probs.dtype == np.float32
    assert np.isnan(probs[1]).all()
    assert np.isfinite(probs[[0, 2]]).all()
    expected = classifier.predict(np.stack([ecgxai.preprocess_for_model(good1, maxlen=5000),
                                            ecgxai.preprocess_for_model(good2, maxlen=5000)]))
    np.testing.assert_allclose(probs[[0, 2]], expected, rtol=1e-6)
    assert not np.allclose(probs[0], probs[2])  # the rows really are the two records
    assert any("BROKEN.mat" in r.getMessage() for r in caplog.records)


def test_batched_predict_all_raises_the_record_error(classifier, reference_dir: Path,
                                                     bad_record: Path) -> None:
    good = reference_dir / "records" / "A0003"
    with pytest.raises(CorruptRecordError, match=r"BROKEN\.mat: unreadable \.mat file"):
        ecgxai.batched_predict_all(classifier, [good, bad_record, good], on_error="raise", progress=False)


def test_batched_predict_all_reports_lead_mismatch(classifier, src: Path) -> None:
    rec = ecgxai.read_record(src)
    eleven = _with_leads(rec, list(range(11)), STANDARD_LEADS[:11])
    probs = ecgxai.batched_predict_all(classifier, [rec, eleven], progress=False)
    assert np.isfinite(probs[0]).all() and np.isnan(probs[1]).all()
    with pytest.raises(LeadMismatchError, match=r"missing \['V6'\]"):
        ecgxai.batched_predict_all(classifier, [rec, eleven], progress=False, on_error="raise")


def test_batched_predict_all_rejects_unknown_on_error(classifier, src: Path) -> None:
    with pytest.raises(ValueError, match="on_error must be 'nan' or 'raise'"):
        ecgxai.batched_predict_all(classifier, [src], on_error="skip")


def test_dat_without_header_names_the_missing_header(tmp_path):
    (tmp_path / "R1.dat").write_bytes(b"\x00" * 48)
    with pytest.raises(MissingHeaderError, match=r"R1\.hea.*WFDB \.dat"):
        ecgxai.read_record(tmp_path / "R1.dat")
