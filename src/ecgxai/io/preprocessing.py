"""Turn records into model input: a stretch of (maxlen, leads) float32 in the model's units, leads and rate.

The original toolkit padded with zeros at the end or truncated at the end
(``pad_sequences(..., padding="post", truncating="post")``) and fed raw ADC
values; both are kept as the defaults. A record at another rate than the model's
is resampled (polyphase, anti-aliased) to the model's rate first, once per record;
a model whose rate is unknown (``fs=None``) takes records as they are.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from ecgxai import config
from ecgxai.errors import ConfigurationError, LeadMismatchError
from ecgxai.io.records import Record, Units, check_fs, check_units, read_record

log = logging.getLogger(__name__)

#: Largest denominator of the resampling ratio (higher rate / lower rate): a ratio that needs a larger
#: one is replaced by the nearest fraction that does not (the rate of the result then differs from
#: the model's by at most 0.1 %; exact whenever the lower rate is a whole number of Hz up to 1000).
MAX_RATIO_DENOMINATOR = 1000


@dataclass(frozen=True, eq=False)
class ModelInput:
    """One stretch of a record as a model takes it, and where in the record it comes from."""

    x: np.ndarray  # (T, L) float32, the model's length, units and lead order
    fs: float  # rate of x: the model's rate, or the record's when the model's is unknown
    record_fs: float  # the record's own rate
    lead_names: tuple[str, ...]
    start_sec: float  # record seconds where x starts
    end_sec: float  # record seconds where the real signal in x ends (<= start_sec + T / fs)
    record: str  # record name


def fit_length(signal: np.ndarray, maxlen: int) -> np.ndarray:
    """Zero-pad at the end or truncate at the end a (time, leads) array to ``maxlen`` rows."""
    out = np.zeros((maxlen, signal.shape[1]), dtype=np.float32)
    n = min(maxlen, signal.shape[0])
    out[:n] = signal[:n]
    return out


def normalise_lead_name(name: str) -> str:
    """Case-insensitive key for a lead name (``AVR`` and ``aVR`` are the same lead)."""
    return name.strip().lower()


def lead_order(record: Record, lead_names: Sequence[str]) -> list[int]:
    """Column indices that put ``record``'s leads in the order ``lead_names``."""
    have = {normalise_lead_name(n): i for i, n in enumerate(record.lead_names)}
    missing = [n for n in lead_names if normalise_lead_name(n) not in have]
    if missing:
        raise LeadMismatchError(
            record.path or record.name,
            f"record has leads {list(record.lead_names)}, model needs {list(lead_names)} "
            f"(missing {missing})",
        )
    return [have[normalise_lead_name(n)] for n in lead_names]


def resampling_factors(record_fs: float, model_fs: float) -> tuple[int, int]:
    """(up, down) that take ``record_fs`` to ``model_fs``: the ratio of the higher rate to the lower
    as the nearest fraction with denominator <= :data:`MAX_RATIO_DENOMINATOR` (500/257 for 257 Hz to
    500 Hz, 1/2 for 1000 Hz to 500 Hz)."""
    record_fs, model_fs = check_fs(record_fs), check_fs(model_fs)
    high, low = max(record_fs, model_fs), min(record_fs, model_fs)
    ratio = Fraction(high / low).limit_denominator(MAX_RATIO_DENOMINATOR)
    if model_fs >= record_fs:
        return ratio.numerator, ratio.denominator
    return ratio.denominator, ratio.numerator


def input_rate(record_fs: float, fs: float | None) -> float:
    """The rate a record at ``record_fs`` reaches model input at: ``fs`` as resampling achieves it
    (see :func:`resampling_factors`), or the record's own when ``fs`` is None."""
    if fs is None:
        return record_fs
    up, down = resampling_factors(record_fs, fs)
    return record_fs if up == down else record_fs * up / down


def resample(signal: np.ndarray, record_fs: float, fs: float) -> np.ndarray:
    """(time, leads) ``signal`` at ``record_fs`` resampled to ``fs`` with ``scipy.signal.resample_poly``
    (anti-aliasing FIR, Kaiser window), computed in float64, returned as float32. The edges are
    extended along the line through the first and last samples, so a baseline offset leaves no step."""
    up, down = resampling_factors(record_fs, fs)
    if up == down:
        return signal
    out = resample_poly(np.asarray(signal, dtype=np.float64), up, down, axis=0, padtype="line")
    return out.astype(np.float32)


def _model_signal(record: Record, units: Units, lead_names: Sequence[str] | None, fs: float | None
                  ) -> tuple[np.ndarray, tuple[str, ...]]:
    """The whole record in the model's units and lead order, resampled to ``fs`` (when given)."""
    check_units(units)
    signal, names = record.to_units(units), record.lead_names
    if lead_names is not None:
        order = lead_order(record, lead_names)
        if order != list(range(record.n_leads)):
            signal = signal[:, order]
        names = tuple(lead_names)
    if fs is not None:
        signal = resample(signal, record.fs, fs)
    return signal, names


def _start_sample(record: Record, start_sec: float, rate: float, n_samples: int) -> int:
    """Sample of a signal at ``rate`` where ``start_sec`` falls; a start outside the record is refused."""
    where = record.path or record.name
    if not math.isfinite(start_sec) or start_sec < 0:
        raise ConfigurationError(f"{where}: start must be a number of seconds >= 0, got {start_sec!r}")
    start = round(start_sec * rate)
    if start >= n_samples or start_sec >= record.duration_sec:
        raise ConfigurationError(f"{where}: start {start_sec:g} s is at or beyond the end of the record "
                                 f"({record.duration_sec:g} s)")
    return start


def model_inputs(
    record: Record,
    *,
    maxlen: int | None,
    units: Units,
    lead_names: Sequence[str] | None,
    fs: float | None = None,
    starts: Sequence[float] = (0.0,),
) -> list[ModelInput]:
    """One :class:`ModelInput` per start (record seconds); the record is converted and resampled once.

    With ``lead_names`` the record's leads are reordered to match and a record lacking one of them
    raises :class:`LeadMismatchError`; without, all leads are kept. With ``fs`` a record at another
    rate is resampled to it before each stretch is cut (or zero-padded) to ``maxlen`` samples.
    """
    maxlen = config.resolve_maxlen(maxlen)
    signal, names = _model_signal(record, units, lead_names, fs)
    rate = input_rate(record.fs, fs)
    out = []
    for start_sec in starts:
        start = _start_sample(record, float(start_sec), rate, len(signal))
        stop = min(start + maxlen, len(signal))
        out.append(ModelInput(
            x=fit_length(signal[start:stop], maxlen), fs=rate, record_fs=record.fs, lead_names=names,
            start_sec=start / rate, end_sec=min(stop / rate, record.duration_sec), record=record.name))
    return out


def model_input(
    record: Record,
    *,
    maxlen: int | None,
    units: Units,
    lead_names: Sequence[str] | None,
    fs: float | None = None,
    start_sec: float = 0.0,
) -> ModelInput:
    """The stretch of ``record`` from ``start_sec`` as the model takes it (see :func:`model_inputs`)."""
    return model_inputs(record, maxlen=maxlen, units=units, lead_names=lead_names, fs=fs,
                        starts=[start_sec])[0]


def record_windows(duration_sec: float, window_sec: float, stride_sec: float) -> list[tuple[float, float]]:
    """(start, end) seconds of consecutive stretches of ``window_sec`` every ``stride_sec`` over a record.

    A stretch the record cuts shorter than half a window is dropped (it would be mostly padding),
    except the first: a record shorter than that keeps its one, padded stretch.
    """
    given = {"duration_sec": duration_sec, "window_sec": window_sec, "stride_sec": stride_sec}
    for name, value in given.items():
        if not math.isfinite(value) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    windows = []
    k = 0
    while (start := k * stride_sec) < duration_sec:
        end = min(start + window_sec, duration_sec)
        if k == 0 or end - start >= window_sec / 2:
            windows.append((start, end))
        k += 1
    return windows


def model_input_windows(
    record: Record,
    *,
    maxlen: int | None,
    units: Units,
    lead_names: Sequence[str] | None,
    fs: float | None = None,
    stride_sec: float | None = None,
) -> list[ModelInput]:
    """Consecutive stretches of the model's length over the whole record, ``stride_sec`` apart
    (default: the model's length, so they tile the record), as :func:`record_windows` lays them out."""
    window_sec = config.resolve_maxlen(maxlen) / input_rate(record.fs, fs)
    stride_sec = window_sec if stride_sec is None else stride_sec
    windows = record_windows(record.duration_sec, window_sec, stride_sec)
    return model_inputs(record, maxlen=maxlen, units=units, lead_names=lead_names, fs=fs,
                        starts=[start for start, _ in windows])


def _rates(counts: Iterable[tuple[float, int]]) -> str:
    """``4 from 257 Hz, 12 from 1000 Hz``: record counts per rate, lowest rate first."""
    return ", ".join(f"{n} from {fs:g} Hz" for fs, n in sorted(counts))


def report_rates(record_rates: Iterable[float], model_fs: float | None) -> None:
    """Log once for a run how its records' rates met the model's: how many were resampled from which
    rate, or a warning when a model of unknown rate was given records at several rates."""
    counts = Counter(record_rates)
    if model_fs is None:
        if len(counts) > 1:
            log.warning("the model's sampling rate is unknown and the records come at several rates "
                        "(%s); they were taken as they are. Pass fs= to load_model or put \"fs\" in the "
                        "model card to resample them to the model's rate", _rates(counts.items()))
        return
    resampled = [(fs, n) for fs, n in counts.items() if input_rate(fs, model_fs) != fs]
    if resampled:
        log.info("resampled %d records (%s) to the model's %g Hz", sum(n for _, n in resampled),
                 _rates(resampled), model_fs)


def to_model_input(
    record: Record,
    maxlen: int | None = None,
    units: Units = "adc",
    lead_names: Sequence[str] | None = None,
    *,
    fs: float | None = None,
    start_sec: float = 0.0,
) -> np.ndarray:
    """Return (maxlen, leads) float32 for one record: :func:`model_input`'s ``x``."""
    return model_input(record, maxlen=maxlen, units=units, lead_names=lead_names, fs=fs,
                       start_sec=start_sec).x


def preprocess_for_model(
    record_path: str | Path | Record,
    maxlen: int | None = None,
    units: Units = "adc",
    lead_names: Sequence[str] | None = None,
    **read_kwargs: object,
) -> np.ndarray:
    """Read a record (or take a :class:`Record`) and return model input, (maxlen, leads) float32."""
    record = record_path if isinstance(record_path, Record) else read_record(record_path, **read_kwargs)
    return to_model_input(record, maxlen=maxlen, units=units, lead_names=lead_names)


def load_mat_TF(record_path: str | Path, maxlen: int | None = None, **kwargs: object) -> np.ndarray:
    """Original name for :func:`preprocess_for_model`: raw ADC values, (maxlen, leads) float32."""
    return preprocess_for_model(record_path, maxlen=maxlen, **kwargs)
