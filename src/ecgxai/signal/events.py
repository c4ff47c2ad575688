"""Events: the time windows of a 12-lead ECG that explainers perturb and plots label.

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
:data:`~ecgxai.signal.peaks.MIN_BEAT_SIGNAL_SEC`) or none of them yields a window (over the whole
input when it is all zeros).

Zero padding: a trailing block of all-zero rows is the end of the signal (see
:mod:`ecgxai.signal.arrays`). Units do not matter (mV and ADC values give the same events).

Cost on 2 CPU cores for a 10 s, 12-lead, 500 Hz record: about 30 ms for ``beat_qrs`` and
``qrs_family`` (R-peaks, :mod:`ecgxai.signal.peaks`) and 0.1 s for ``waves`` (delineation,
:mod:`ecgxai.signal.delineate`); ``uniform`` is immediate. The first call also imports neurokit2 (~0.5 s).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from ecgxai.errors import ConfigurationError
from ecgxai.io.records import check_fs
from ecgxai.signal.arrays import as_signal, lead_names_of, signal_length
from ecgxai.signal.delineate import delineate_beats
from ecgxai.signal.peaks import find_r_peaks

log = logging.getLogger(__name__)

EVENT_KINDS: tuple[str, ...] = ("uniform", "beat_qrs", "qrs_family", "waves")
#: Defaults of the segmentation parameters (times in seconds).
DEFAULT_PARAMS: dict[str, Any] = {"event_kind": "uniform", "window_sec": 0.5, "pre": 0.25, "post": 0.45}

#: ``qrs_family`` windows relative to the R-peak (seconds): QRS [-0.05, 0.05), terminal [0.05, 0.16).
QRS_FAMILY_SEC: tuple[float, float, float] = (-0.05, 0.05, 0.16)
#: ``waves`` fallback boundaries relative to the R-peak (seconds): P on, P off, QRS on, QRS off, T on, T off.
WAVE_TEMPLATE_SEC: tuple[float, ...] = (-0.20, -0.12, -0.05, 0.05, 0.15, 0.40)
WAVE_KINDS: tuple[str, ...] = ("p", "pr", "qrs", "st", "t")
#: Where consecutive beats split the RR interval for ``waves`` (fraction of RR after the first R-peak).
WAVE_SPLIT_FRACTION = 0.6


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
    x = as_signal(x)
    fs = check_fs(fs)
    names = lead_names_of(x, lead_names)
    kind = settings["event_kind"]
    n_total = x.shape[0]
    if kind == "uniform" or n_total == 0:
        return _uniform_events(0, n_total, fs, settings["window_sec"])

    n_real = signal_length(x)
    found = find_r_peaks(x[:n_real], fs, names)
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
