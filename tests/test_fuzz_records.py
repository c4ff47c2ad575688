"""Fuzz the record reader and header parser with corrupted and random files (issue 7, item 5).

Every case either reads a sane :class:`~ecgxai.io.records.Record` (finite float32 signal whose shape
matches the header) or raises an :class:`~ecgxai.errors.ECGXAIError` naming the record; any other
exception (numpy, scipy, wfdb, struct, unicode, memory...) is a defect. tracemalloc makes a read that
allocates what a corrupt header or ``.mat`` declares (instead of what the file holds) fail the test.
There is no per-example time limit: tests assert behaviour, not speed (a 500 ms deadline failed on
a loaded CI machine).

The valid starting points are a short synthetic Challenge record (``.mat`` v4 + ``.hea``, also
re-saved as v5 and compressed v5) and two WFDB records (formats 16 and 212) written with
``wfdb.wrsamp``; the reference data is not needed. 630 generated cases in all, plus a few explicit
ones; ``pytest --hypothesis-show-statistics`` shows how often each error came out.
"""

from __future__ import annotations

import io
import struct
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
import wfdb
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ecgxai.errors import ECGXAIError
from ecgxai.io.records import Record, read_header, read_record
from ecgxai.synth import generate_ecg, write_synthetic

NAME = "fuzzrec"
#: Largest allocation one read may make: the valid records are ~24 kB, so this only trips on a
#: buffer sized from a corrupt declaration.
MAX_ALLOC_MB = 32


def fuzz(max_examples: int) -> settings:
    """Settings of one fuzz test: ``max_examples`` cases, no time limit, no example database (so the
    working tree is left alone)."""
    return settings(max_examples=max_examples, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Files(dict[str, bytes]):
    """``{suffix: bytes}`` of one record; a short repr keeps hypothesis' failure reports readable."""

    def __repr__(self) -> str:
        return "Files(" + ", ".join(f"{k}: {len(v)} bytes" for k, v in self.items()) + ")"


# --- valid starting points -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def challenge() -> Files:
    """``{suffix: bytes}`` of a valid 2 s, 12-lead synthetic Challenge record named ``NAME``."""
    ecg = generate_ecg("426783006", 0, duration=2.0)
    with tempfile.TemporaryDirectory() as tmp:
        base = write_synthetic(ecg, tmp, NAME)
        return Files({s: base.with_suffix(s).read_bytes() for s in (".hea", ".mat")})


@pytest.fixture(scope="module")
def mat_variants(challenge: Files) -> dict[str, bytes]:
    """The record's ``val`` as MATLAB v4 (the Challenge's own), v5 and zlib-compressed v5 files."""
    val = scipy.io.loadmat(io.BytesIO(challenge[".mat"]))["val"]
    out = {"v4": challenge[".mat"]}
    for name, compress in (("v5", False), ("v5z", True)):
        buffer = io.BytesIO()
        scipy.io.savemat(buffer, {"val": val}, format="5", do_compression=compress)
        out[name] = buffer.getvalue()
    return out


@pytest.fixture(scope="module")
def wfdb_records(challenge: Files) -> dict[str, Files]:
    """Valid 3-lead WFDB records in formats 16 and 212, keyed by format."""
    with tempfile.TemporaryDirectory() as tmp:
        base = _write(Path(tmp), challenge)
        digital = read_record(base).digital[:, :3].astype(np.int64)
        out = {}
        for fmt in ("16", "212"):
            wfdb.wrsamp(NAME, fs=500, units=["mV"] * 3, sig_name=["I", "II", "V1"], d_signal=digital,
                        fmt=[fmt] * 3, adc_gain=[1000.0] * 3, baseline=[0] * 3, write_dir=tmp)
            out[fmt] = Files({s: (Path(tmp) / NAME).with_suffix(s).read_bytes() for s in (".hea", ".dat")})
        return out


# --- the property --------------------------------------------------------------------------------


def _write(folder: Path, files: Files) -> Path:
    for suffix, data in files.items():
        (folder / NAME).with_suffix(suffix).write_bytes(data)
    return folder / NAME


def _clean(what: str, call: Callable[[], Any]) -> Any:
    """``call()``'s result, or None when it raised an ECGXAIError naming the record. Outcomes are
    tallied as hypothesis events (``pytest --hypothesis-show-statistics``)."""
    try:
        result = call()
    except ECGXAIError as exc:
        assert NAME in str(exc), f"error does not name the record: {exc}"
        event(f"{what}: {type(exc).__name__}")
        return None
    event(f"{what}: ok")
    return result


def _check_sane(record: Record, header: wfdb.Record | None) -> None:
    signal = record.signal
    assert isinstance(signal, np.ndarray) and signal.dtype == np.float32 and signal.ndim == 2
    assert signal.shape[0] > 0 and signal.shape[1] > 0
    assert np.all(np.isfinite(signal)), "non-finite samples in a Record that was accepted"
    assert len(record.lead_names) == signal.shape[1]
    assert np.isfinite(record.fs) and record.fs > 0
    if header is not None:
        assert signal.shape == (header.sig_len, header.n_sig)


def check_files(files: dict[str, bytes], **kwargs: Any) -> None:
    """Write ``files`` to a fresh folder and read them; only ecgxai errors or a sane Record allowed,
    and no allocation beyond ``MAX_ALLOC_MB`` (numpy and scipy buffers are traced by tracemalloc)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = _write(Path(tmp), files)
        tracemalloc.start()
        try:
            header = _clean("read_header", lambda: read_header(base)) if ".hea" in files else None
            record = _clean("read_record", lambda: read_record(base, **kwargs))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < MAX_ALLOC_MB * 2**20, f"reading {sorted(files)} allocated {peak / 2**20:.0f} MB"
        if record is not None:
            _check_sane(record, header)


# --- strategies ----------------------------------------------------------------------------------

ODD_NUMBERS = ["0", "-1", "-500", "1", "3", "13", "nan", "inf", "-inf", "1e400", "1e-400", "0.0",
               "1000000000000", "99999999999999999999999", "-99999999999999999999", "abc", "",
               "\u00bd", "\u0663", "5\u00a000", "0x10", "1_000", "+7", "500/0", "500/-1", "500/abc",
               "12-500", "1000.5"]
ODD_GAINS = ["0/mV", "-1000/mV", "nan/mV", "inf/mV", "1e-40/mV", "1e300/mV", "abc/mV", "1000/\u00b5V",
             "1000(99999999999999999999)/mV", "1000(-5)", "/mV", "1000/", "1e400", "0", "-0"]
ODD_FORMATS = ["16", "16+0", "16+24", "16+25", "16+-5", "16+99999999999", "212", "8", "80", "24", "32",
               "61", "160", "310", "311", "508", "999", "x", "16x2", "16:3", "16x0"]
ODD_LEADS = ["I", "I", "II", "V1", "XYZ", "\u00e9\u00e8", "\u2603", "lead with space", "", "#Dx"]
ODD_TOKENS = ODD_NUMBERS + ODD_GAINS + ODD_FORMATS + ODD_LEADS


def _record_line_mutation(lines: list[str], draw: st.DrawFn) -> None:
    fields = lines[0].split()
    index = draw(st.integers(0, len(fields)))
    token = draw(st.sampled_from(ODD_NUMBERS))
    if index == len(fields):
        fields.append(token)
    else:
        fields[index] = token
    lines[0] = " ".join(fields)


def _signal_line_mutation(lines: list[str], draw: st.DrawFn, n_sig: int) -> None:
    row = draw(st.integers(1, n_sig))
    fields = lines[row].split() or [""]
    index = draw(st.integers(0, len(fields) - 1))
    pool = {1: ODD_FORMATS, 2: ODD_GAINS, 8: ODD_LEADS}.get(index, ODD_TOKENS)
    fields[index] = draw(st.sampled_from(pool))
    if len(fields) > 1 and draw(st.booleans()):
        del fields[draw(st.integers(0, len(fields) - 1))]
    lines[row] = " ".join(fields)


def _structure_mutation(lines: list[str], draw: st.DrawFn) -> None:
    kind = draw(st.sampled_from(["drop", "duplicate", "swap", "insert", "truncate"]))
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(0, len(lines) - 1))
    if kind == "drop":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[j])
    elif kind == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "insert":
        lines.insert(i, draw(st.text(max_size=40)))
    else:
        lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]


@st.composite
def mutated_header(draw: st.DrawFn, header: bytes) -> bytes:
    """``header`` with a few fields replaced by odd values and lines dropped, duplicated or garbled."""
    lines = header.decode().splitlines()
    n_sig = int(lines[0].split()[1])
    for _ in range(draw(st.integers(1, 4))):
        if not lines or not lines[0].split():
            break
        kind = draw(st.sampled_from(["record", "signal", "signal", "structure"]))
        if kind == "record":
            _record_line_mutation(lines, draw)
        elif kind == "signal" and len(lines) > n_sig:
            _signal_line_mutation(lines, draw, n_sig)
        elif len(lines) > 1:
            _structure_mutation(lines, draw)
    return ("\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))).encode()


def declared_header(name: str, fmt: str, suffix: str, n_sig: int, fs: str, n_samples: int,
                    leads: list[str]) -> bytes:
    """A well-formed header declaring arbitrary counts (the signal file need not match)."""
    lines = [f"{name} {n_sig} {fs} {n_samples}"]
    lines += [f"{name}{suffix} {fmt} 1000/mV 16 0 0 0 0 {leads[i % len(leads)]}" for i in range(n_sig)]
    return ("\n".join(lines) + "\n").encode()


def flip_bits(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, bit in flips:
        out[position % len(out)] ^= 1 << bit
    return bytes(out)


BIT_FLIPS = st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 7)), min_size=1, max_size=8)
#: flips in the first 64 bytes hit the MATLAB v4 header (type, rows, columns, name) and the WFDB preamble
HEAD_FLIPS = st.lists(st.tuples(st.integers(0, 63), st.integers(0, 7)), min_size=1, max_size=4)


@st.composite
def mat4_header(draw: st.DrawFn) -> bytes:
    """A MATLAB v4 variable header with random type/size words, followed by a few bytes of data."""
    # words: type (mopt: 0 double ... 30 int16, 50 uint8), rows, columns, imaginary flag, name length
    typical = st.sampled_from([0, 1, 2, 3, 4, 10, 12, 20, 30, 50, 1000, 2**31 - 1])
    words = draw(st.tuples(*[typical | st.integers(-(2**31), 2**31 - 1) for _ in range(5)]))
    endian = draw(st.sampled_from(["<", ">"]))
    name = draw(st.sampled_from([b"val\0", b"val", b"x\0", b""]))
    return struct.pack(f"{endian}5i", *words) + name + draw(st.binary(max_size=256))


# --- tests ---------------------------------------------------------------------------------------


@fuzz(60)
@given(data=st.data(), variant=st.sampled_from(["v4", "v5", "v5z"]))
def test_truncated_mat(challenge: Files, mat_variants: dict[str, bytes], data: st.DataObject,
                       variant: str) -> None:
    cut = data.draw(st.integers(0, len(mat_variants[variant]) - 1), label="cut")
    mat = mat_variants[variant][:cut]
    check_files({**challenge, ".mat": mat})
    check_files({".mat": mat}, allow_default_fs=True)


@fuzz(100)
@given(flips=BIT_FLIPS | HEAD_FLIPS, variant=st.sampled_from(["v4", "v5", "v5z"]))
def test_bit_flipped_mat(challenge: Files, mat_variants: dict[str, bytes], flips: list[tuple[int, int]],
                         variant: str) -> None:
    mat = flip_bits(mat_variants[variant], flips)
    check_files({**challenge, ".mat": mat})
    check_files({".mat": mat}, fs=250)


@fuzz(80)
@given(mat=st.binary(max_size=2048) | mat4_header())
def test_garbage_mat(challenge: Files, mat: bytes) -> None:
    check_files({**challenge, ".mat": mat})
    check_files({".mat": mat}, allow_default_fs=True)


@fuzz(150)
@given(data=st.data())
def test_mutated_challenge_header(challenge: Files, data: st.DataObject) -> None:
    header = data.draw(mutated_header(challenge[".hea"]), label="header")
    check_files({**challenge, ".hea": header})


@fuzz(60)
@given(
    n_sig=st.sampled_from([0, 1, 11, 12, 13, 64]),
    fs=st.sampled_from(["500", "0", "-500", "1e-300", "1e300", "500/-1"]),
    n_samples=st.sampled_from([0, 1, 999, 1000, 1001, 10**7, 10**9, 10**12, 10**30]),
    fmt=st.sampled_from(["16+24", "16", "212", "8", "32"]),
    leads=st.sampled_from([["I"], ["I", "II"], ["\u2603", "x"], ["V1"] * 3]),
)
@example(n_sig=12, fs="500", n_samples=10**12, fmt="16+24", leads=["I"])
def test_declared_sizes_challenge(challenge: Files, n_sig: int, fs: str, n_samples: int, fmt: str,
                                  leads: list[str]) -> None:
    header = declared_header(NAME, fmt, ".mat", n_sig, fs, n_samples, leads)
    check_files({**challenge, ".hea": header})


@fuzz(60)
@example(header="", raw=True, encoding="utf-8")  # empty file
@example(header="\ufeff\u0000\n\n", raw=True, encoding="utf-16")
@given(header=st.text(max_size=400) | st.binary(max_size=400).map(lambda b: b.decode("latin-1")),
       raw=st.booleans(), encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_random_header_text(challenge: Files, header: str, raw: bool, encoding: str) -> None:
    data = header.encode(encoding, errors="replace")
    check_files({**challenge, ".hea": data})
    if raw:
        check_files({".hea": data})  # header alone: no signal file


@fuzz(80)
@given(data=st.data(), fmt=st.sampled_from(["16", "212"]))
def test_corrupted_wfdb_record(wfdb_records: dict[str, Files], data: st.DataObject, fmt: str) -> None:
    files = Files(wfdb_records[fmt])
    kind = data.draw(st.sampled_from(["truncate", "flip", "header", "both", "garbage"]), label="kind")
    if kind in ("truncate", "both"):
        files[".dat"] = files[".dat"][: data.draw(st.integers(0, len(files[".dat"]) - 1), label="cut")]
    if kind == "flip":
        files[".dat"] = flip_bits(files[".dat"], data.draw(BIT_FLIPS, label="flips"))
    if kind in ("header", "both"):
        files[".hea"] = data.draw(mutated_header(files[".hea"]), label="header")
    if kind == "garbage":
        files[".dat"] = data.draw(st.binary(max_size=512), label="dat")
    check_files(files)


@fuzz(40)
@given(
    n_sig=st.sampled_from([1, 3, 4, 50]),
    n_samples=st.sampled_from([0, 1, 999, 1000, 1001, 10**7, 6 * 10**7, 10**12]),
    fmt=st.sampled_from(["16", "212", "8", "80", "24", "32", "310", "311", "16+7"]),
    cut=st.integers(0, 6000),
)
@example(n_sig=3, n_samples=10**12, fmt="16", cut=6000)
@example(n_sig=3, n_samples=6 * 10**7, fmt="32", cut=6000)
def test_declared_sizes_wfdb(wfdb_records: dict[str, Files], n_sig: int, n_samples: int, fmt: str,
                             cut: int) -> None:
    header = declared_header(NAME, fmt, ".dat", n_sig, "500", n_samples, ["I", "II", "V1"])
    check_files({".hea": header, ".dat": wfdb_records["16"][".dat"][:cut]})
