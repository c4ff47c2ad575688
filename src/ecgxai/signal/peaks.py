"""R-peaks by ecgxai's multi-lead detector (neurokit2's ``ecg_peaks`` checked across leads).

:func:`detect_r_peaks`: ``neurokit2.ecg_clean`` + ``neurokit2.ecg_peaks`` on each of leads II, V5,
I, V3 and V2 (those present), upright and turned over (neurokit2 looks for positive R waves and
misses or misplaces downward QS complexes). The beat train that agrees best with the other leads'
and with a multi-lead QRS-energy detector (band-pass 5-18 Hz, all leads) is used, preferring among
equals a lead whose QRS complexes stand out clearly, then the leads in that order. Beats the energy
detector finds and neurokit2 missed (often the first or last beat, early ectopic beats) are added;
peaks without QRS energy (a P wave just before a recording stops) are dropped. When no lead gives a
convincing beat train, the energy detector alone is used if its beats stand out from the background;
otherwise there are no beats (an empty array), never an exception. About 30 ms for a 10 s, 12-lead,
500 Hz record on 2 CPU cores.

The original toolkit's own detector, which the evaluation uses, is in
:mod:`ecgxai.signal.peaks_original`.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.signal

from ecgxai.io.records import check_fs
from ecgxai.signal.arrays import as_signal, lead_names_of, signal_length
from ecgxai.signal.clean import clean_lead, nk_rate

log = logging.getLogger(__name__)

#: Leads tried for R-peak detection, in order of preference among leads that detect beats about
#: equally well (II and V5 first: the dwt delineation of P and T waves is most reliable on them).
PEAK_LEADS: tuple[str, ...] = ("II", "V5", "I", "V3", "V2")
#: Signals (real part) shorter than this have no beats.
MIN_BEAT_SIGNAL_SEC = 1.0


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


def detect_r_peaks(x: np.ndarray, fs: float, lead_names: Sequence[str] | None = None) -> np.ndarray:
    """R-peak sample indices (sorted, unique, int64) of ``x`` (T, L); empty when there is no beat.

    Zero padding at the end is ignored. Never raises on flat, noisy or very short signals.
    """
    x = as_signal(x)
    fs = check_fs(fs)
    names = lead_names_of(x, lead_names)
    return find_r_peaks(x[: signal_length(x)], fs, names).peaks


@dataclass(frozen=True)
class PeakTrain:
    """R-peaks, the lead (column) they were found on and how: "neurokit2", "energy" or "none"."""

    peaks: np.ndarray
    lead: int
    source: str


def find_r_peaks(x: np.ndarray, fs: float, names: Sequence[str]) -> PeakTrain:
    """R-peaks of the real (unpadded) signal ``x``, with the lead they were found on."""
    n = x.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    candidates = _candidate_leads(x, fs, names)
    default_lead = candidates[0] if candidates else 0
    if n < MIN_BEAT_SIGNAL_SEC * fs or not candidates:
        return PeakTrain(empty, default_lead, "none")
    band = _bandpass(x, fs)
    energy, reference = _energy_peaks(band, fs)  # a multi-lead QRS detector, independent of neurokit2
    cleaned = {j: clean_lead(x[:, j], fs) for j in candidates}
    # both polarities of each lead: neurokit2 looks for positive R waves and misses or misplaces the
    # QRS complexes of leads where they point down (QS complexes in V1-V3, deep S waves)
    trains = {(j, sign): _nk_peaks(sign * cleaned[j], fs) for j in candidates for sign in (1, -1)}
    multi = len({j for (j, _), p in trains.items() if p.size}) >= 2
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
        convincing = (
            peaks.size >= 2
            and plausible >= 0.5
            and prominence >= (_MIN_PROMINENCE if multi else _MIN_PROMINENCE_SINGLE)
            and (not multi or agreement >= _MIN_AGREEMENT)
        )
        scored.append((score, convincing, -candidates.index(j), sign, j))
    # among the trains within _SCORE_MARGIN (about one beat) of the best, a convincing one (a lead
    # whose QRS complexes stand out) before the most preferred lead, which may show them less clearly
    top = max(item[0] for item in scored)
    near = [item for item in scored if item[0] >= top - _SCORE_MARGIN]
    _, accepted, _, sign, best = max(near, key=lambda item: item[1:4])
    if accepted:
        peaks = _add_missed_beats(trains[(best, sign)], reference, energy, sign * cleaned[best], fs)
        return PeakTrain(_drop_weak_beats(peaks, energy, fs), best, "neurokit2")
    fallback = _accept_energy_peaks(energy, reference, fs)
    if fallback.size >= 2:
        log.debug("R-peaks from the band-pass energy detector (neurokit2 found no convincing beats)")
        return PeakTrain(fallback, best, "energy")
    return PeakTrain(empty, best, "none")


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


def _nk_peaks(cleaned: np.ndarray, fs: float) -> np.ndarray:
    """neurokit2's R-peaks of a cleaned lead (empty when neurokit2 fails)."""
    import neurokit2 as nk

    if cleaned.size == 0 or not np.any(cleaned):
        return np.zeros(0, dtype=np.int64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, info = nk.ecg_peaks(cleaned, sampling_rate=nk_rate(fs))
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=float)
    except Exception as exc:  # neurokit2 raises TypeError/ValueError/IndexError on odd input
        log.debug("neurokit2 ecg_peaks failed: %s: %s", type(exc).__name__, exc)
        return np.zeros(0, dtype=np.int64)
    peaks = peaks[np.isfinite(peaks)].astype(np.int64)
    return np.unique(peaks[(peaks >= 0) & (peaks < cleaned.size)])


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
