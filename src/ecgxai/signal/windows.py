"""Beat windows of the evaluation: time windows of fixed or delineated types around each R-peak.

The evaluation cuts every lead of a record into *tokens*: one window per beat and window type
(``pre``, ``qrs``, ...; the class's types come from its evaluation region in :mod:`ecgxai.classes`).
The windows are defined exactly as in the original ECG-XAI toolkit, at the R-peaks of its own detector
(:mod:`ecgxai.signal.peaks_original`), so that the numbers are comparable with its published
results. The original detected beats over the *whole* recording (:func:`record_beat_context`), and
every beat keeps its window even when clipping at the record's start leaves it empty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgxai.classes import WIDE_QRS_CODES
from ecgxai.config import WINDOW_TYPES
from ecgxai.errors import ConfigurationError
from ecgxai.io.records import Record, check_fs, read_record
from ecgxai.signal.arrays import original_input, signal_length
from ecgxai.signal.delineate import delineate_beats
from ecgxai.signal.peaks_original import detect_r_peaks_original

# --- heart rate ----------------------------------------------------------------------------------------

#: RR intervals (seconds) used for the median heart rate; others are ignored.
RR_RANGE_SEC: tuple[float, float] = (0.2, 2.5)
#: Heart rate (bpm) assumed when fewer than two peaks (or no plausible RR interval) are found.
DEFAULT_HR_BPM = 70.0

# --- windows --------------------------------------------------------------------------------------------

#: (start, end) offsets from the R-peak in seconds; ``pre`` and ``qrs_term`` have variants below.
WINDOW_OFFSETS_SEC: dict[str, tuple[float, float]] = {
    "pre": (-0.22, -0.05),
    "qrs_on": (-0.06, -0.01),
    "qrs": (-0.05, 0.08),
    "qrs_term": (0.04, 0.16),
    "stt": (0.06, 0.20),
    "tlate": (0.20, 0.40),
    "pace": (-0.01, 0.02),
    "beat": (-0.30, 0.40),
}
#: ``pre`` at heart rates of FAST_HR_BPM and above (shorter PR intervals).
FAST_HR_BPM = 100.0
PRE_FAST_OFFSETS_SEC: tuple[float, float] = (-0.18, -0.04)
#: ``qrs_term`` ends later for bundle branch blocks and intraventricular conduction delay.
WIDE_QRS_TERM_END_SEC = 0.20

#: Delineation-based window types: P wave, PR segment, QRS, ST segment, T wave.
DELINEATED_WINDOW_TYPES: tuple[str, ...] = ("d_p", "d_pr", "d_qrs", "d_st", "d_t")
#: The delineation columns bounding each delineated window type.
DELINEATED_BOUNDS: dict[str, tuple[str, str]] = {
    "d_p": ("p_on", "p_off"),
    "d_pr": ("p_off", "qrs_on"),
    "d_qrs": ("qrs_on", "qrs_off"),
    "d_st": ("qrs_off", "t_on"),
    "d_t": ("t_on", "t_off"),
}


def median_heart_rate(r_peaks: Sequence[int] | np.ndarray, fs: float) -> float:
    """Median heart rate (bpm) from the RR intervals between 0.2 and 2.5 s (inclusive).

    :data:`DEFAULT_HR_BPM` (70) when there are fewer than two peaks or no interval in that range.
    """
    fs = check_fs(fs)
    peaks = np.sort(np.asarray(r_peaks, dtype=float).ravel())
    if peaks.size < 2:
        return DEFAULT_HR_BPM
    rr = np.diff(peaks) / fs
    rr = rr[(rr >= RR_RANGE_SEC[0]) & (rr <= RR_RANGE_SEC[1])]
    if rr.size == 0:
        return DEFAULT_HR_BPM
    return float(60.0 / np.median(rr))


def window_offsets(window_type: str, hr_bpm: float = DEFAULT_HR_BPM,
                   class_code: str | int | None = None) -> tuple[float, float]:
    """(start, end) offsets in seconds from the R-peak of one window type at a heart rate, for a class."""
    if window_type not in WINDOW_OFFSETS_SEC:
        raise ConfigurationError(f"unknown window type {window_type!r}; expected one of {list(WINDOW_TYPES)}")
    if window_type == "pre" and hr_bpm >= FAST_HR_BPM:
        return PRE_FAST_OFFSETS_SEC
    start, end = WINDOW_OFFSETS_SEC[window_type]
    if window_type == "qrs_term" and class_code is not None and str(class_code).strip() in WIDE_QRS_CODES:
        end = WIDE_QRS_TERM_END_SEC
    return (start, end)


def beat_windows(
    r_times_sec: Sequence[float] | np.ndarray,
    hr_bpm: float,
    window_type: str,
    class_code: str | int | None = None,
    duration_sec: float | None = None,
    *,
    drop_empty: bool = True,
) -> list[tuple[float, float]]:
    """Windows ``(start_sec, end_sec)`` of one type around each R-peak time, in the order given.

    ``pre`` is ``[r - 0.22, r - 0.05]`` below 100 bpm and ``[r - 0.18, r - 0.04]`` from 100 bpm;
    ``qrs_term`` ends at ``r + 0.20`` instead of ``r + 0.16`` for the bundle branch block and
    intraventricular conduction delay codes (:data:`WIDE_QRS_CODES`); the other types are fixed
    (:data:`WINDOW_OFFSETS_SEC`). Windows are clipped at 0 (always; negative times do not exist)
    and at ``duration_sec`` when given. Windows clipped to nothing are dropped, unless
    ``drop_empty=False``: then every R-peak keeps one window (``(t, t)`` when clipped to nothing),
    which is how the original toolkit counts tokens (see the module documentation).
    """
    try:
        hr = float(hr_bpm)
    except (TypeError, ValueError):
        raise ConfigurationError(f"hr_bpm must be a number of beats per minute, got {hr_bpm!r}") from None
    if not math.isfinite(hr) or hr <= 0:
        raise ConfigurationError(f"hr_bpm must be a positive number of beats per minute, got {hr_bpm!r}")
    start_off, end_off = window_offsets(window_type, hr, class_code)
    upper = math.inf
    if duration_sec is not None:
        upper = float(duration_sec)
        if not math.isfinite(upper) or upper < 0:
            raise ConfigurationError(f"duration_sec must be a non-negative number, got {duration_sec!r}")
    out: list[tuple[float, float]] = []
    for r in np.asarray(r_times_sec, dtype=float).ravel().tolist():
        start = min(max(r + start_off, 0.0), upper)
        end = min(max(r + end_off, 0.0), upper)
        if end <= start:
            if drop_empty:
                continue
            end = start
        out.append((start, end))
    return out


def delineated_windows(
    x: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    window_type: str,
    *,
    r_peaks: Sequence[int] | np.ndarray | None = None,
) -> list[tuple[float, float]]:
    """Windows ``(start_sec, end_sec)`` of one delineated type (:data:`DELINEATED_WINDOW_TYPES`) per beat.

    ``d_p`` P on..off, ``d_pr`` P off..QRS on, ``d_qrs`` QRS on..off, ``d_st`` QRS off..T on and
    ``d_t`` T on..off, from :func:`ecgxai.signal.delineate.delineate_beats` at the R-peaks of
    :func:`detect_r_peaks_original` (or ``r_peaks``). Beats where either boundary is missing (NaN)
    or the window would be empty are skipped; windows are in beat order.
    """
    return delineated_window_sets(x, fs, lead_names, [window_type], r_peaks=r_peaks)[window_type]


def delineated_window_sets(
    x: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    window_types: Sequence[str],
    *,
    r_peaks: Sequence[int] | np.ndarray | None = None,
) -> dict[str, list[tuple[float, float]]]:
    """:func:`delineated_windows` for several types from one delineation of the record."""
    unknown = [t for t in window_types if t not in DELINEATED_BOUNDS]
    if unknown:
        raise ConfigurationError(f"unknown delineated window types {unknown}; "
                                 f"expected some of {list(DELINEATED_WINDOW_TYPES)}")
    x, fs, names = original_input(x, fs, lead_names)
    peaks = detect_r_peaks_original(x, fs, names) if r_peaks is None else np.asarray(r_peaks, dtype=np.int64)
    if peaks.size == 0:
        return {t: [] for t in window_types}
    table = delineate_beats(x, fs, peaks, names or None)
    out = {}
    for window_type in window_types:
        first, second = DELINEATED_BOUNDS[window_type]
        starts = table[first].to_numpy(dtype=float)
        ends = table[second].to_numpy(dtype=float)
        keep = np.isfinite(starts) & np.isfinite(ends) & (ends > starts)
        out[window_type] = [(float(a) / fs, float(b) / fs)
                            for a, b in zip(starts[keep], ends[keep], strict=True)]
    return out


# --- one record's beats ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BeatContext:
    """A record's beats, detected once: ``r_peaks`` in samples at ``fs``, real duration, median rate."""

    fs: float
    duration_sec: float
    r_peaks: np.ndarray
    hr_bpm: float

    @property
    def r_times_sec(self) -> np.ndarray:
        """R-peak times in seconds."""
        return np.asarray(self.r_peaks, dtype=float) / self.fs

    @property
    def n_beats(self) -> int:
        """Number of detected beats."""
        return int(np.asarray(self.r_peaks).size)

    def windows(self, window_type: str, class_code: str | int | None = None,
                drop_empty: bool = False) -> list[tuple[float, float]]:
        """:func:`beat_windows` of this record; by default one window per beat, as the original counts."""
        return beat_windows(self.r_times_sec, self.hr_bpm, window_type, class_code, self.duration_sec,
                            drop_empty=drop_empty)


def beat_context(x: np.ndarray, fs: float, lead_names: Sequence[str]) -> BeatContext:
    """Detect the beats of ``x`` (T, L) once: R-peaks, median heart rate, duration of the unpadded signal.

    To reproduce the original toolkit's token counts pass the *whole* record (it detected beats over
    the full recording, not over the model input truncated to 5000 samples); see
    :func:`record_beat_context`.
    """
    x, fs, names = original_input(x, fs, lead_names)
    peaks = detect_r_peaks_original(x, fs, names)
    peaks.setflags(write=False)
    return BeatContext(fs=fs, duration_sec=signal_length(x) / fs, r_peaks=peaks,
                       hr_bpm=median_heart_rate(peaks, fs))


def record_beat_context(record: object) -> BeatContext:
    """:func:`beat_context` of a whole record (a :class:`ecgxai.io.records.Record` or a record path).

    Runs on the full recording in ADC units, which reproduces the original's per-record token
    counts on all 70 reference records.
    """
    rec = record if isinstance(record, Record) else read_record(Path(str(record)))
    return beat_context(rec.to_units("adc"), rec.fs, rec.lead_names)
