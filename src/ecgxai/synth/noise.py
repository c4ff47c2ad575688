"""Recording artefacts, added at the nine electrodes so the 12 leads share them consistently.

White measurement noise, baseline wander (slow sinusoids from breathing and electrode motion) and
optional mains interference are drawn per electrode (RA, LA, LL, V1-V6) and mapped to the leads
the way an electrocardiograph derives them, so Einthoven's law (III = II - I) still holds.
"""

from __future__ import annotations

import numpy as np

from ecgxai.synth.geometry import ELECTRODES, ELECTRODES_TO_LEADS


def smooth_random(rng: np.random.Generator, t: np.ndarray, rate_hz: float) -> np.ndarray:
    """A smooth zero-mean, unit-scale random curve over times ``t`` (knots every 1/rate_hz s)."""
    knots = np.arange(t[0] - 1 / rate_hz, t[-1] + 2 / rate_hz, 1 / rate_hz)
    return np.interp(t, knots, rng.normal(0.0, 1.0, knots.size))


def electrode_artefacts(rng: np.random.Generator, n_samples: int, fs: float, *, noise_mv: float,
                        wander_mv: float, powerline_mv: float = 0.0,
                        powerline_hz: float = 50.0) -> np.ndarray:
    """(12, n_samples) artefacts in mV.

    ``noise_mv`` is the standard deviation of the white noise on a bipolar limb lead (chest leads get
    ~0.8 of it); ``wander_mv`` is the typical amplitude of baseline wander on a lead (two sinusoids
    of 0.05-0.5 Hz per electrode); ``powerline_mv`` the amplitude of mains hum on a lead.
    """
    n_el = len(ELECTRODES)
    # every random draw is made whatever the levels, so changing one level rescales that artefact
    # and leaves the others (and the heart) untouched
    freqs = rng.uniform(0.05, 0.5, (n_el, 2))
    phases = rng.uniform(0, 2 * np.pi, (n_el, 2))
    amps = rng.uniform(0.3, 0.7, (n_el, 2)) * wander_mv / np.sqrt(2)
    hum_amps = rng.uniform(0.0, 1.0, n_el) * powerline_mv
    hum_phase = rng.uniform(0, 2 * np.pi)
    electrodes = rng.standard_normal((n_el, n_samples)) * (noise_mv / np.sqrt(2))
    if wander_mv > 0:
        electrodes += _slow_sinusoids(freqs, phases, amps, n_samples, fs)
    if powerline_mv > 0:
        t = np.arange(n_samples) / fs
        electrodes += hum_amps[:, None] * np.sin(2 * np.pi * powerline_hz * t + hum_phase)
    return ELECTRODES_TO_LEADS @ electrodes


def _slow_sinusoids(freqs: np.ndarray, phases: np.ndarray, amps: np.ndarray, n_samples: int,
                    fs: float) -> np.ndarray:
    """(n_el, n_samples) sums of sub-Hz sinusoids, evaluated every 10 ms and interpolated (the
    interpolation error is below 1e-3 of the amplitude, and it is several times faster)."""
    t = np.arange(n_samples) / fs
    coarse = np.arange(0.0, t[-1] + 0.02, 0.01)
    values = (amps[:, :, None] * np.sin(2 * np.pi * freqs[:, :, None] * coarse + phases[:, :, None])).sum(1)
    return np.stack([np.interp(t, coarse, row) for row in values])
