"""Reading, converting and indexing real PhysioNet/CinC 2020 records (reference data in ../shared)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

import ecgxai
from ecgxai import config
from ecgxai.classes import AFIB, NSR
from ecgxai.config import STANDARD_LEADS
from ecgxai.errors import ConfigurationError, RecordNotFoundError, UnknownClassError
from ecgxai.io.records import Record

# --- independent reading of the reference files ------------------------------------------------


def parse_header(path: Path) -> dict:
    """Parse a Challenge ``.hea`` by hand (no wfdb): first line, one line per lead, comments."""
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    first = lines[0].split()
    n_sig, fs, n_samples = int(first[1]), float(first[2]), int(first[3])
    leads = [ln.split() for ln in lines[1 : 1 + n_sig]]
    gains, baselines, names = [], [], []
    for fields in leads:
        gain_text = fields[2].split("/")[0]  # "1000/mV" or "1000(0)/mV"
        if "(" in gain_text:
            gain_text, base_text = gain_text.rstrip(")").split("(")
            baseline = int(base_text)
        else:
            baseline = int(fields[4])  # WFDB: baseline defaults to the ADC zero
        gains.append(float(gain_text))
        baselines.append(baseline)
        names.append(fields[8])
    comments = {}
    for ln in lines:
        if ln.startswith("#"):
            key, _, value = ln[1:].partition(":")
            comments[key.strip().lower()] = value.strip()
    return {
        "name": first[0],
        "n_sig": n_sig,
        "fs": fs,
        "n_samples": n_samples,
        "file": leads[0][0],
        "gain": np.array(gains),
        "baseline": np.array(baselines),
        "lead_names": tuple(names),
        "comments": comments,
    }


def load_val(mat: Path) -> np.ndarray:
    return scipy.io.loadmat(str(mat))["val"]


def expected_mv(val: np.ndarray, header: dict) -> np.ndarray:
    return ((val.T.astype(np.float64) - header["baseline"]) / header["gain"]).astype(np.float32)


@pytest.fixture(scope="module")
def records_dir(reference_dir: Path) -> Path:
    return reference_dir / "records"


@pytest.fixture(scope="module")
def headers(reference_records: list[Path]) -> dict[str, dict]:
    return {p.stem: parse_header(p.with_suffix(".hea")) for p in reference_records}


@pytest.fixture(scope="module")
def long_record(records_dir: Path, headers: dict[str, dict]) -> Path:
    """The reference record with 10000 samples (found from the headers, not hard-coded)."""
    names = [n for n, h in headers.items() if h["n_samples"] == 10000]
    assert names, "the reference set should hold a 10000-sample record"
    return records_dir / names[0]


def five_thousand(records_dir: Path, headers: dict[str, dict], prefix: str) -> Path:
    name = next(n for n, h in sorted(headers.items()) if h["n_samples"] == 5000 and n.startswith(prefix))
    return records_dir / name


# --- read_record ------------------------------------------------------------------------------


def test_reference_set_is_complete(reference_records: list[Path], headers: dict[str, dict]) -> None:
    assert len(reference_records) == 70
    assert {h["fs"] for h in headers.values()} == {500.0}


@pytest.mark.parametrize("name", ["A0003", "HR00013"])
def test_read_record_matches_independent_reading(records_dir: Path, name: str) -> None:
    base = records_dir / name
    header = parse_header(base.with_suffix(".hea"))
    val = load_val(base.with_suffix(".mat"))
    rec = ecgxai.read_record(base)

    assert rec.name == name
    assert rec.path == base
    assert rec.signal.dtype == np.float32
    assert rec.signal.shape == (header["n_samples"], 12) == val.T.shape
    np.testing.assert_allclose(rec.signal, expected_mv(val, header), rtol=1e-6, atol=1e-7)
    assert rec.fs == 500.0 == header["fs"]
    assert rec.lead_names == header["lead_names"] == STANDARD_LEADS
    np.testing.assert_array_equal(rec.gain, header["gain"])
    np.testing.assert_array_equal(rec.baseline, header["baseline"])
    assert rec.age == float(header["comments"]["age"])
    assert rec.sex == header["comments"]["sex"]
    assert rec.dx == tuple(header["comments"]["dx"].split(","))
    assert rec.n_samples == header["n_samples"] and rec.n_leads == 12
    assert rec.duration_sec == header["n_samples"] / 500

    adc = rec.to_units("adc")
    assert adc.dtype == np.float32
    np.testing.assert_array_equal(adc, val.T)
    assert rec.to_units("mV") is rec.signal


def test_gains_differ_between_sources(records_dir: Path) -> None:
    a = ecgxai.read_record(records_dir / "A0003")
    hr = ecgxai.read_record(records_dir / "HR00013")
    assert set(a.gain) == {1000.0}
    assert set(hr.gain) == {200.0}
    # mV = adc / 200 for HR*: the physical signal is 5x the digital one scaled by 1/1000
    np.testing.assert_allclose(hr.signal * 200.0, hr.to_units("adc") - hr.baseline, atol=1e-3)


@pytest.mark.parametrize("suffix", ["", ".mat", ".hea"])
def test_read_record_accepts_any_suffix(records_dir: Path, suffix: str) -> None:
    ref = ecgxai.read_record(records_dir / "A0003")
    rec = ecgxai.read_record(str(records_dir / "A0003") + suffix)
    np.testing.assert_array_equal(rec.signal, ref.signal)
    np.testing.assert_array_equal(rec.digital, ref.digital)
    assert (rec.name, rec.path, rec.fs, rec.lead_names, rec.age, rec.sex, rec.dx, rec.comments) == (
        ref.name, ref.path, ref.fs, ref.lead_names, ref.age, ref.sex, ref.dx, ref.comments)
    np.testing.assert_array_equal(rec.gain, ref.gain)
    np.testing.assert_array_equal(rec.baseline, ref.baseline)


def test_nonzero_baseline_is_subtracted(records_dir: Path, tmp_path: Path) -> None:
    """Reference baselines are all 0; a header copy declaring ``1000(b)/mV`` checks the subtraction."""
    src = records_dir / "A0003"
    lines = src.with_suffix(".hea").read_text().splitlines()
    baselines = [25 * (i - 6) for i in range(12)]
    out = [lines[0].replace("A0003", "BASE", 1)]
    for line, b in zip(lines[1:13], baselines, strict=True):
        fields = line.split()
        fields[0], fields[2] = "BASE.mat", fields[2].replace("/mV", f"({b})/mV")
        out.append(" ".join(fields))
    (tmp_path / "BASE.hea").write_text("\n".join(out + lines[13:]) + "\n")
    shutil.copyfile(src.with_suffix(".mat"), tmp_path / "BASE.mat")

    header = parse_header(tmp_path / "BASE.hea")
    assert list(header["baseline"]) == baselines
    val = load_val(tmp_path / "BASE.mat")
    rec = ecgxai.read_record(tmp_path / "BASE")
    np.testing.assert_array_equal(rec.baseline, baselines)
    np.testing.assert_allclose(rec.signal, expected_mv(val, header), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(rec.to_units("adc"), val.T)
    x = ecgxai.preprocess_for_model(tmp_path / "BASE", maxlen=5000, units="mV")
    np.testing.assert_allclose(x, (val.T - np.array(baselines)) / 1000.0, rtol=1e-5, atol=1e-6)


def test_every_reference_record_reads(reference_records: list[Path], headers: dict[str, dict]) -> None:
    for mat in reference_records:
        rec = ecgxai.read_record(mat)
        header = headers[mat.stem]
        assert rec.signal.shape == (header["n_samples"], 12), mat.name
        assert rec.dx == tuple(header["comments"]["dx"].split(",")), mat.name
        np.testing.assert_array_equal(rec.gain, header["gain"], err_msg=mat.name)


# --- WFDB .dat records -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["A0003", "HR00013"])
def test_wfdb_dat_record_round_trip(records_dir: Path, tmp_path: Path, name: str) -> None:
    src = ecgxai.read_record(records_dir / name)
    wfdb.wrsamp(
        "W" + name,
        fs=500,
        units=["mV"] * 12,
        sig_name=list(src.lead_names),
        d_signal=src.digital.astype(np.int64),
        fmt=["16"] * 12,
        adc_gain=[float(g) for g in src.gain],
        baseline=[int(b) for b in src.baseline],
        comments=[f"Age: {src.age:g}", f"Sex: {src.sex}", f"Dx: {','.join(src.dx)}"],
        write_dir=str(tmp_path),
    )
    assert (tmp_path / f"W{name}.dat").is_file()
    rec = ecgxai.read_record(tmp_path / f"W{name}")
    np.testing.assert_array_equal(rec.to_units("adc"), src.to_units("adc"))
    np.testing.assert_allclose(rec.signal, src.signal, rtol=1e-6, atol=1e-7)
    assert rec.signal.dtype == np.float32
    assert rec.fs == 500.0
    assert rec.lead_names == src.lead_names
    np.testing.assert_array_equal(rec.gain, src.gain)
    np.testing.assert_array_equal(rec.baseline, src.baseline)
    assert (rec.age, rec.sex, rec.dx) == (src.age, src.sex, src.dx)
    assert rec.path == tmp_path / f"W{name}"


def test_wfdb_dat_record_with_nonzero_baseline(records_dir: Path, tmp_path: Path) -> None:
    src = ecgxai.read_record(records_dir / "A0003")
    baselines = [-60 + 10 * i for i in range(12)]
    wfdb.wrsamp("WB", fs=500, units=["mV"] * 12, sig_name=list(src.lead_names),
                d_signal=src.digital.astype(np.int64), fmt=["16"] * 12,
                adc_gain=[float(g) for g in src.gain], baseline=baselines,
                comments=["Age: 81", "Sex: Female", "Dx: 164889003"], write_dir=str(tmp_path))
    rec = ecgxai.read_record(tmp_path / "WB.hea")
    reference = wfdb.rdrecord(str(tmp_path / "WB"))  # wfdb's own physical conversion
    np.testing.assert_array_equal(rec.baseline, baselines)
    np.testing.assert_allclose(rec.signal, reference.p_signal, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(rec.to_units("adc"), src.to_units("adc"))
    assert (rec.age, rec.sex, rec.dx) == (81.0, "Female", ("164889003",))


# --- JSON round trip --------------------------------------------------------------------------


def test_record_json_round_trip_keeps_digital_values(records_dir: Path) -> None:
    rec = ecgxai.read_record(records_dir / "HR00013")
    back = Record.from_json(rec.to_json())
    np.testing.assert_array_equal(back.signal, rec.signal)
    assert back.signal.dtype == np.float32
    np.testing.assert_array_equal(back.digital, rec.digital)
    np.testing.assert_array_equal(back.to_units("adc"), rec.to_units("adc"))
    np.testing.assert_array_equal(back.gain, rec.gain)
    np.testing.assert_array_equal(back.baseline, rec.baseline)
    for attr in ("name", "fs", "lead_names", "age", "sex", "dx", "path", "comments"):
        assert getattr(back, attr) == getattr(rec, attr), attr


def test_record_json_round_trip_keeps_float_digital_values(records_dir: Path, tmp_path: Path) -> None:
    """A float ``val`` (accepted by read_record) must not be truncated to integers by JSON."""
    src = records_dir / "A0003"
    val = load_val(src.with_suffix(".mat")).astype(np.float64) + 0.25
    scipy.io.savemat(str(tmp_path / "FLOAT.mat"), {"val": val}, format="4")
    (tmp_path / "FLOAT.hea").write_text(src.with_suffix(".hea").read_text().replace("A0003", "FLOAT"))
    rec = ecgxai.read_record(tmp_path / "FLOAT")
    np.testing.assert_array_equal(rec.digital, val.T)
    back = Record.from_json(rec.to_json())
    np.testing.assert_array_equal(back.digital, val.T)
    np.testing.assert_array_equal(back.signal, rec.signal)


def test_record_json_round_trip_without_digital() -> None:
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(300, 3)).astype(np.float32)
    rec = Record(name="synthetic", signal=signal, fs=250.0, lead_names=("I", "II", "V1"),
                 gain=np.array([100.0, 200.0, 400.0]), baseline=np.array([0, 5, -3]),
                 age=None, sex=None, dx=("426783006",))
    back = Record.from_json(rec.to_json())
    assert back.digital is None
    np.testing.assert_array_equal(back.signal, signal)
    assert (back.name, back.fs, back.lead_names, back.dx, back.age, back.path) == (
        "synthetic", 250.0, ("I", "II", "V1"), ("426783006",), None, None)
    # without digital values adc units are derived from gain and baseline
    np.testing.assert_allclose(back.to_units("adc"), signal * rec.gain + rec.baseline, rtol=1e-6)


# --- model input ------------------------------------------------------------------------------


@pytest.mark.parametrize("func", [ecgxai.preprocess_for_model, ecgxai.load_mat_TF])
def test_short_record_is_zero_padded_at_the_end(records_dir: Path, headers: dict[str, dict], func) -> None:
    base = five_thousand(records_dir, headers, "A")
    val = load_val(base.with_suffix(".mat"))
    x = func(base, maxlen=6000)
    assert x.shape == (6000, 12) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:5000], val.T)
    assert not np.any(x[5000:])
    assert np.any(x[4990:5000])  # the real signal reaches the end of the copied part


@pytest.mark.parametrize("func", [ecgxai.preprocess_for_model, ecgxai.load_mat_TF])
def test_long_record_is_truncated_at_the_end(long_record: Path, func) -> None:
    val = load_val(long_record.with_suffix(".mat"))
    assert val.shape == (12, 10000)
    x = func(long_record, maxlen=5000)
    assert x.shape == (5000, 12) and x.dtype == np.float32
    np.testing.assert_array_equal(x, val.T[:5000])
    assert not np.array_equal(x, val.T[-5000:])


def test_units_mv_versus_adc(records_dir: Path) -> None:
    base = records_dir / "HR00013"
    header = parse_header(base.with_suffix(".hea"))
    val = load_val(base.with_suffix(".mat"))
    adc = ecgxai.preprocess_for_model(base, maxlen=5000, units="adc")
    mv = ecgxai.preprocess_for_model(base, maxlen=5000, units="mV")
    default = ecgxai.preprocess_for_model(base, maxlen=5000)
    np.testing.assert_array_equal(adc, val.T)
    np.testing.assert_array_equal(default, adc)  # the original toolkit fed raw ADC values
    np.testing.assert_allclose(mv, expected_mv(val, header), rtol=1e-6, atol=1e-7)
    assert mv.dtype == np.float32
    assert not np.allclose(mv, adc)


def test_preprocess_accepts_a_record_object(records_dir: Path) -> None:
    rec = ecgxai.read_record(records_dir / "A0003")
    np.testing.assert_array_equal(ecgxai.preprocess_for_model(rec, maxlen=5000),
                                  ecgxai.preprocess_for_model(records_dir / "A0003", maxlen=5000))


def test_default_maxlen_comes_from_config(records_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = records_dir / "A0003"
    assert ecgxai.preprocess_for_model(base).shape == (config.MAXLEN, 12)
    monkeypatch.setattr(config, "MAXLEN", 6000)
    assert ecgxai.preprocess_for_model(base).shape == (6000, 12)
    assert ecgxai.load_mat_TF(base).shape == (6000, 12)
    monkeypatch.setattr(config, "MAXLEN", 1234)
    x = ecgxai.load_mat_TF(base)
    assert x.shape == (1234, 12)
    np.testing.assert_array_equal(x, load_val(base.with_suffix(".mat")).T[:1234])


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_maxlen_environment_variable_is_honoured(records_dir: Path) -> None:
    code = (
        "import sys, ecgxai\n"
        "print(ecgxai.config.MAXLEN, ecgxai.MAXLEN)\n"
        "print(ecgxai.preprocess_for_model(sys.argv[1]).shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(records_dir / "A0003")],
                         env={**os.environ, "ECGXAI_MAXLEN": "7000"}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["7000 7000", "(7000, 12)"]


@pytest.mark.parametrize("junk", ["junk", "12.5", "0", "-5"])
def test_junk_maxlen_environment_variable_is_refused(junk: str) -> None:
    code = (
        "import sys\n"
        "try:\n"
        "    import ecgxai\n"
        "except Exception as exc:\n"
        "    errors = sys.modules['ecgxai.errors']\n"
        "    print(type(exc).__name__, isinstance(exc, errors.ConfigurationError))\n"
        "    print(exc)\n"
        "else:\n"
        "    print('imported')\n"
    )
    out = _run_python(code, ECGXAI_MAXLEN=junk)
    assert out.returncode == 0, out.stderr
    first, message = out.stdout.splitlines()[:2]
    assert first == "ConfigurationError True"
    assert "ECGXAI_MAXLEN" in message
    assert junk in message


def test_configuration_error_is_a_value_error() -> None:
    assert issubclass(ConfigurationError, ValueError)
    with pytest.raises(ConfigurationError, match="maxlen must be >= 1"):
        config.resolve_maxlen(0)


# --- lead order -------------------------------------------------------------------------------


def _permuted(rec: Record, order: list[int], rename: dict[str, str] | None = None) -> Record:
    rename = rename or {}
    return Record(
        name=rec.name + "_permuted",
        signal=rec.signal[:, order],
        fs=rec.fs,
        lead_names=tuple(rename.get(rec.lead_names[i], rec.lead_names[i]) for i in order),
        gain=rec.gain[order],
        baseline=rec.baseline[order],
        digital=rec.digital[:, order],
    )


@pytest.mark.parametrize("units", ["adc", "mV"])
def test_leads_are_reordered_to_the_model_order(records_dir: Path, units: str) -> None:
    rec = ecgxai.read_record(records_dir / "A0003")
    order = [11, 3, 0, 7, 1, 10, 2, 9, 4, 8, 5, 6]
    permuted = _permuted(rec, order)
    expected = ecgxai.to_model_input(rec, maxlen=5000, units=units)
    assert not np.array_equal(ecgxai.to_model_input(permuted, maxlen=5000, units=units), expected)
    got = ecgxai.to_model_input(permuted, maxlen=5000, units=units, lead_names=STANDARD_LEADS)
    np.testing.assert_array_equal(got, expected)


def test_lead_names_match_case_insensitively(records_dir: Path) -> None:
    rec = ecgxai.read_record(records_dir / "A0003")
    order = list(reversed(range(12)))
    permuted = _permuted(rec, order, rename={"aVR": "AVR", "aVL": "avl", "aVF": "AVF", "V1": "v1"})
    assert "AVR" in permuted.lead_names and "aVR" not in permuted.lead_names
    got = ecgxai.to_model_input(permuted, maxlen=5000, lead_names=STANDARD_LEADS)
    np.testing.assert_array_equal(got, ecgxai.to_model_input(rec, maxlen=5000))


def test_model_with_fewer_leads_takes_them_in_its_order(records_dir: Path) -> None:
    rec = ecgxai.read_record(records_dir / "A0003")
    x = ecgxai.to_model_input(rec, maxlen=5000, lead_names=["V1", "II"])
    assert x.shape == (5000, 2)
    np.testing.assert_array_equal(x, rec.to_units("adc")[:, [6, 1]])


# --- collections ------------------------------------------------------------------------------


def test_find_records(records_dir: Path, reference_records: list[Path]) -> None:
    found = ecgxai.find_records(records_dir)
    assert found == [p.with_suffix("") for p in reference_records]
    one = records_dir / "A0003"
    assert ecgxai.find_records(one.with_suffix(".mat"), one.with_suffix(".hea"), one) == [one]
    assert ecgxai.find_records(one, records_dir)[0] == one
    assert len(ecgxai.find_records(one, records_dir)) == 70
    with pytest.raises(RecordNotFoundError, match="no such record"):
        ecgxai.find_records(records_dir / "NOPE0000")


def test_index_records(records_dir: Path, headers: dict[str, dict]) -> None:
    index = ecgxai.index_records(records_dir)
    assert len(index) == 70
    assert list(index["record"]) == sorted(headers)
    assert index["error"].isna().all()
    for row in index.itertuples():
        header = headers[row.record]
        assert row.fs == 500.0
        assert row.n_samples == header["n_samples"]
        assert row.duration_sec == pytest.approx(header["n_samples"] / 500)
        assert row.n_leads == 12
        assert row.dx == header["comments"]["dx"]
        assert row.sex == header["comments"]["sex"]
        assert row.age == float(header["comments"]["age"])
        assert row.path == str(records_dir / row.record)
    assert index["duration_sec"].min() == 10.0 and index["duration_sec"].max() == 20.0


def test_index_records_keeps_a_broken_header_row(records_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "BROKEN.hea").write_text("this is not a WFDB header\n")
    index = ecgxai.index_records(records_dir, tmp_path)
    assert len(index) == 71
    broken = index[index["record"] == "BROKEN"]
    assert len(broken) == 1
    error = broken["error"].iloc[0]
    assert "HeaderError" in error and "BROKEN.hea" in error
    assert np.isnan(broken["fs"].iloc[0])
    assert index[index["record"] != "BROKEN"]["error"].isna().all()


def test_import_key_data(records_dir: Path, headers: dict[str, dict]) -> None:
    gender, age, labels, filenames = ecgxai.import_key_data(records_dir)
    assert len(gender) == len(age) == len(labels) == len(filenames) == 70
    names = sorted(headers)
    assert [Path(f).name for f in filenames] == [n + ".mat" for n in names]
    assert all(Path(f).is_file() for f in filenames)
    assert labels == [headers[n]["comments"]["dx"] for n in names]
    assert gender == [headers[n]["comments"]["sex"] for n in names]
    assert set(gender) == {"Male", "Female"}
    assert age == [float(headers[n]["comments"]["age"]) for n in names]


def test_build_y_true_from_labels(reference_dir: Path, records_dir: Path) -> None:
    classes = ecgxai.load_class_names(reference_dir / "snomed_classes.txt")
    _, _, labels, _ = ecgxai.import_key_data(records_dir)
    y = ecgxai.build_y_true_from_labels(labels, classes)
    assert y.shape == (70, 27) and y.dtype == np.float32
    assert set(np.unique(y)) <= {0.0, 1.0}
    for row, label in zip(y, labels, strict=True):
        scored = [c for c in label.split(",") if c in classes]
        assert sorted(np.flatnonzero(row)) == sorted(classes.index(c) for c in scored)
    assert y[:, classes.index(AFIB)].sum() >= 30
    assert y[:, classes.index(NSR)].sum() >= 30


def test_build_y_true_ignores_unscored_codes_in_class_order() -> None:
    classes = list(ecgxai.SCORED_CODES)
    y = ecgxai.build_y_true_from_labels(
        ["39732003,426783006,55930002", ["164889003", "59118001"], "", "55930002"], classes)
    expected = np.zeros((4, 27), np.float32)
    expected[0, [classes.index("39732003"), classes.index("426783006")]] = 1
    expected[1, [classes.index("164889003"), classes.index("59118001")]] = 1
    np.testing.assert_array_equal(y, expected)


def test_build_y_true_unknown_error_names_the_code() -> None:
    with pytest.raises(UnknownClassError, match=r"labels\[1\].*55930002"):
        ecgxai.build_y_true_from_labels(["426783006", "39732003,55930002"], ecgxai.SCORED_CODES,
                                        unknown="error")


# --- class lists ------------------------------------------------------------------------------


def test_class_lists_agree_across_file_formats(reference_dir: Path) -> None:
    from_npy = ecgxai.load_class_names(reference_dir / "snomed_classes.npy")
    from_txt = ecgxai.load_class_names(reference_dir / "snomed_classes.txt")
    from_csv = ecgxai.load_class_names(reference_dir / "dx_mapping_scored.csv")
    assert len(from_npy) == 27
    assert from_npy == from_txt == from_csv == ecgxai.SCORED_CODES
    assert all(isinstance(c, str) for c in from_npy)
    assert ecgxai.load_class_names(np.load(reference_dir / "snomed_classes.npy")) == from_npy


def test_target_meta_defaults() -> None:
    meta = ecgxai.TARGET_META
    assert set(meta) == {"164889003", "426783006"}
    assert meta["164889003"]["name"] == "atrial fibrillation"
    assert meta["426783006"]["name"] == "sinus rhythm"
    assert meta["164889003"]["aliases"][0] == "164889003"
    assert ecgxai.validate_target_meta(meta, ecgxai.SCORED_CODES) == meta


def test_validate_target_meta_normalises() -> None:
    out = ecgxai.validate_target_meta({713427006: {"aliases": [59118001, 713427006]}}, ecgxai.SCORED_CODES)
    assert out == {"713427006": {"name": "complete right bundle branch block",
                                 "aliases": ["713427006", "59118001"]}}


def test_validate_target_meta_accepts_an_alias_among_the_classes() -> None:
    out = ecgxai.validate_target_meta(ecgxai.make_target_meta(["713427006"]), ["59118001", "426783006"])
    assert out["713427006"]["aliases"] == ["713427006", "59118001"]


def test_validate_target_meta_rejects_aliases_outside_the_classes() -> None:
    meta = {"164889003": {"name": "AF", "aliases": ["164889003"]}}
    with pytest.raises(UnknownClassError, match=r"164889003.*among the model's classes"):
        ecgxai.validate_target_meta(meta, ["426783006", "270492004"])


@pytest.mark.parametrize("meta", [
    {"AF": {"name": "atrial fibrillation", "aliases": ["164889003"]}},
    {"164889003": {"name": "AF", "aliases": ["164889003", "AFIB"]}},
])
def test_validate_target_meta_rejects_non_digit_codes(meta: dict) -> None:
    with pytest.raises(UnknownClassError, match="SNOMED CT code"):
        ecgxai.validate_target_meta(meta, ecgxai.SCORED_CODES)
