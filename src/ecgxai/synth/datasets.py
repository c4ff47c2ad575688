"""Many synthetic records written to disk at once, reproducible from one seed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgxai.classes import SYNTH_CODES, synth_recipe
from ecgxai.errors import ConfigurationError
from ecgxai.synth.generator import generate_ecg
from ecgxai.synth.writer import check_record_name, write_synthetic

Seed = int | Sequence[int]


def record_seed(seed: Seed, index: int) -> int:
    """Seed of record ``index`` of a set seeded ``seed`` (an int or a tuple of ints)."""
    entropy = [int(s) for s in seed] if isinstance(seed, Sequence) else [int(seed)]
    return int(np.random.SeedSequence([*entropy, int(index)]).generate_state(1)[0])


def generate_dataset(out_dir: str | Path, n_per_class: int = 100, codes: Sequence[str] = SYNTH_CODES,
                     seed: Seed = 0, *, prefix: str = "SYN", **levels: Any) -> pd.DataFrame:
    """Write ``n_per_class`` records of every code to ``out_dir``, named ``SYN00001``, ``SYN00002``, ...

    Classes are interleaved (record i has ``codes[i % len(codes)]``) and record i is generated with
    ``record_seed(seed, i)``, so the dataset is the same on every run. ``levels`` go to
    :func:`generate_ecg` (``noise_mv``, ``wander_mv``, ``hrv``, ``duration``, ...). Returns one row per
    record: ``record``, ``path`` (base path, no suffix), ``code``, ``seed``.
    """
    codes = [str(c).strip() for c in codes]  # as the look-ups read them
    for code in codes:
        synth_recipe(code)  # UnknownClassError for a code the generator cannot plant
    if not codes:
        raise ConfigurationError("codes must name at least one diagnosis")
    if int(n_per_class) < 0:
        raise ConfigurationError(f"n_per_class must be >= 0, got {n_per_class}")
    rows = []
    for i in range(int(n_per_class) * len(codes)):
        code, rec_seed = codes[i % len(codes)], record_seed(seed, i)
        name = check_record_name(f"{prefix}{i + 1:05d}")
        base = write_synthetic(generate_ecg(code, rec_seed, **levels), out_dir, name)
        rows.append({"record": name, "path": str(base), "code": code, "seed": rec_seed})
    return pd.DataFrame(rows, columns=["record", "path", "code", "seed"])
