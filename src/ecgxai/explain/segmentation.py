"""Cut a 12-lead ECG into "events": the time windows explainers perturb and plots label.

``make_event_segments(x, fs, params, lead_names=None)`` keeps the original toolkit's name and
signature and returns ``[(start_sample, end_sample), ...]``; :func:`segment_events` returns the
same windows as :class:`Event` objects that also carry a ``kind`` label and the beat they belong to.

``params["event_kind"]`` chooses the segmentation:

``"uniform"`` (default)
    Consecutive windows of ``params["window_sec"]`` seconds (default 0.5) covering ``[0, T)``,
    zero padding included (as the original did); the last window may be shorter. Kind ``"window"``.
``"beat_qrs"``
    One window per detected beat, ``[r - pre, r + post)`` with ``params["pre"]`` (default 0.25 s)
    and ``params["post"]`` (default 0.45 s), clipped to the signal and to the midpoints between
    neighbouring R-peaks, so windows never overlap and every detected beat gets exactly one
    window (a beat near an edge gets a shorter one). Kind ``"beat"``.
``"qrs_family"``
    Per beat a QRS window ``[r - 50 ms, r + 50 ms)`` (kind ``"qrs"``) and a terminal-QRS window
    ``[r + 50 ms, r + 160 ms)`` (kind ``"qrs_term"``). The original's windows
    (``[r - 50, r + 80)`` and ``[r + 40, r + 160)`` ms) overlapped by 40 ms; they are split at
    ``r + 50 ms`` here so that perturbing one never perturbs part of the other. Windows are
    clipped like ``beat_qrs``; a window clipped to nothing (a beat at the very end) is left out.
``"waves"``
    Per beat five physiological windows: P wave ``[P on, P off)`` (``"p"``), PR segment
    ``[P off, QRS on)`` (``"pr"``), QRS ``[QRS on, QRS off)`` (``"qrs"``, always contains the
    R-peak), ST segment ``[QRS off, T on)`` (``"st"``) and T wave ``[T on, T off)`` (``"t"``), from
    :func:`delineate_beats`. A boundary that delineation misses or places implausibly is replaced by
    a fixed offset from its neighbour (no delineation at all gives P ``[r-200, r-120)``, PR
    ``[r-120, r-50)``, QRS ``[r-50, r+50)``, ST ``[r+50, r+150)``, T ``[r+150, r+400)`` ms).
    Consecutive beats share the RR interval at ``r_i + 0.6 RR`` (T of beat i before, P of beat i+1
    after); when a beat's windows do not fit its share (fast rates) they are shrunk proportionally
    towards its R-peak. A beat whose five windows would reach outside the signal (typically within
    ~0.2 s of the start or ~0.4 s of the end; at sampling rates below 100 Hz also a beat whose
    share of a very short RR interval cannot hold five windows) is left out, so every beat returned
    has its five windows, contiguous, in order, non-overlapping.

Beat-based kinds fall back to uniform windows over the real (unpadded) signal, with a logged
warning, when no beats are found (flat line, noise, a signal shorter than
:data:`MIN_BEAT_SIGNAL_SEC`) or none of them yields a window (over the whole input when it is
all zeros).

Zero padding: a trailing block of all-zero rows (how model inputs are padded) is treated as the
end of the signal; R-peak detection, delineation and beat-based events never reach into it.
NaN or infinite samples are read as 0. Units do not matter (mV and ADC values give the same events).

R-peaks (:func:`detect_r_peaks`): ``neurokit2.ecg_clean`` + ``neurokit2.ecg_peaks`` on each of
leads II, V5, I, V3 and V2 (those present), upright and turned over (neurokit2 looks for positive
R waves and misses or misplaces downward QS complexes). The beat train that agrees best with the
other leads' and with a multi-lead QRS-energy detector (band-pass 5-18 Hz, all leads) is used,
preferring the leads in that order among equals. Beats the energy detector finds and neurokit2
missed (often the first or last beat, early ectopic beats) are added; peaks without QRS energy (a
P wave just before a recording stops) are dropped. When no lead gives a convincing beat train, the
energy detector alone is used if its beats stand out from the background; otherwise there are no
beats (an empty array), never an exception.

Cost on 2 CPU cores for a 10 s, 12-lead, 500 Hz record: about 30 ms for ``beat_qrs`` and
``qrs_family`` (R-peaks) and 0.1 s for ``waves`` (the dwt delineation resamples to 2 kHz
internally); ``uniform`` is immediate. The first call also imports neurokit2 (~0.5 s).
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import scipy.signal

from ecgxai import config
from ecgxai.errors import ConfigurationError
from ecgxai.io.records import check_fs

log = logging.getLogger(__name__)

EVENT_KINDS: tuple[str, ...] = ("uniform", "beat_qrs", "qrs_family", "waves")
#: Defaults of the segmentation parameters (times in seconds).
DEFAULT_PARAMS: dict[str, Any] = {"event_kind": "uniform", "window_sec": 0.5, "pre": 0.25, "post": 0.45}
#: Leads tried for R-peak detection, in order of preference among leads that detect beats about
#: equally well (II and V5 first: the dwt delineation of P and T waves is most reliable on them).
PEAK_LEADS: tuple[str, ...] = ("II", "V5", "I", "V3", "V2")
#: Signals (real part) shorter than this have no beats.
MIN_BEAT_SIGNAL_SEC = 1.0

#: ``qrs_family`` windows relative to the R-peak (seconds): QRS [-0.05, 0.05), terminal [0.05, 0.16).
QRS_FAMILY_SEC: tuple[float, float, float] = (-0.05, 0.05, 0.16)
#: ``waves`` fallback boundaries relative to the R-peak (seconds): P on, P off, QRS on, QRS off, T on, T off.
WAVE_TEMPLATE_SEC: tuple[float, ...] = (-0.20, -0.12, -0.05, 0.05, 0.15, 0.40)
WAVE_KINDS: tuple[str, ...] = ("p", "pr", "qrs", "st", "t")
#: Where consecutive beats split the RR interval for ``waves`` (fraction of RR after the first R-peak).
WAVE_SPLIT_FRACTION = 0.6
DELINEATION_COLUMNS: tuple[str, ...] = ("r_peak", "p_on", "p_off", "qrs_on", "qrs_off", "t_on", "t_off")

_BAND_HZ = (5.0, 18.0)  # QRS energy band
_MATCH_TOL_SEC = 0.06  # two leads' peaks closer than this are the same beat
_RR_RANGE_SEC = (0.25, 2.0)  # plausible RR intervals (30-240 bpm)
_REFRACTORY_SEC = 0.2  # no two beats closer than this (ectopic beats can come 0.25 s early)
_MIN_PROMINENCE = 4.0  # QRS band energy at the peaks vs the median, per lead
_MIN_PROMINENCE_SINGLE = 6.0  # ... when no second lead can confirm the beats
_MIN_AGREEMENT = 0.6  # F1 of the chosen lead's peaks with another lead's (multi-lead signals)
_SCORE_MARGIN = 0.1  # detection scores this close count as equal (lead preference decides)
_MIN_BEAT_ENERGY = 0.15  # a beat's QRS-band energy (all leads) vs the record's median beat
_MIN_ENERGY_PROMINENCE = 7.0  # fallback detector: peak energy vs median energy
_DELINEATION_PAD_SEC = 1.0
_QRS_BAND_HZ = (0.5, 40.0)  # band of the leads whose slopes give the QRS bounds
_QRS_THRESHOLD = 0.08  # fraction of the QRS spatial-velocity peak that bounds the QRS
_QRS_QUIET_SEC = 0.012  # the spatial velocity stays below threshold this long outside the QRS
# plausible boundary positions relative to the R-peak (seconds), used to discard delineation errors
_BOUNDARY_LIMITS_SEC: dict[str, tuple[float, float]] = {
    "p_on": (-0.45, -0.08),
    "p_off": (-0.30, -0.02),
    "qrs_on": (-0.15, -0.002),
    "qrs_off": (0.002, 0.20),
    "t_on": (0.06, 0.45),
    "t_off": (0.18, 0.70),
}
# plausible wave durations (seconds)
_DURATION_LIMITS_SEC: dict[tuple[str, str], tuple[float, float]] = {
    ("p_on", "p_off"): (0.03, 0.20),
    ("t_on", "t_off"): (0.05, 0.45),
}
_NK_KEYS = {
    "p_on": "ECG_P_Onsets",
    "p_off": "ECG_P_Offsets",
    "t_on": "ECG_T_Onsets",
    "t_off": "ECG_T_Offsets",
}


@dataclass(frozen=True)
class Event:
    """One time window ``[start, end)`` in samples; ``kind`` labels it, ``beat`` indexes the R-peak."""

    start: int
    end: int
    kind: str
    beat: int | None = None

    @property
    def length(self) -> int:
        """Number of samples."""
        return self.end - self.start

    def as_tuple(self) -> tuple[int, int]:
        """``(start, end)``, the original toolkit's event format."""
        return (self.start, self.end)

    def seconds(self, fs: float) -> tuple[float, float]:
        """``(start_sec, end_sec)`` at sampling rate ``fs``."""
        return (self.start / fs, self.end / fs)


# --- public API ------------------------------------------------------------------------------------


def make_event_segments(
    x: np.ndarray, fs: float, params: Mapping[str, Any] | None, lead_names: Sequence[str] | None = None
) -> list[tuple[int, int]]:
    """Events of ``x`` (T, L) as sorted, non-overlapping ``(start, end)`` sample windows in ``[0, T)``.

    See the module documentation for ``params`` (``event_kind``, ``window_sec``, ``pre``, ``post``).
    """
    return [event.as_tuple() for event in segment_events(x, fs, params, lead_names)]


def segment_events(
    x: np.ndarray, fs: float, params: Mapping[str, Any] | None, lead_names: Sequence[str] | None = None
) -> list[Event]:
    """Like :func:`make_event_segments`, as :class:`Event` objects labelled with kind and beat."""
    settings = _resolve_params(params)
    x = _as_signal(x)
    fs = check_fs(fs)
    names = _lead_names(x, lead_names)
    kind = settings["event_kind"]
    n_total = x.shape[0]
    if kind == "uniform" or n_total == 0:
        return _uniform_events(0, n_total, fs, settings["window_sec"])

    n_real = signal_length(x)
    found = _find_r_peaks(x[:n_real], fs, names)
    events: list[Event] = []
    if kind == "beat_qrs" and found.peaks.size:
        events = _beat_events(found.peaks, n_real, fs, settings["pre"], settings["post"])
    elif kind == "qrs_family" and found.peaks.size:
        events = _qrs_family_events(found.peaks, n_real, fs)
    elif kind == "waves" and found.peaks.size:
        table = delineate_beats(x[:n_real], fs, found.peaks, names, lead=found.lead)
        events = _wave_events(table, n_real, fs)
    if events:
        return events
    end = n_real if n_real > 0 else n_total
    log.warning("no heartbeats found; %r falls back to uniform %.3g s windows over %d samples",
                kind, settings["window_sec"], end)
    return _uniform_events(0, end, fs, settings["window_sec"])


def signal_length(x: np.ndarray) -> int:
    """Length of ``x`` (T, L) without its trailing block of all-zero (padding) rows."""
    x = _as_signal(x)
    nonzero = np.flatnonzero(np.any(x != 0, axis=1))
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def detect_r_peaks(x: np.ndarray, fs: float, lead_names: Sequence[str] | None = None) -> np.ndarray:
    """R-peak sample indices (sorted, unique, int64) of ``x`` (T, L); empty when there is no beat.

    Zero padding at the end is ignored. Never raises on flat, noisy or very short signals.
    """
    x = _as_signal(x)
    fs = check_fs(fs)
    names = _lead_names(x, lead_names)
    return _find_r_peaks(x[: signal_length(x)], fs, names).peaks


def delineate_beats(
    x: np.ndarray,
    fs: float,
    r_peaks: Sequence[int] | np.ndarray,
    lead_names: Sequence[str] | None = None,
    lead: str | int | None = None,
) -> pd.DataFrame:
    """Wave boundaries of each beat, one row per R-peak.

    Columns ``r_peak``, ``p_on``, ``p_off``, ``qrs_on``, ``qrs_off``, ``t_on``, ``t_off`` in samples
    (float; NaN where nothing was found or the position is implausible: outside physiological limits
    around the R-peak, beyond a neighbouring R-peak, or out of order).

    P and T boundaries come from neurokit2's wavelet delineator (``ecg_delineate(method="dwt")``) on
    one lead: ``lead`` (name or column index), by default the lead :func:`detect_r_peaks` uses;
    ``table.attrs["lead"]`` names it. QRS onset and offset come from the spatial velocity of all
    leads (the first and last samples around the R-peak where the summed slope of the leads rises
    above 8% of its QRS peak), because neurokit2's dwt QRS bounds are systematically too wide
    (onsets near the P peak; median QRS durations of 150-200 ms on normal 12-lead records).
    """
    x = _as_signal(x)
    fs = check_fs(fs)
    names = _lead_names(x, lead_names)
    n_real = signal_length(x)
    x = x[:n_real]
    peaks = np.unique(np.asarray(r_peaks, dtype=np.int64).ravel())
    peaks = peaks[(peaks >= 0) & (peaks < n_real)]
    if lead is None:
        j = _find_r_peaks(x, fs, names).lead
    elif isinstance(lead, str):
        if lead not in names:
            raise ConfigurationError(f"lead {lead!r} not among the lead names {list(names)}")
        j = names.index(lead)
    else:
        j = int(lead)
        if not 0 <= j < x.shape[1]:
            raise ConfigurationError(f"lead index {j} out of range for {x.shape[1]} leads")
    raw = _nk_delineate(x[:, j], fs, peaks)
    raw["qrs_on"], raw["qrs_off"] = _qrs_bounds(x, fs, peaks)
    table = pd.DataFrame({"r_peak": peaks.astype(float)})
    for key in DELINEATION_COLUMNS[1:]:
        table[key] = raw[key]
    _discard_implausible(table, fs, n_real)
    table.attrs["lead"] = names[j]
    table.attrs["method"] = "neurokit2 dwt (P, T) + spatial velocity (QRS)"
    return table


# --- parameters and input ----------------------------------------------------------------------------


def _resolve_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    if params is not None and not isinstance(params, Mapping):
        raise ConfigurationError(f"params must be a dict, got {type(params).__name__}")
    settings = {**DEFAULT_PARAMS, **{k: v for k, v in (params or {}).items() if v is not None}}
    kind = settings["event_kind"]
    if kind not in EVENT_KINDS:
        raise ConfigurationError(f"unknown event_kind {kind!r}; expected one of {list(EVENT_KINDS)}")
    for key, positive in (("window_sec", True), ("pre", False), ("post", False)):
        try:
            value = float(settings[key])
        except (TypeError, ValueError):
            raise ConfigurationError(f"params[{key!r}] must be a number, got {settings[key]!r}") from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise ConfigurationError(f"params[{key!r}] must be a {'positive' if positive else 'non-negative'}"
                                     f" number of seconds, got {settings[key]!r}")
        settings[key] = value
    return settings


def _as_signal(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ConfigurationError(f"signal must be (time, leads), got shape {x.shape}")
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return x


def _lead_names(x: np.ndarray, lead_names: Sequence[str] | None) -> tuple[str, ...]:
    n_leads = x.shape[1]
    if lead_names is None:
        if n_leads == len(config.STANDARD_LEADS):
            return config.STANDARD_LEADS
        return tuple(f"lead{i + 1}" for i in range(n_leads))
    names = tuple(str(name) for name in lead_names)
    if len(names) != n_leads:
        raise ConfigurationError(f"{len(names)} lead names for a signal with {n_leads} leads")
    return names


# --- windows -------------------------------------------------------------------------------------------


def _uniform_events(start: int, end: int, fs: float, window_sec: float) -> list[Event]:
    step = max(1, round(window_sec * fs))
    return [Event(s, min(s + step, end), "window") for s in range(start, end, step)]


def _beat_territories(peaks: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per beat ``[lo, hi)``: the signal cut at the midpoints between neighbouring R-peaks."""
    mids = (peaks[:-1] + peaks[1:] + 1) // 2
    lo = np.concatenate([[0], mids])
    hi = np.concatenate([mids, [n]])
    return lo, hi


def _beat_events(peaks: np.ndarray, n: int, fs: float, pre: float, post: float) -> list[Event]:
    lo, hi = _beat_territories(peaks, n)
    events = []
    for i, r in enumerate(peaks.tolist()):
        start = max(int(lo[i]), r - round(pre * fs))
        end = min(int(hi[i]), r + round(post * fs))
        end = max(end, r + 1)  # post = 0 still keeps the R-peak sample
        events.append(Event(start, end, "beat", i))
    return events


def _qrs_family_events(peaks: np.ndarray, n: int, fs: float) -> list[Event]:
    lo, hi = _beat_territories(peaks, n)
    a, b, c = (round(t * fs) for t in QRS_FAMILY_SEC)
    events = []
    for i, r in enumerate(peaks.tolist()):
        cut = min(max(r + b, r + 1), int(hi[i]))
        windows = ((max(r + a, int(lo[i])), cut, "qrs"), (cut, min(r + c, int(hi[i])), "qrs_term"))
        events.extend(Event(s, e, kind, i) for s, e, kind in windows if e > s)
    return events


def _wave_events(table: pd.DataFrame, n: int, fs: float) -> list[Event]:
    """Five windows per beat from delineated boundaries, with fallbacks; see the module docstring."""
    peaks = table["r_peak"].to_numpy().astype(np.int64)
    template = np.array(WAVE_TEMPLATE_SEC) * fs
    splits = peaks[:-1] + np.round(WAVE_SPLIT_FRACTION * np.diff(peaks)).astype(np.int64)
    events: list[Event] = []
    dropped = 0
    for i, r in enumerate(peaks.tolist()):
        row = table.iloc[i]
        bounds = _beat_bounds(r, row, template)
        lo = int(splits[i - 1]) if i > 0 else None
        hi = int(splits[i]) if i < len(splits) else None
        bounds = _fit_bounds(r, bounds, lo, hi)
        if bounds is None or bounds[0] < 0 or bounds[-1] > n:
            dropped += 1
            continue
        events.extend(Event(bounds[k], bounds[k + 1], WAVE_KINDS[k], i) for k in range(5))
    if dropped:
        log.debug("waves: %d of %d beats left out (cut by the signal's edges)", dropped, len(peaks))
    return events


def _beat_bounds(r: int, row: pd.Series, template: np.ndarray) -> list[float]:
    """Six boundaries (P on, P off, QRS on, QRS off, T on, T off), measured where usable, else fixed
    offsets from the neighbouring boundary (chained outwards from the QRS)."""

    def pick(value: float, fallback: float, ok: bool) -> float:
        return float(value) if ok and np.isfinite(value) else fallback

    gap = np.diff(template)  # fallback lengths: P, PR, QRS, ST, T
    q_on = pick(row["qrs_on"], r + template[2], row["qrs_on"] < r)
    q_off = pick(row["qrs_off"], r + template[3], row["qrs_off"] > r)
    p_off = pick(row["p_off"], q_on - gap[1], row["p_off"] < q_on)
    p_on = pick(row["p_on"], p_off - gap[0], row["p_on"] < p_off)
    t_on = pick(row["t_on"], q_off + gap[3], row["t_on"] > q_off)
    t_off = pick(row["t_off"], t_on + gap[4], row["t_off"] > t_on)
    return [p_on, p_off, q_on, q_off, t_on, t_off]


def _fit_bounds(r: int, bounds: list[float], lo: int | None, hi: int | None) -> list[int] | None:
    """Round the six boundaries, shrinking them when they reach a neighbouring beat's share
    (``lo``/``hi``): P and PR proportionally towards the QRS onset, ST and T towards the QRS offset,
    and the QRS itself (towards ``r``) only when there is no room left. None when no valid layout
    with every window non-empty and the R-peak inside the QRS exists."""
    b = np.array(bounds, dtype=float)
    if lo is not None and b[0] < lo:
        # squeeze P and PR towards the QRS onset; the QRS too (towards r) when they cannot fit
        anchor, idx = (b[2], [0, 1]) if b[2] - lo >= 2 else (float(r), [0, 1, 2])
        b[idx] = anchor + (b[idx] - anchor) * ((anchor - lo) / (anchor - b[0]))
    if hi is not None and b[5] > hi:
        anchor, idx = (b[3], [4, 5]) if hi - b[3] >= 2 else (float(r), [3, 4, 5])
        b[idx] = anchor + (b[idx] - anchor) * ((hi - anchor) / (b[5] - anchor))
    out = [math.ceil(v - 1e-9) for v in b[:3]] + [math.floor(v + 1e-9) for v in b[3:]]
    # after rounding: the QRS keeps the R-peak, and every window keeps at least one sample
    out[2] = min(out[2], r)
    out[1] = min(out[1], out[2] - 1)
    out[0] = min(out[0], out[1] - 1)
    out[3] = max(out[3], r + 1)
    out[4] = max(out[4], out[3] + 1)
    out[5] = max(out[5], out[4] + 1)
    if (lo is not None and out[0] < lo) or (hi is not None and out[5] > hi):
        return None
    if any(later <= earlier for earlier, later in pairwise(out)):
        return None
    return out


# --- R-peak detection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Peaks:
    peaks: np.ndarray
    lead: int
    source: str  # "neurokit2", "energy" or "none"


def _find_r_peaks(x: np.ndarray, fs: float, names: Sequence[str]) -> _Peaks:
    """R-peaks of the real (unpadded) signal ``x``, with the lead they were found on."""
    n = x.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    candidates = _candidate_leads(x, fs, names)
    default_lead = candidates[0] if candidates else 0
    if n < MIN_BEAT_SIGNAL_SEC * fs or not candidates:
        return _Peaks(empty, default_lead, "none")
    band = _bandpass(x, fs)
    energy, reference = _energy_peaks(band, fs)  # a multi-lead QRS detector, independent of neurokit2
    cleaned = {j: _nk_clean(x[:, j], fs) for j in candidates}
    # both polarities of each lead: neurokit2 looks for positive R waves and misses or misplaces the
    # QRS complexes of leads where they point down (QS complexes in V1-V3, deep S waves)
    trains = {(j, sign): _nk_peaks(sign * cleaned[j], fs) for j in candidates for sign in (1, -1)}
    scored = []
    for (j, sign), peaks in trains.items():
        others = [p for (k, _), p in trains.items() if k != j and p.size]
        # the best match among the other leads: one lead with small QRS complexes must not veto
        agreement = max((_agreement(peaks, o, fs) for o in others), default=math.nan)
        prominence = _prominence(np.abs(band[:, j]), peaks, fs)
        plausible = _rr_plausible_fraction(peaks, fs)
        # agreement with the other leads and with the all-lead energy detector first; then plausible
        # RR intervals and clear QRS complexes; then the order of PEAK_LEADS, upright before inverted
        score = (
            (0.0 if math.isnan(agreement) else agreement)
            + _agreement(peaks, reference, fs)
            + 0.1 * plausible
            + 0.05 * min(prominence, 10) / 10
        )
        scored.append((score, -candidates.index(j), sign, j, agreement, prominence, plausible))
    # among the trains within _SCORE_MARGIN (about one beat) of the best, the most preferred lead
    top = max(item[0] for item in scored)
    near = [item for item in scored if item[0] >= top - _SCORE_MARGIN]
    _, _, sign, best, agreement, prominence, plausible = max(near, key=lambda item: item[1:3])
    peaks = trains[(best, sign)]
    multi = len({j for (j, _), p in trains.items() if p.size}) >= 2
    accepted = (
        peaks.size >= 2
        and plausible >= 0.5
        and prominence >= (_MIN_PROMINENCE if multi else _MIN_PROMINENCE_SINGLE)
        and (not multi or agreement >= _MIN_AGREEMENT)
    )
    if accepted:
        peaks = _add_missed_beats(peaks, reference, energy, sign * cleaned[best], fs)
        return _Peaks(_drop_weak_beats(peaks, energy, fs), best, "neurokit2")
    fallback = _accept_energy_peaks(energy, reference, fs)
    if fallback.size >= 2:
        log.debug("R-peaks from the band-pass energy detector (neurokit2 found no convincing beats)")
        return _Peaks(fallback, best, "energy")
    return _Peaks(empty, best, "none")


def _drop_weak_beats(peaks: np.ndarray, energy: np.ndarray, fs: float) -> np.ndarray:
    """Drop peaks with almost no QRS-band energy in any lead compared with the record's other beats
    (e.g. the P wave that neurokit2 takes for a beat where a recording stops just before a QRS)."""
    half = max(1, round(0.05 * fs))
    local = np.array([energy[max(0, p - half): p + half + 1].max() for p in peaks.tolist()])
    keep = local >= _MIN_BEAT_ENERGY * np.median(local)
    if not np.all(keep):
        log.debug("dropped %d peaks without QRS energy", int(np.count_nonzero(~keep)))
    return peaks[keep]


def _add_missed_beats(
    peaks: np.ndarray, reference: np.ndarray, energy: np.ndarray, lead: np.ndarray, fs: float
) -> np.ndarray:
    """Add the energy detector's beats that neurokit2 missed (typically the first or last beat, or an
    early ectopic beat): those farther than ``_REFRACTORY_SEC`` from every peak and at least half as
    strong as the beats both found. Each is placed at the lead's maximum within 60 ms."""
    if reference.size == 0:
        return peaks
    tol = _MATCH_TOL_SEC * fs
    distance = _nearest_distance(reference, peaks)
    matched = reference[distance <= tol]
    if matched.size == 0:
        return peaks
    strong = 0.5 * np.median(energy[matched])
    missed = reference[(distance >= _REFRACTORY_SEC * fs) & (energy[reference] >= strong)]
    if missed.size == 0:
        return peaks
    log.debug("added %d beats missed by neurokit2", missed.size)
    return np.unique(np.concatenate([peaks, _argmax_near(lead, missed, max(1, round(tol)))]))


def _candidate_leads(x: np.ndarray, fs: float, names: Sequence[str]) -> list[int]:
    """Indices of the preferred leads present (by name, case-insensitive) that are not flat; else the
    (up to five) leads with the most prominent QRS-band activity."""
    live = np.ptp(x, axis=0) > 0 if x.shape[0] else np.zeros(x.shape[1], dtype=bool)
    lower = [name.lower() for name in names]
    chosen = [lower.index(p.lower()) for p in PEAK_LEADS if p.lower() in lower]
    chosen = [j for j in chosen if live[j]]
    if chosen:
        return chosen
    live_idx = np.flatnonzero(live)
    if live_idx.size == 0 or x.shape[0] < MIN_BEAT_SIGNAL_SEC * fs:
        return [int(j) for j in live_idx[:5]]
    band = np.abs(_bandpass(x[:, live_idx], fs))
    peakiness = np.percentile(band, 99, axis=0) / (np.median(band, axis=0) + 1e-12)
    order = np.argsort(-peakiness, kind="stable")[:5]
    return [int(live_idx[k]) for k in order]


def _nk_clean(lead: np.ndarray, fs: float) -> np.ndarray:
    """neurokit2's cleaned lead (zeros when neurokit2 fails, e.g. on a too short signal)."""
    import neurokit2 as nk

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cleaned = np.asarray(nk.ecg_clean(lead, sampling_rate=_nk_rate(fs)), dtype=np.float64)
    except Exception as exc:  # neurokit2 raises TypeError/ValueError on odd input
        log.debug("neurokit2 ecg_clean failed: %s: %s", type(exc).__name__, exc)
        return np.zeros(lead.size)
    return np.nan_to_num(cleaned, nan=0.0, posinf=0.0, neginf=0.0)


def _nk_peaks(cleaned: np.ndarray, fs: float) -> np.ndarray:
    """neurokit2's R-peaks of a cleaned lead (empty when neurokit2 fails)."""
    import neurokit2 as nk

    if cleaned.size == 0 or not np.any(cleaned):
        return np.zeros(0, dtype=np.int64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, info = nk.ecg_peaks(cleaned, sampling_rate=_nk_rate(fs))
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=float)
    except Exception as exc:  # neurokit2 raises TypeError/ValueError/IndexError on odd input
        log.debug("neurokit2 ecg_peaks failed: %s: %s", type(exc).__name__, exc)
        return np.zeros(0, dtype=np.int64)
    peaks = peaks[np.isfinite(peaks)].astype(np.int64)
    return np.unique(peaks[(peaks >= 0) & (peaks < cleaned.size)])


def _nk_rate(fs: float) -> int | float:
    return int(fs) if float(fs).is_integer() else fs


def _bandpass(x: np.ndarray, fs: float) -> np.ndarray:
    """QRS band (5-18 Hz, zero-phase) of each column; zeros when the band does not fit ``fs``."""
    high = min(_BAND_HZ[1], 0.45 * fs)
    if high <= _BAND_HZ[0] or x.shape[0] < 16:
        return np.zeros_like(x)
    sos = scipy.signal.butter(2, [_BAND_HZ[0], high], btype="bandpass", fs=fs, output="sos")
    padlen = min(x.shape[0] - 1, 3 * (2 * sos.shape[0] + 1))
    return scipy.signal.sosfiltfilt(sos, x, axis=0, padlen=padlen)


def _agreement(a: np.ndarray, b: np.ndarray, fs: float) -> float:
    """F1 of two peak trains matched within ``_MATCH_TOL_SEC``."""
    if a.size == 0 or b.size == 0:
        return 0.0
    tol = _MATCH_TOL_SEC * fs
    matched = min(_count_matched(a, b, tol), _count_matched(b, a, tol))
    return 2.0 * matched / (a.size + b.size)


def _count_matched(a: np.ndarray, b: np.ndarray, tol: float) -> int:
    return int(np.count_nonzero(_nearest_distance(a, b) <= tol))


def _nearest_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each element of ``a`` to the nearest element of sorted ``b`` (inf when empty)."""
    if b.size == 0:
        return np.full(a.size, np.inf)
    idx = np.clip(np.searchsorted(b, a), 1, max(1, b.size - 1)) if b.size > 1 else np.zeros(a.size, dtype=int)
    return np.minimum(np.abs(a - b[idx]), np.abs(a - b[np.maximum(idx - 1, 0)])).astype(float)


def _prominence(band_abs: np.ndarray, peaks: np.ndarray, fs: float) -> float:
    """Median QRS-band amplitude near the peaks over the median amplitude of the whole lead."""
    if peaks.size == 0:
        return 0.0
    half = max(1, round(0.05 * fs))
    local = [band_abs[max(0, p - half): p + half + 1].max() for p in peaks.tolist()]
    return float(np.median(local) / (np.median(band_abs) + 1e-12))


def _rr_plausible_fraction(peaks: np.ndarray, fs: float) -> float:
    if peaks.size < 2:
        return 0.0
    rr = np.diff(peaks) / fs
    return float(np.mean((rr >= _RR_RANGE_SEC[0]) & (rr <= _RR_RANGE_SEC[1])))


def _energy_peaks(band: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed, lead-normalised QRS-band energy of all leads, and its peaks (candidate beats)."""
    scale = np.percentile(np.abs(band), 99, axis=0) if band.size else np.zeros(band.shape[1])
    live = scale > 0
    if not np.any(live):
        return np.zeros(band.shape[0]), np.zeros(0, dtype=np.int64)
    energy = np.sum((band[:, live] / scale[live]) ** 2, axis=1)
    width = max(1, round(0.08 * fs))
    smooth = np.convolve(energy, np.ones(width) / width, mode="same")
    height = 0.3 * np.percentile(smooth, 99)
    found, _ = scipy.signal.find_peaks(smooth, height=height, distance=max(1, round(_REFRACTORY_SEC * fs)))
    return smooth, np.unique(_argmax_near(energy, found, max(1, round(0.05 * fs))))


def _argmax_near(values: np.ndarray, centres: np.ndarray, half: int) -> np.ndarray:
    """For each centre, the index of the largest value within ``half`` samples of it."""
    starts = [max(0, c - half) for c in centres.tolist()]
    out = [s + int(np.argmax(values[s: c + half + 1])) for s, c in zip(starts, centres.tolist(), strict=True)]
    return np.asarray(out, dtype=np.int64)


def _accept_energy_peaks(smooth: np.ndarray, peaks: np.ndarray, fs: float) -> np.ndarray:
    """The energy detector's beats when they stand out from the background (else none: noise)."""
    empty = np.zeros(0, dtype=np.int64)
    if peaks.size < 2 or _rr_plausible_fraction(peaks, fs) < 0.5:
        return empty
    if np.median(smooth[peaks]) < _MIN_ENERGY_PROMINENCE * (np.median(smooth) + 1e-12):
        return empty
    return peaks


# --- delineation ----------------------------------------------------------------------------------------

#: Delineations kept (a comparison evaluates every method of a record before moving on, or every
#: record of a method: 256 records cover the reference set at a few kB each).
_DELINEATION_CACHE_SIZE = 256
_DELINEATIONS: OrderedDict[bytes, dict[str, np.ndarray]] = OrderedDict()


def _nk_delineate(lead: np.ndarray, fs: float, peaks: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`_nk_delineate_uncached`, remembered for the last records seen: the evaluator delineates
    the same record once per method and class, and neurokit2's delineation is its slowest step."""
    key = hashlib.blake2b(np.ascontiguousarray(lead, dtype=np.float64).tobytes()
                          + np.ascontiguousarray(peaks, dtype=np.int64).tobytes()
                          + repr(float(fs)).encode(), digest_size=16).digest()
    if key not in _DELINEATIONS:
        _DELINEATIONS[key] = _nk_delineate_uncached(lead, fs, peaks)
        if len(_DELINEATIONS) > _DELINEATION_CACHE_SIZE:
            _DELINEATIONS.popitem(last=False)
    _DELINEATIONS.move_to_end(key)
    return {name: values.copy() for name, values in _DELINEATIONS[key].items()}


def _nk_delineate_uncached(lead: np.ndarray, fs: float, peaks: np.ndarray) -> dict[str, np.ndarray]:
    """neurokit2 dwt boundaries aligned with ``peaks`` (NaN where missing or when delineation fails).

    The cleaned lead is padded with a second of zeros on each side: neurokit2 silently drops
    boundaries at or before sample 0, which would misalign its per-beat lists with the R-peaks.
    """
    import neurokit2 as nk

    nan = {key: np.full(peaks.size, np.nan) for key in _NK_KEYS}
    if peaks.size < 2:
        return nan
    pad = round(_DELINEATION_PAD_SEC * fs)
    cleaned = _nk_clean(lead, fs)
    # neurokit2's dwt picks P and T peaks by a score adding amplitude (signal units) to time (seconds),
    # so the result depends on the units: scale the lead to R waves of 1 (as if in mV, with the
    # R-peaks upright) so that mV, ADC or any other units give the same boundaries
    height = float(np.median(cleaned[peaks]))
    if height == 0 or not math.isfinite(height):
        return nan
    cleaned = cleaned / height
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            padded = np.concatenate([np.zeros(pad), cleaned, np.zeros(pad)])
            _, waves = nk.ecg_delineate(padded, peaks + pad, sampling_rate=_nk_rate(fs), method="dwt")
    except Exception as exc:  # neurokit2 raises assorted errors on odd beats
        log.debug("neurokit2 ecg_delineate failed: %s: %s", type(exc).__name__, exc)
        return nan
    out = {}
    for key, nk_key in _NK_KEYS.items():
        values = np.asarray(waves.get(nk_key, []), dtype=float)
        out[key] = values - pad if values.size == peaks.size else np.full(peaks.size, np.nan)
    return out


def _qrs_bounds(x: np.ndarray, fs: float, peaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """QRS onset and offset of each beat from the spatial velocity of all leads.

    The spatial velocity (root sum of squared slopes of the 0.5-40 Hz leads, smoothed over 10 ms) is
    high during the QRS complex and low around it. Per beat, with ``base`` its 10th percentile
    between the midpoints to the neighbouring R-peaks and ``peak`` its maximum within 50 ms of the
    R-peak, the onset (offset) is where it last (first) stays below ``base + 8% (peak - base)``
    for 12 ms before (after) that maximum, searched within 150 ms before and 200 ms after the R-peak.
    """
    n = x.shape[0]
    on = np.full(peaks.size, np.nan)
    off = np.full(peaks.size, np.nan)
    high = min(_QRS_BAND_HZ[1], 0.45 * fs)
    if peaks.size == 0 or n < 16 or high <= _QRS_BAND_HZ[0]:
        return on, off
    sos = scipy.signal.butter(2, [_QRS_BAND_HZ[0], high], btype="bandpass", fs=fs, output="sos")
    y = scipy.signal.sosfiltfilt(sos, x, axis=0, padlen=min(n - 1, 3 * (2 * sos.shape[0] + 1)))
    velocity = np.sqrt(np.sum(np.diff(y, axis=0, prepend=y[:1]) ** 2, axis=1))
    width = max(1, round(0.01 * fs))
    velocity = np.convolve(velocity, np.ones(width) / width, mode="same")
    k = max(1, round(_QRS_QUIET_SEC * fs))
    mids = np.concatenate([[0], (peaks[:-1] + peaks[1:]) // 2, [n]])
    near = max(1, round(0.05 * fs))
    for i, r in enumerate(peaks.tolist()):
        lo = max(int(mids[i]), r - round(0.15 * fs))
        hi = min(int(mids[i + 1]), r + round(0.20 * fs))
        base = np.percentile(velocity[mids[i]: mids[i + 1]], 10)
        a = max(0, r - near)
        c = a + int(np.argmax(velocity[a: min(n, r + near + 1)]))
        below = velocity[lo:hi] < base + _QRS_THRESHOLD * (velocity[c] - base)
        # quiet[t]: below threshold for the k samples ending at lo + t
        runs = np.convolve(below.astype(np.int32), np.ones(k, dtype=np.int32), mode="full")
        quiet = runs[: below.size] == k
        before = np.flatnonzero(quiet[: max(0, min(c, r) - lo + 1)])
        if before.size:
            on[i] = lo + before[-1] + 1
        after = np.flatnonzero(quiet[max(c, r + 1) - lo + k - 1:])
        if after.size:
            off[i] = max(c, r + 1) + after[0]
    return on, off


def _discard_implausible(table: pd.DataFrame, fs: float, n: int) -> None:
    """Set to NaN the boundaries that cannot be right (see :func:`delineate_beats`)."""
    r = table["r_peak"].to_numpy()
    prev_r = np.concatenate([[-np.inf], r[:-1]])
    next_r = np.concatenate([r[1:], [np.inf]])
    for key, (lo, hi) in _BOUNDARY_LIMITS_SEC.items():
        v = table[key].to_numpy(copy=True)
        with np.errstate(invalid="ignore"):
            bad = (v < r + lo * fs) | (v > r + hi * fs) | (v <= prev_r) | (v >= next_r) | (v < 0) | (v > n)
        v[bad] = np.nan
        table[key] = v

    def invalidate(key: str, mask: np.ndarray) -> None:
        v = table[key].to_numpy(copy=True)
        v[mask] = np.nan
        table[key] = v

    with np.errstate(invalid="ignore"):
        # trust the QRS over P and T: a P offset after QRS onset, or a T onset before QRS offset, goes
        invalidate("p_off", table["p_off"].to_numpy() > table["qrs_on"].to_numpy())
        invalidate("t_on", table["t_on"].to_numpy() < table["qrs_off"].to_numpy())
        for (first, second), (shortest, longest) in _DURATION_LIMITS_SEC.items():
            duration = table[second].to_numpy() - table[first].to_numpy()
            wrong = (duration < shortest * fs) | (duration > longest * fs)
            invalidate(first, wrong)
            invalidate(second, wrong)
