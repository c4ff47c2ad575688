"""Delineation: the P, QRS and T boundaries of each beat (neurokit2's dwt for P and T; QRS from all leads).

neurokit2's delineation is the slowest signal step (about 0.1 s for a 10 s, 12-lead, 500 Hz record:
the dwt resamples to 2 kHz internally), and the evaluator delineates the same record once per
method and class, so results are kept by content (a hash of the lead, the R-peaks and the rate)
for the last records seen.
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.signal

from ecgxai.errors import ConfigurationError
from ecgxai.io.records import check_fs
from ecgxai.signal.arrays import as_signal, lead_names_of, signal_length
from ecgxai.signal.clean import clean_lead, nk_rate
from ecgxai.signal.peaks import find_r_peaks

log = logging.getLogger(__name__)

DELINEATION_COLUMNS: tuple[str, ...] = ("r_peak", "p_on", "p_off", "qrs_on", "qrs_off", "t_on", "t_off")
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
    one lead: ``lead`` (name or column index), by default the lead
    :func:`~ecgxai.signal.peaks.detect_r_peaks` uses;
    ``table.attrs["lead"]`` names it. QRS onset and offset come from the spatial velocity of all
    leads (the first and last samples around the R-peak where the summed slope of the leads rises
    above 8% of its QRS peak), because neurokit2's dwt QRS bounds are systematically too wide
    (onsets near the P peak; median QRS durations of 150-200 ms on normal 12-lead records).
    """
    x = as_signal(x)
    fs = check_fs(fs)
    names = lead_names_of(x, lead_names)
    n_real = signal_length(x)
    x = x[:n_real]
    peaks = np.unique(np.asarray(r_peaks, dtype=np.int64).ravel())
    peaks = peaks[(peaks >= 0) & (peaks < n_real)]
    j = _delineation_lead(x, fs, names, lead)
    raw = _nk_delineate(x[:, j], fs, peaks)
    raw["qrs_on"], raw["qrs_off"] = _qrs_bounds(x, fs, peaks)
    table = pd.DataFrame({"r_peak": peaks.astype(float)})
    for key in DELINEATION_COLUMNS[1:]:
        table[key] = raw[key]
    _discard_implausible(table, fs, n_real)
    table.attrs["lead"] = names[j]
    table.attrs["method"] = "neurokit2 dwt (P, T) + spatial velocity (QRS)"
    return table


def _delineation_lead(x: np.ndarray, fs: float, names: Sequence[str], lead: str | int | None) -> int:
    """Column of the lead to delineate: ``lead`` by name or index, else the R-peak detector's lead."""
    if lead is None:
        return find_r_peaks(x, fs, names).lead
    if isinstance(lead, str):
        if lead not in names:
            raise ConfigurationError(f"lead {lead!r} not among the lead names {list(names)}")
        return names.index(lead)
    j = int(lead)
    if not 0 <= j < x.shape[1]:
        raise ConfigurationError(f"lead index {j} out of range for {x.shape[1]} leads")
    return j


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
    cleaned = clean_lead(lead, fs)
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
            _, waves = nk.ecg_delineate(padded, peaks + pad, sampling_rate=nk_rate(fs), method="dwt")
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
