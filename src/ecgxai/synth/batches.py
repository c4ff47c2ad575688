"""In-memory batches of synthetic ECGs, for training and testing classifiers without writing files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ecgxai.classes import SYNTH_CODES
from ecgxai.errors import ConfigurationError
from ecgxai.synth.generator import generate_ecg

#: Ranges the artefact levels are drawn from with ``randomise_levels`` (uniform, per record).
LEVEL_RANGES: dict[str, tuple[float, float]] = {
    "noise_mv": (0.005, 0.05), "wander_mv": (0.0, 0.25), "hrv": (0.01, 0.06),
}


def synthetic_batch(n_per_class: int, seed: int | Sequence[int], *, codes: Sequence[str] = SYNTH_CODES,
                    randomise_levels: bool = False, **levels: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: x (N, samples, 12) float32 mV, y (N,) the index of each record's code in ``codes``.

    Classes are interleaved; record i is seeded from ``(*seed, i)``, so different ``seed`` values
    give disjoint, reproducible sets. ``randomise_levels`` draws noise, wander and HRV per record
    from :data:`LEVEL_RANGES` (for robust training); otherwise ``levels`` go to :func:`generate_ecg`.
    """
    if randomise_levels and set(levels) & set(LEVEL_RANGES):
        raise ConfigurationError(f"randomise_levels draws {sorted(LEVEL_RANGES)}; do not also pass them")
    entropy = [int(seed)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]
    signals, labels = [], []
    for i in range(int(n_per_class) * len(codes)):
        sequence = np.random.SeedSequence([*entropy, i])
        record_seed = int(sequence.generate_state(1)[0])
        drawn = {}
        if randomise_levels:
            rng = np.random.default_rng(sequence.spawn(1)[0])
            drawn = {key: float(rng.uniform(*bounds)) for key, bounds in LEVEL_RANGES.items()}
        signals.append(generate_ecg(codes[i % len(codes)], record_seed, **levels, **drawn).signal)
        labels.append(i % len(codes))
    return np.stack(signals).astype(np.float32), np.asarray(labels, dtype=np.int64)
