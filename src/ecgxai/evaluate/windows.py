"""Beats and per-beat time windows of the evaluation, defined exactly as in the original toolkit.

The evaluation cuts every lead of a record into *tokens*: one window per beat and window type
(``pre``, ``qrs``, ...; the class's types come from :mod:`ecgxai.evaluate.registry`). To make the
numbers comparable with the original ECG-XAI toolkit's published results, the R-peaks come from a
re-implementation of the original's own detector (:func:`detect_r_peaks_original`), not from the
explainers' detector (:func:`ecgxai.explain.segmentation.detect_r_peaks`).

The original's detector, as its documentation states it: band-pass 5-18 Hz (3rd-order
Butterworth, zero-phase) on leads II, V2, V3, first difference, square, 150 ms moving average,
summed over those leads; peaks above median + 0.5 MAD of that signal, at least 250 ms apart, with
prominence at least 0.5 standard deviations; each peak moved to the maximum of the summed
band-passed signal within 80 ms. Choices made where that sentence is not explicit (each one a
module constant below):

- the filter is ``scipy.signal.butter(3, [5, 18], btype="bandpass")`` in (b, a) form applied with
  ``scipy.signal.filtfilt`` (default padding), lead by lead;
- leads are matched by name, case-insensitively; when none of II, V2, V3 exists, the single lead
  with the highest variance (of the raw signal) is used;
- "first difference" is ``np.diff`` (T - 1 samples; value ``i`` is ``y[i + 1] - y[i]``), the moving
  average a centred ``np.convolve(..., np.ones(w) / w, mode="same")`` with ``w = round(0.15 fs)``
  (75 samples at 500 Hz), computed per lead and then summed over the leads;
- MAD is the unscaled median absolute deviation ``median(|s - median(s)|)``; the standard
  deviation is ``np.std`` (population) of the same summed energy ``s``;
- ``find_peaks(s, height=median + 0.5 MAD, distance=round(0.25 fs), prominence=0.5 std)``;
- refinement, read literally: the *signed* sum over the same leads of the band-passed signal
  (not its energy, not its absolute value), and the peak moves to its largest value within
  +-80 ms, i.e. the closed window ``[p - round(0.08 fs), p + round(0.08 fs)]`` cut to the signal;
  peaks refined onto the same sample are merged.

Checked against the original's per-record token counts on the 70 reference records
(``seed_eval_fused_priors_off.csv``, ``n_tokens = 12 x beats``): the beat count matches on all 70
when the detector runs on the *whole* record (up to 20 s), and on only 54 when it runs on the
model input truncated to 5000 samples: the original detected beats, and counted tokens, over the
full recording even though its explanations cover the first 10 s only. Use
:func:`record_beat_context` (or :func:`beat_context` on the full signal) to reproduce it. The
count is beats x window types x leads: a window clipped to nothing still counts (HR01383, sinus
rhythm: first R-peak at 46 ms, its ``pre`` window lies wholly before 0, and the original counts
132 = 11 beats x 12 leads), hence ``drop_empty=False`` in :meth:`BeatContext.windows` and
:func:`token_count`. The alternatives (unscaled vs 1.4826-scaled MAD, signed vs absolute
refinement, ``np.diff`` with or without a prepended sample) give the same 70/70 counts; a
2nd-order filter (69/70) or a ``"full"``/``"valid"`` moving average (65/70, 59/70) do not.

Zero padding: a trailing block of all-zero rows (how model inputs are padded) is cut before
detection, so the real length ``T`` is what counts; NaN or infinite samples are read as 0. Units
do not matter (every threshold is relative to the signal itself).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal

from ecgxai import config
from ecgxai.errors import ConfigurationError
from ecgxai.explain.segmentation import delineate_beats, signal_length
from ecgxai.io.records import Record, check_fs, read_record

# --- the original detector's settings --------------------------------------------------------------

#: Leads of the original detector, in this order (matched case-insensitively).
DETECTOR_LEADS: tuple[str, ...] = ("II", "V2", "V3")
#: Band-pass of the original detector (Hz) and the order of its Butterworth filter.
DETECTOR_BAND_HZ: tuple[float, float] = (5.0, 18.0)
DETECTOR_FILTER_ORDER = 3
#: Length of the centred moving average of the squared first difference (seconds).
MOVING_AVERAGE_SEC = 0.15
#: Height threshold: median + MAD_FACTOR x (unscaled) median absolute deviation of the summed energy.
MAD_FACTOR = 0.5
#: Scale applied to the median absolute deviation (1.0: unscaled, as "MAD" reads literally).
MAD_SCALE = 1.0
#: Minimum distance between two detected peaks (seconds).
MIN_PEAK_DISTANCE_SEC = 0.25
#: Minimum prominence, in standard deviations (``np.std``) of the summed energy.
PROMINENCE_STD = 0.5
#: Half-width of the refinement window (seconds): the peak moves to the maximum within +- this.
REFINE_HALF_WIDTH_SEC = 0.08
#: What the refinement maximises: "band" = signed sum over the detector leads of the band-passed signal.
REFINE_SIGNAL = "band"

# --- heart rate ----------------------------------------------------------------------------------------

#: RR intervals (seconds) used for the median heart rate; others are ignored.
RR_RANGE_SEC: tuple[float, float] = (0.2, 2.5)
#: Heart rate (bpm) assumed when fewer than two peaks (or no plausible RR interval) are found.
DEFAULT_HR_BPM = 70.0

# --- windows --------------------------------------------------------------------------------------------

#: Fixed window types, relative to each R-peak.
WINDOW_TYPES: tuple[str, ...] = ("pre", "qrs_on", "qrs", "qrs_term", "stt", "tlate", "pace", "beat")
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
#: LBBB, RBBB, complete RBBB, incomplete RBBB, nonspecific intraventricular conduction disorder.
WIDE_QRS_CODES: frozenset[str] = frozenset({"164909002", "59118001", "713427006", "713426002", "698252002"})

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

#: Leads per token row in the original's token count.
N_LEADS = 12


# --- R-peaks ----------------------------------------------------------------------------------------------


def detect_r_peaks_original(x: np.ndarray, fs: float, lead_names: Sequence[str]) -> np.ndarray:
    """R-peak sample indices (sorted, unique, int64) of ``x`` (T, L) by the original toolkit's detector.

    See the module documentation for the algorithm and the choices made where its description is
    not explicit. A trailing zero-padded block is cut first; a signal too short to filter, or whose
    detector leads are all constant, gives an empty array. ``lead_names=None`` means the standard
    12-lead order for a 12-column signal (otherwise no names: the highest-variance lead is used).
    """
    x, fs, names = _check_input(x, fs, lead_names)
    n = signal_length(x)
    x = x[:n]
    empty = np.zeros(0, dtype=np.int64)
    b, a = _detector_filter(fs)
    if n <= 3 * max(len(a), len(b)) or n < 2:  # filtfilt's default padding needs more samples
        return empty
    leads = _detector_lead_indices(x, names)
    if not np.any(np.ptp(x[:, leads], axis=0) > 0):  # flat leads: filtering would only give rounding noise
        return empty
    band = scipy.signal.filtfilt(b, a, x[:, leads], axis=0)
    energy = np.diff(band, axis=0) ** 2
    width = max(1, round(MOVING_AVERAGE_SEC * fs))
    kernel = np.ones(width) / width
    summed = np.sum([np.convolve(energy[:, k], kernel, mode="same") for k in range(energy.shape[1])], axis=0)
    if not np.any(summed > 0):
        return empty
    median = float(np.median(summed))
    mad = MAD_SCALE * float(np.median(np.abs(summed - median)))
    peaks, _ = scipy.signal.find_peaks(
        summed,
        height=median + MAD_FACTOR * mad,
        distance=max(1, round(MIN_PEAK_DISTANCE_SEC * fs)),
        prominence=PROMINENCE_STD * float(np.std(summed)),
    )
    if peaks.size == 0:
        return empty
    reference = band.sum(axis=1) if REFINE_SIGNAL == "band" else np.abs(band).sum(axis=1)
    half = max(1, round(REFINE_HALF_WIDTH_SEC * fs))
    refined = []
    for p in peaks.tolist():
        lo = max(0, p - half)
        refined.append(lo + int(np.argmax(reference[lo: min(n, p + half + 1)])))
    return np.unique(np.asarray(refined, dtype=np.int64))


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


# --- windows ---------------------------------------------------------------------------------------------


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
    ``d_t`` T on..off, from :func:`ecgxai.explain.segmentation.delineate_beats` at the R-peaks of
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
    x, fs, names = _check_input(x, fs, lead_names)
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
    x, fs, names = _check_input(x, fs, lead_names)
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


def token_count(context: BeatContext, window_types: Sequence[str], n_leads: int = N_LEADS) -> int:
    """Tokens the original toolkit scores: leads x window types x beats (clipped-away windows included)."""
    for kind in window_types:
        window_offsets(kind)  # raises ConfigurationError for an unknown type
    return int(n_leads) * len(window_types) * context.n_beats


# --- helpers -----------------------------------------------------------------------------------------------


def _detector_filter(fs: float) -> tuple[np.ndarray, np.ndarray]:
    low, high = DETECTOR_BAND_HZ
    if high >= fs / 2:
        raise ConfigurationError(
            f"fs={fs} Hz is too low for the {low}-{high} Hz QRS band (needs more than {2 * high} Hz)")
    b, a = scipy.signal.butter(DETECTOR_FILTER_ORDER, [low / (fs / 2), high / (fs / 2)], btype="bandpass")
    return b, a


def _detector_lead_indices(x: np.ndarray, names: Sequence[str]) -> list[int]:
    lower = [str(name).strip().lower() for name in names]
    chosen = [lower.index(lead.lower()) for lead in DETECTOR_LEADS if lead.lower() in lower]
    if chosen:
        return chosen
    return [int(np.argmax(np.var(x, axis=0)))]


def _check_input(x: np.ndarray, fs: float, lead_names: Sequence[str] | None
                 ) -> tuple[np.ndarray, float, list[str]]:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ConfigurationError(f"signal must be (time, leads), got shape {x.shape}")
    x = np.nan_to_num(x.astype(np.float64, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    if lead_names is None:
        names = list(config.STANDARD_LEADS) if x.shape[1] == len(config.STANDARD_LEADS) else []
    else:
        names = [str(name) for name in lead_names]
    if lead_names is not None and len(names) != x.shape[1]:
        raise ConfigurationError(f"{len(names)} lead names for a signal with {x.shape[1]} leads")
    return x, check_fs(fs), names
