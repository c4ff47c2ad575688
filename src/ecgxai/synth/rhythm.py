"""Beat timing: sinus rhythm with heart-rate variability, atrial fibrillation, premature beats.

Times are QRS onsets in seconds from the start of the record; beats are planned from a little
before the record starts to a little after it ends, so the record opens and closes mid-cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgxai.errors import ConfigurationError

#: Shortest and longest RR interval allowed (s): ventricular refractoriness and a long AF pause.
MIN_RR, MAX_RR = 0.34, 2.2
#: Beats whose QRS onset is this far (s) past the end are still planned (their P wave may show).
TAIL = 0.5
SINUS, AF, PVC = "sinus", "af", "pvc"
#: Longest corrected QT the generator draws (s); bounds how early the next beat may come.
MAX_QTC = 0.44


@dataclass(frozen=True)
class BeatPlan:
    """QRS onset times (s) and the kind of each beat (``sinus``, ``af`` or ``pvc``)."""

    onsets: np.ndarray
    kinds: tuple[str, ...]

    @property
    def rr_before(self) -> np.ndarray:
        """RR interval preceding each beat (the first beat borrows the second's)."""
        rr = np.diff(self.onsets)
        return np.concatenate([rr[:1], rr]) if rr.size else np.array([1.0])


def beats_needed(duration: float, mean_rr: float) -> int:
    """Enough beats to cover the record from one beat before it to TAIL after it."""
    return int(np.ceil((duration + TAIL + 2 * mean_rr) / (0.6 * mean_rr))) + 2


def sinus_intervals(rng: np.random.Generator, n: int, mean_rr: float, hrv: float) -> np.ndarray:
    """RR intervals of sinus rhythm: respiratory sinus arrhythmia (~0.15-0.4 Hz, relative amplitude
    ``hrv``), a slow drift and beat-to-beat jitter (``hrv / 2``)."""
    beat_times = np.arange(n) * mean_rr
    resp_hz = rng.uniform(0.15, 0.4)
    drift_hz = rng.uniform(0.03, 0.1)
    rsa = hrv * np.sin(2 * np.pi * resp_hz * beat_times + rng.uniform(0, 2 * np.pi))
    drift = 0.5 * hrv * np.sin(2 * np.pi * drift_hz * beat_times + rng.uniform(0, 2 * np.pi))
    jitter = rng.normal(0.0, hrv / 2, n)
    return np.clip(mean_rr * (1 + rsa + drift + jitter), MIN_RR, MAX_RR)


def af_intervals(rng: np.random.Generator, n: int, mean_rr: float, cv: float) -> np.ndarray:
    """Irregularly irregular RR intervals: independent log-normal draws (no pattern, no memory),
    except that a beat cannot come before the previous one has repolarised (refractoriness)."""
    sigma = np.sqrt(np.log1p(cv**2))
    rr = np.clip(mean_rr * np.exp(rng.normal(-sigma**2 / 2, sigma, n)), MIN_RR, MAX_RR)
    for i in range(1, n):
        rr[i] = max(rr[i], refractory_period(rr[i - 1]))
    return rr


def refractory_period(rr_before: float) -> float:
    """Shortest RR (s) after a beat preceded by ``rr_before``: its longest plausible QT plus 60 ms."""
    return float(qt_interval(rr_before, MAX_QTC)) + 0.06


def plan_from_intervals(rng: np.random.Generator, rr: np.ndarray, duration: float, kind: str) -> BeatPlan:
    """Place beats from RR intervals, starting at a random phase before t = 0."""
    start = -rr[0] - rng.uniform(0.0, rr[1])
    onsets = start + np.concatenate([[0.0], np.cumsum(rr[1:])])
    onsets = onsets[onsets < duration + TAIL]
    return BeatPlan(onsets=onsets, kinds=(kind,) * onsets.size)


def insert_pvcs(rng: np.random.Generator, plan: BeatPlan, n_pvc: int, duration: float,
                coupling: tuple[float, float] = (0.55, 0.7)) -> BeatPlan:
    """Replace ``n_pvc`` sinus beats by premature ventricular beats.

    A PVC fires at ``coupling`` x RR after the previous beat; the next sinus beat keeps its own time,
    so the pause after the PVC is fully compensatory (short + long = 2 RR). PVCs are kept at least
    two sinus beats apart and fully inside the record, with their pause.
    """
    onsets = plan.onsets.copy()
    kinds = list(plan.kinds)
    candidates = [i for i in range(1, onsets.size - 1)
                  if onsets[i - 1] > 0.3 and onsets[i + 1] < duration - 0.8]
    chosen: list[int] = []
    for i in rng.permutation(candidates):
        if len(chosen) == n_pvc:
            break
        if all(abs(int(i) - j) >= 3 for j in chosen):
            chosen.append(int(i))
    if n_pvc and not chosen:
        raise ConfigurationError(f"a {duration:g} s record is too short to hold a premature beat with its "
                                 "pause; use at least 5 s")
    for i in chosen:
        rr = onsets[i] - onsets[i - 1]
        onsets[i] = onsets[i - 1] + rng.uniform(*coupling) * rr
        kinds[i] = PVC
    return BeatPlan(onsets=onsets, kinds=tuple(kinds))


def qt_interval(rr: np.ndarray | float, qtc: float) -> np.ndarray:
    """QT (s) for the preceding RR (s) by Bazett's formula, QT = QTc * sqrt(RR)."""
    return qtc * np.sqrt(np.asarray(rr, dtype=float))
