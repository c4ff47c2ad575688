"""Batching shared by the classifier and its incremental engine."""

from __future__ import annotations

import numpy as np


def even_batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of the fewest batches of at most ``batch_size`` covering ``n`` items, sized
    as evenly as possible: 100 items at 16 go as 7 batches of 14-15, not 6 x 16 plus a slow 4."""
    n_batches = -(-n // batch_size)
    bounds = np.linspace(0, n, n_batches + 1).round().astype(int)
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
