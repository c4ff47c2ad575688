"""Read PhysioNet/CinC Challenge (``.mat`` + ``.hea``) and WFDB (``.dat`` + ``.hea``) records.

Headers are parsed by ``wfdb``; Challenge ``.mat`` payloads are read with
``scipy.io.loadmat`` so that a file without the ``val`` variable, or with the
wrong shape, is caught instead of being read as raw bytes.

A little over 400 lines: the :class:`Record` and the checks every reader shares (header, sizes,
sample types) are one unit; split, each part would import the other's private checks.
"""

from __future__ import annotations

import io
import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.io
import wfdb

from ecgxai import config
from ecgxai.errors import (
    ConfigurationError,
    CorruptRecordError,
    HeaderError,
    InvalidSignalError,
    MissingHeaderError,
    MissingSignalFileError,
    RecordNotFoundError,
)

log = logging.getLogger(__name__)

Units = Literal["adc", "mV"]
UNITS: tuple[str, ...] = ("adc", "mV")
RECORD_SUFFIXES: tuple[str, ...] = (".hea", ".mat", ".dat")

#: Gain (ADC units per mV) assumed for a header-less Challenge ``.mat`` (CPSC convention).
FALLBACK_GAIN = 1000.0
#: Largest signal a header may declare (samples x leads), to refuse absurd allocations.
MAX_DECLARED_VALUES = 200_000_000
#: Bits one sample takes in a WFDB signal file, per uncompressed storage format.
WFDB_BITS_PER_SAMPLE: dict[str, float] = {
    "8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12,
    "310": 32 / 3, "311": 32 / 3,
}
#: Every WFDB storage format wfdb reads: the uncompressed ones above and FLAC-compressed 508/516/524.
WFDB_FORMATS: frozenset[str] = frozenset(WFDB_BITS_PER_SAMPLE) | {"508", "516", "524"}


@dataclass(frozen=True, eq=False)
class Record:
    """One 12-lead (or n-lead) ECG in memory.

    ``signal`` is (time, leads) float32 in physical units (mV). ``digital``
    keeps the raw ADC values when the record came from a file, so the
    ``adc`` convention of Challenge models is reproduced exactly.
    """

    name: str
    signal: np.ndarray
    fs: float
    lead_names: tuple[str, ...]
    gain: np.ndarray
    baseline: np.ndarray
    age: float | None = None
    sex: str | None = None
    dx: tuple[str, ...] = ()
    path: Path | None = None
    digital: np.ndarray | None = field(default=None, repr=False)
    comments: tuple[str, ...] = ()

    @property
    def n_samples(self) -> int:
        """Number of samples per lead."""
        return int(self.signal.shape[0])

    @property
    def n_leads(self) -> int:
        """Number of leads."""
        return int(self.signal.shape[1])

    @property
    def duration_sec(self) -> float:
        """Length of the recording in seconds."""
        return self.n_samples / self.fs

    def to_units(self, units: Units) -> np.ndarray:
        """Return the signal as (time, leads) float32 in ``adc`` (digital) or ``mV`` units."""
        check_units(units)
        if units == "mV":
            return self.signal
        if self.digital is not None:
            return self.digital.astype(np.float32)
        return (self.signal * self.gain + self.baseline).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (signal included) that :meth:`from_dict` turns back into a Record."""
        digital = self.digital is not None
        samples = self.digital if digital else self.signal
        return {
            "name": self.name,
            "fs": self.fs,
            "lead_names": list(self.lead_names),
            "gain": self.gain.tolist(),
            "baseline": self.baseline.tolist(),
            "age": self.age,
            "sex": self.sex,
            "dx": list(self.dx),
            "path": None if self.path is None else str(self.path),
            "comments": list(self.comments),
            "signal_units": "adc" if digital else "mV",
            "signal": np.asarray(samples).tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Rebuild a Record from :meth:`to_dict` output."""
        samples = np.asarray(data["signal"])
        gain = np.asarray(data["gain"], dtype=np.float64)
        baseline = np.asarray(data["baseline"], dtype=np.int64)
        if data.get("signal_units", "mV") == "adc":
            # integer ADC values stay integers; a float ``val`` keeps its fractions
            digital = samples.astype(np.int64 if samples.dtype.kind in "iub" else np.float64)
            signal = digital_to_physical(digital, gain, baseline)
        else:
            digital, signal = None, samples.astype(np.float32)
        return cls(
            name=data["name"],
            signal=signal,
            fs=float(data["fs"]),
            lead_names=tuple(data["lead_names"]),
            gain=gain,
            baseline=baseline,
            age=data.get("age"),
            sex=data.get("sex"),
            dx=tuple(data.get("dx", ())),
            path=None if data.get("path") is None else Path(data["path"]),
            digital=digital,
            comments=tuple(data.get("comments", ())),
        )

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Record:
        """Parse a Record from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))


def check_fs(fs: object) -> float:
    """``fs`` as a float, refusing anything that is not a finite positive number of Hz."""
    try:
        value = float(fs)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"fs must be a positive number of Hz, got {fs!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"fs must be a positive number of Hz, got {fs!r}")
    return value


def check_units(units: str) -> None:
    """Raise ConfigurationError unless ``units`` is ``adc`` or ``mV``."""
    if units not in UNITS:
        raise ConfigurationError(f"units must be one of {UNITS}, got {units!r}")


def digital_to_physical(digital: np.ndarray, gain: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Convert (time, leads) ADC values to float32 mV with per-lead gain and baseline."""
    return ((digital - baseline) / gain).astype(np.float32)


def record_base(path: str | Path) -> Path:
    """Strip a record suffix: ``A0001``, ``A0001.mat`` and ``A0001.hea`` all give ``A0001``."""
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in RECORD_SUFFIXES else path


def parse_header_comments(comments: Sequence[str]) -> dict[str, Any]:
    """Extract age, sex and ``#Dx`` codes from header comment lines."""
    fields: dict[str, str] = {}
    for line in comments:
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return {
        "age": _parse_age(fields.get("age")),
        "sex": _parse_sex(fields.get("sex")),
        "dx": parse_dx(fields.get("dx", "")),
    }


def parse_dx(text: str) -> tuple[str, ...]:
    """Split a ``#Dx:`` value (comma-separated SNOMED CT codes) into codes."""
    return tuple(code.strip() for code in str(text).split(",") if code.strip())


def _parse_age(text: str | None) -> float | None:
    try:
        age = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return None if math.isnan(age) else age


def _parse_sex(text: str | None) -> str | None:
    if not text or text.lower() in {"unknown", "nan", "none"}:
        return None
    return text


def read_header(path: str | Path) -> wfdb.Record:
    """Parse a record's ``.hea`` with wfdb, raising a named error when absent or malformed."""
    base = record_base(path)
    header = base.with_suffix(".hea")
    if not header.is_file():
        raise MissingHeaderError(header, "header file not found")
    try:
        rec = wfdb.rdheader(str(base))
    except Exception as exc:  # wfdb raises bare ValueError/IndexError/... on bad text
        raise HeaderError(header, f"cannot parse header ({type(exc).__name__}: {exc})") from None
    _validate_header(rec, header)
    return rec


def _validate_header(rec: wfdb.Record, header: Path) -> None:
    if not rec.n_sig or rec.n_sig < 1:
        raise HeaderError(header, "header declares no signals")
    if rec.fs is None or not math.isfinite(rec.fs) or rec.fs <= 0:
        raise HeaderError(header, f"invalid sampling frequency {rec.fs!r}")
    if rec.counter_freq is not None and not rec.counter_freq > 0:
        # wfdb reads a negative fs ("NAME 12 -500 5000") as counter frequency -500 at a default 250 Hz
        raise HeaderError(header, f"invalid sampling frequency {rec.counter_freq!r}")
    if rec.sig_len is None or rec.sig_len < 0:
        raise HeaderError(header, f"invalid number of samples {rec.sig_len!r}")
    if rec.sig_len * rec.n_sig > MAX_DECLARED_VALUES:
        raise HeaderError(header, f"declares {rec.sig_len} samples x {rec.n_sig} leads, too large")
    if not rec.file_name or len(set(rec.file_name)) != 1:
        raise HeaderError(header, "all leads must be stored in one signal file")
    gains = np.asarray(rec.adc_gain, dtype=float)
    if not np.all(np.isfinite(gains)) or np.any(gains == 0):
        raise HeaderError(header, f"invalid ADC gain {rec.adc_gain}")
    if any(not _fits_int64(value) for value in rec.baseline or ()):
        raise HeaderError(header, f"invalid ADC baseline {rec.baseline}")


def _fits_int64(value: object) -> bool:
    """Whether a header integer (Python ints are unbounded) fits the int64 baselines are kept in."""
    return isinstance(value, (int, np.integer)) and -(2**63) <= int(value) < 2**63


def read_record(
    path: str | Path,
    *,
    fs: float | None = None,
    allow_default_fs: bool = False,
) -> Record:
    """Read a Challenge or WFDB record into a :class:`Record`.

    ``path`` may be ``A0001``, ``A0001.mat`` or ``A0001.hea``. A ``.mat`` without
    its header is an error unless ``fs`` is given or ``allow_default_fs`` opts into
    the original toolkit's 500 Hz fallback (logged as a warning).
    """
    if fs is not None:
        fs = check_fs(fs)
    base = record_base(path)
    header = base.with_suffix(".hea")
    if header.is_file():
        return _read_with_header(base, fs_override=fs)
    mat = base.with_suffix(".mat")
    if base.with_suffix(".dat").is_file() and not mat.is_file():
        raise MissingHeaderError(header, "header file not found; a WFDB .dat cannot be read without it")
    if not mat.is_file():
        raise RecordNotFoundError(base, "no .hea header and no .mat signal file")
    if fs is None and not allow_default_fs:
        raise MissingHeaderError(
            header,
            "header file not found; pass fs=... or allow_default_fs=True to read the .mat alone",
        )
    if fs is None:
        fs = config.FALLBACK_FS
        log.warning("%s: header missing, assuming %.0f Hz and %g/mV", mat, fs, FALLBACK_GAIN)
    return _read_headerless_mat(mat, float(fs))


def _read_with_header(base: Path, fs_override: float | None) -> Record:
    rec = read_header(base)
    signal_file = base.parent / rec.file_name[0]
    if not signal_file.is_file():
        raise MissingSignalFileError(signal_file, f"signal file named in {base.name}.hea not found")
    if signal_file.suffix.lower() == ".mat":
        digital = _load_mat_val(signal_file, expected=(rec.n_sig, rec.sig_len)).T
    else:
        digital = _load_wfdb_digital(base, signal_file, rec)
    meta = parse_header_comments(rec.comments or [])
    gain = np.asarray(rec.adc_gain, dtype=np.float64)
    baseline = np.asarray(rec.baseline, dtype=np.int64)
    return _make_record(
        name=base.name,
        digital=digital,
        fs=float(fs_override if fs_override is not None else rec.fs),
        lead_names=tuple(rec.sig_name or default_lead_names(rec.n_sig)),
        gain=gain,
        baseline=baseline,
        path=base,
        signal_file=signal_file,
        comments=tuple(rec.comments or ()),
        **meta,
    )


def _read_headerless_mat(mat: Path, fs: float) -> Record:
    digital = _load_mat_val(mat, expected=None).T
    n_leads = digital.shape[1]
    return _make_record(
        name=mat.stem,
        digital=digital,
        fs=fs,
        lead_names=default_lead_names(n_leads),
        gain=np.full(n_leads, FALLBACK_GAIN),
        baseline=np.zeros(n_leads, dtype=np.int64),
        path=mat.with_suffix(""),
        signal_file=mat,
    )


def _make_record(*, digital: np.ndarray, gain: np.ndarray, baseline: np.ndarray, path: Path,
                 signal_file: Path, **fields: Any) -> Record:
    """Validate samples (errors name ``signal_file``) and build the Record, physical signal derived
    from the digital one."""
    if digital.shape[0] == 0:
        raise InvalidSignalError(signal_file, "signal has zero samples")
    if digital.shape[1] == 0:
        raise InvalidSignalError(signal_file, "signal has zero leads")
    if not np.all(np.isfinite(digital)):
        n_bad = int(np.size(digital) - np.count_nonzero(np.isfinite(digital)))
        raise InvalidSignalError(signal_file, f"signal holds {n_bad} NaN or infinite samples")
    if len(fields["lead_names"]) != digital.shape[1]:
        raise CorruptRecordError(signal_file, "lead names and signal columns differ in number")
    with np.errstate(over="ignore"):
        signal = digital_to_physical(digital, gain, baseline)
    if not np.all(np.isfinite(signal)):
        # e.g. a header gain of 1e-40/mV: every sample is finite, but not once scaled to float32 mV
        raise InvalidSignalError(signal_file, f"samples overflow float32 mV with ADC gain {gain.tolist()}")
    return Record(
        signal=signal,
        gain=gain,
        baseline=baseline,
        path=path,
        digital=digital,
        **fields,
    )


def _load_mat_val(mat: Path, expected: tuple[int, int] | None) -> np.ndarray:
    """Load the ``val`` (leads, samples) array of a Challenge ``.mat`` file.

    The file is parsed from memory: reading a file object, scipy first allocates whatever length a
    corrupt variable header declares (gigabytes for a 100-byte file), while a BytesIO read is capped
    at the bytes actually there. A scipy warning (e.g. "returned data may be corrupt" for an unknown
    byte ordering) is treated as corruption too.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            contents = scipy.io.loadmat(io.BytesIO(mat.read_bytes()), variable_names=["val"])
    except Exception as exc:  # scipy raises many types on corrupt input
        raise CorruptRecordError(mat, f"unreadable .mat file ({type(exc).__name__}: {exc})") from None
    if "val" not in contents:
        raise CorruptRecordError(mat, "no 'val' variable in .mat file")
    val = np.asarray(contents["val"])
    if val.ndim != 2 or not np.issubdtype(val.dtype, np.number):
        raise CorruptRecordError(mat, f"'val' must be a 2-D numeric array, got {val.dtype} {val.shape}")
    if expected is not None and val.shape != expected:
        raise CorruptRecordError(
            mat, f"'val' has shape {val.shape}, header declares {expected} (leads, samples)"
        )
    return val


def _check_dat_size(base: Path, signal_file: Path, rec: wfdb.Record) -> None:
    """Refuse an unknown storage format, and a WFDB signal file shorter than its header declares
    before wfdb allocates a buffer of the declared length (compressed formats are left to wfdb)."""
    formats = rec.fmt or []
    unknown = sorted({str(fmt) for fmt in formats} - WFDB_FORMATS)
    if not formats or unknown:
        raise HeaderError(base.with_suffix(".hea"), f"unknown WFDB storage format {unknown or formats}")
    if any(fmt not in WFDB_BITS_PER_SAMPLE for fmt in formats):
        return
    frames = rec.samps_per_frame or [1] * len(formats)
    bits_per_frame = sum(
        WFDB_BITS_PER_SAMPLE[fmt] * (spf or 1) for fmt, spf in zip(formats, frames, strict=False)
    )
    offset = (rec.byte_offset or [0])[0] or 0
    needed = offset + int(rec.sig_len * bits_per_frame // 8)
    size = signal_file.stat().st_size
    if size < needed:
        raise CorruptRecordError(
            signal_file,
            f"unreadable or truncated signal file ({size} bytes, header declares {rec.sig_len} samples "
            f"x {rec.n_sig} leads = {needed} bytes)",
        )


def _load_wfdb_digital(base: Path, signal_file: Path, rec: wfdb.Record) -> np.ndarray:
    """Read a WFDB signal file as (time, leads) digital values."""
    _check_dat_size(base, signal_file, rec)
    try:
        out = wfdb.rdrecord(str(base), physical=False, return_res=64)
    except Exception as exc:
        raise CorruptRecordError(
            signal_file, f"unreadable or truncated signal file ({type(exc).__name__}: {exc})"
        ) from None
    digital = out.d_signal
    if digital is None or digital.shape != (rec.sig_len, rec.n_sig):
        shape = None if digital is None else digital.shape
        raise CorruptRecordError(signal_file, f"read {shape}, header declares {(rec.sig_len, rec.n_sig)}")
    n_missing = int(np.isnan(out.dac(return_res=64)).sum())  # WFDB marks missing samples
    if n_missing:
        raise InvalidSignalError(signal_file, f"signal holds {n_missing} missing (NaN) samples")
    return digital


def resolve_record_path(path: str | Path, data_root: str | Path | None = None) -> Path:
    """A payload's ``mat_path`` as a file path: as given when absolute or existing, else under
    ``data_root`` (default ``config.DATA_ROOT``)."""
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return Path(data_root if data_root is not None else config.DATA_ROOT) / candidate


def signal_file_of(path: str | Path) -> Path:
    """The record's signal file: ``.mat`` when it exists, else the WFDB ``.dat``."""
    base = record_base(path)
    mat = base.with_suffix(".mat")
    return mat if mat.exists() else base.with_suffix(".dat")


def default_lead_names(n_leads: int) -> tuple[str, ...]:
    """Standard 12-lead names for 12 leads, else ``lead1..leadN``."""
    if n_leads == len(config.STANDARD_LEADS):
        return config.STANDARD_LEADS
    return tuple(f"lead{i + 1}" for i in range(n_leads))


def record_duration(path: str | Path) -> float:
    """Duration in seconds from the header alone (no signal read)."""
    rec = read_header(path)
    return rec.sig_len / rec.fs
