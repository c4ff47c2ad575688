"""Beat morphology as a sum of 3-D Gaussian dipole waves (a simple vectorcardiogram model).

Each wave is one deflection of the heart vector (P, q, R, S, R', T, ...): a time, a width on each
side and a 3-D peak vector in mV. Projecting the summed dipole on the lead vectors gives every lead
the same beat seen from its own direction, so the 12 leads stay mutually consistent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ecgxai.synth.geometry import rotation
from ecgxai.synth.noise import smooth_random

#: A wave "lasts" this many widths either side of its peak (the Gaussian is then ~4% of its peak);
#: wave, QRS and T boundaries of the ground truth are defined with it.
EXTENT = 2.5

#: Wave groups: atrial depolarisation, ventricular depolarisation, ventricular repolarisation.
P, QRS, STT = "P", "QRS", "ST-T"


@dataclass(frozen=True)
class Wave:
    """One Gaussian dipole deflection; ``center`` (s) is relative to the template origin."""

    name: str
    group: str
    center: float
    sigma_left: float
    sigma_right: float
    vector: tuple[float, float, float]

    @property
    def onset(self) -> float:
        """Start of the wave (EXTENT widths before the peak), in s from the template origin."""
        return self.center - EXTENT * self.sigma_left

    @property
    def offset(self) -> float:
        """End of the wave (EXTENT widths after the peak), in s from the template origin."""
        return self.center + EXTENT * self.sigma_right


def _w(name: str, group: str, center_ms: float, sl_ms: float, sr_ms: float,
       vector: tuple[float, float, float]) -> Wave:
    """Shorthand for archetype tables written in milliseconds."""
    return Wave(name, group, center_ms / 1000, sl_ms / 1000, sr_ms / 1000, vector)


# --- archetypes (origin = P onset for P waves, QRS onset otherwise; T waves end at t = 0 and are
# --- moved to the beat's QT interval when the beat is placed) -----------------------------------

P_WAVES: tuple[Wave, ...] = (
    _w("P_ra", P, 40, 16, 16, (0.02, 0.10, 0.07)),  # right atrium: inferior, anterior
    _w("P_la", P, 64, 16, 16, (0.10, 0.06, -0.07)),  # left atrium: leftward, posterior
)

NORMAL_QRS: tuple[Wave, ...] = (
    _w("q", QRS, 14, 5.5, 5.5, (-0.14, 0.02, 0.25)),  # septum, left to right and anterior
    _w("R1", QRS, 32, 8, 8, (0.45, 0.50, 0.60)),  # apex and anterior wall
    _w("R2", QRS, 48, 9, 9, (0.80, 0.75, -0.60)),  # left ventricular free wall
    _w("S", QRS, 68, 8, 8, (-0.25, -0.20, -0.55)),  # basal, rightward posterior
)

RBBB_QRS: tuple[Wave, ...] = (
    *NORMAL_QRS[:3],
    _w("R'", QRS, 106, 16, 17, (-0.75, -0.05, 0.62)),  # late right ventricle: rightward, anterior
)

LBBB_QRS: tuple[Wave, ...] = (
    _w("Ri", QRS, 22, 10, 10, (0.45, 0.12, 0.08)),  # septum from the right: no q in I/V6, QS/rS in V1
    _w("Ra", QRS, 58, 16, 16, (1.05, 0.40, -0.90)),  # first peak of the notched R
    _w("Rb", QRS, 100, 16, 16, (1.20, 0.05, -0.90)),  # second peak (slow myocyte-to-myocyte spread)
)

#: Repolarisation: T concordant with the QRS axis for normal conduction.
NORMAL_STT: tuple[Wave, ...] = (_w("T", STT, -80, 55, 32, (0.30, 0.25, 0.12)),)
#: RBBB: secondary T inversion in V1-V2 (discordant to the terminal R').
RBBB_STT: tuple[Wave, ...] = (_w("T", STT, -80, 55, 32, (0.32, 0.20, -0.22)),)
#: LBBB: ST deviation and T opposite to the main QRS vector (discordant).
LBBB_STT: tuple[Wave, ...] = (
    _w("ST", STT, -190, 60, 60, (-0.12, -0.02, 0.14)),
    _w("T", STT, -85, 55, 35, (-0.35, -0.05, 0.38)),
)

#: Ectopic ventricular beats: (QRS waves, ST-T waves) per site of origin.
PVC_ORIGINS: dict[str, tuple[tuple[Wave, ...], tuple[Wave, ...]]] = {
    # left-ventricular focus: RBBB-like, superior axis (negative in II)
    "lv": (
        (
            _w("V1", QRS, 45, 20, 20, (-0.60, -1.05, 0.70)),
            _w("V2", QRS, 92, 18, 22, (-0.80, -0.45, 1.00)),
            _w("V3", QRS, 140, 12, 12, (-0.15, -0.05, 0.20)),
        ),
        (_w("T", STT, -95, 55, 40, (0.40, 0.50, -0.40)),),
    ),
    # right-ventricular outflow tract: LBBB-like, inferior axis (tall in II, III, aVF)
    "rvot": (
        (
            _w("V1", QRS, 45, 20, 20, (0.20, 1.40, -0.60)),
            _w("V2", QRS, 95, 19, 22, (0.60, 1.00, -0.90)),
            _w("V3", QRS, 140, 12, 12, (0.15, 0.15, -0.20)),
        ),
        (_w("T", STT, -95, 55, 40, (-0.30, -0.50, 0.45)),),
    ),
}


def shift(waves: Iterable[Wave], dt: float) -> tuple[Wave, ...]:
    """The waves moved by ``dt`` seconds."""
    return tuple(replace(w, center=w.center + dt) for w in waves)


def onset(waves: Sequence[Wave]) -> float:
    """Earliest wave onset of a group of waves (s)."""
    return min(w.onset for w in waves)


def offset(waves: Sequence[Wave]) -> float:
    """Latest wave offset of a group of waves (s)."""
    return max(w.offset for w in waves)


def randomize(waves: Sequence[Wave], rng: np.random.Generator, *, rot: np.ndarray, amp: float,
              time_scale: float, amp_jitter: float = 0.12, dir_jitter: float = 0.06) -> tuple[Wave, ...]:
    """One person's version of an archetype: rotated axis, scaled amplitude and duration, each wave
    jittered a little so no two records share a morphology."""
    out = []
    for w in waves:
        vec = rot @ np.asarray(w.vector)
        norm = float(np.linalg.norm(vec))
        vec = vec + rng.normal(0.0, dir_jitter * norm, 3)
        vec = vec * amp * float(rng.uniform(1 - amp_jitter, 1 + amp_jitter))
        out.append(replace(
            w,
            center=w.center * time_scale,
            sigma_left=w.sigma_left * time_scale,
            sigma_right=w.sigma_right * time_scale,
            vector=(float(vec[0]), float(vec[1]), float(vec[2])),
        ))
    return tuple(out)


def random_rotation(rng: np.random.Generator, frontal_deg: float, other_deg: float) -> np.ndarray:
    """A small random rotation of the heart vector: +-frontal_deg in the frontal plane, +-other_deg
    about the other two axes."""
    ax, ay = rng.uniform(-other_deg, other_deg, 2)
    az = rng.uniform(-frontal_deg, frontal_deg)
    return rotation(ax, ay, az)


@dataclass(frozen=True)
class WaveTable:
    """Many placed waves as flat arrays (absolute times in s), ready to render in one pass."""

    center: np.ndarray
    sigma_left: np.ndarray
    sigma_right: np.ndarray
    vector: np.ndarray  # (n_waves, 3) mV

    @classmethod
    def from_waves(cls, placed: Sequence[tuple[Wave, float, float]]) -> WaveTable:
        """Build from (wave, time offset s, amplitude factor) triples."""
        if not placed:
            empty = np.zeros(0)
            return cls(empty, empty, empty, np.zeros((0, 3)))
        return cls(
            center=np.array([w.center + t for w, t, _ in placed]),
            sigma_left=np.array([w.sigma_left for w, _, _ in placed]),
            sigma_right=np.array([w.sigma_right for w, _, _ in placed]),
            vector=np.array([np.asarray(w.vector) * a for w, _, a in placed]),
        )


def render(table: WaveTable, n_samples: int, fs: float) -> np.ndarray:
    """Sum the waves into a (3, n_samples) dipole signal in mV.

    Each wave is evaluated only on its own window (+-5 widths), all waves at once, and the windows
    are accumulated with ``np.bincount``: a 10 s record renders in about a millisecond.
    """
    dipole = np.zeros((3, n_samples))
    if table.center.size == 0:
        return dipole
    half = int(np.ceil(5 * max(table.sigma_left.max(), table.sigma_right.max()) * fs))
    first = np.round(table.center * fs).astype(np.int64) - half
    idx = first[:, None] + np.arange(2 * half + 1)[None, :]
    dt = idx / fs - table.center[:, None]
    sigma = np.where(dt < 0, table.sigma_left[:, None], table.sigma_right[:, None])
    shape = np.exp(-0.5 * (dt / sigma) ** 2)
    keep = (idx >= 0) & (idx < n_samples)
    flat_idx, flat_shape = idx[keep], shape[keep]
    rows = np.nonzero(keep)[0]
    for axis in range(3):
        weights = flat_shape * table.vector[rows, axis]
        dipole[axis] = np.bincount(flat_idx, weights=weights, minlength=n_samples)
    return dipole


#: Directions of the two fibrillatory components: anterior-inferior (largest in V1, then II, III,
#: aVF) and a weaker leftward-inferior one, each drifting independently.
F_WAVE_DIRECTIONS: tuple[tuple[float, float, float], ...] = ((-0.30, 0.55, 0.78), (0.35, 0.85, 0.20))


def fibrillatory_waves(rng: np.random.Generator, n_samples: int, fs: float, *,
                       amplitude_mv: float, rot: np.ndarray) -> np.ndarray:
    """(3, n_samples) atrial fibrillation dipole: disorganised 4-9 Hz f waves.

    Each component is a sawtooth-like oscillation whose rate (5-8 Hz, wandering +-10%) and
    amplitude wander independently, so the baseline never settles into flutter-like regularity.
    """
    t = np.arange(n_samples) / fs
    dipole = np.zeros((3, n_samples))
    for k, direction in enumerate(F_WAVE_DIRECTIONS):
        rate = rng.uniform(5.0, 8.0) * (1 + 0.10 * np.clip(smooth_random(rng, t, 1.0), -2, 2))
        phase = 2 * np.pi * np.cumsum(rate) / fs + rng.uniform(0, 2 * np.pi)
        wave = np.sin(phase) + 0.35 * np.sin(2 * phase + rng.uniform(0, 2 * np.pi))
        envelope = np.clip(1 + 0.35 * smooth_random(rng, t, 0.7), 0.3, 1.8)
        vec = rot @ (np.asarray(direction) / np.linalg.norm(direction))
        scale = amplitude_mv * (1.0 if k == 0 else 0.5)
        dipole += scale * vec[:, None] * (envelope * wave)[None, :]
    return dipole
