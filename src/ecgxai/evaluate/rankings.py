"""How alike two rankings are: Spearman correlation, Jaccard@K of the top K, rank-biased overlap.

The stability experiment (:mod:`ecgxai.evaluate.stability`) and the randomisation checks
(:mod:`ecgxai.evaluate.sanity`, :mod:`ecgxai.evaluate.randomisation`) compare explanations with them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence

import numpy as np
import scipy.stats

from ecgxai.errors import ConfigurationError


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation; NaN when either vector is constant or shorter than 2."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ConfigurationError(f"vectors differ in length: {a.size} and {b.size}")
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(scipy.stats.spearmanr(a, b).statistic)


def ranking(scores: Sequence[float] | np.ndarray) -> list[int]:
    """Indices of the positive scores, largest first; ties keep index order."""
    scores = np.asarray(scores, dtype=float).ravel()
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if scores[i] > 0]


def jaccard_at_k(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, k: int = 10) -> float:
    """|top-K(a) & top-K(b)| / |top-K(a) | top-K(b)| over positive scores; NaN when both are empty."""
    if k < 1:
        raise ConfigurationError(f"k must be >= 1, got {k}")
    top_a, top_b = set(ranking(a)[:k]), set(ranking(b)[:k])
    union = top_a | top_b
    return len(top_a & top_b) / len(union) if union else math.nan


def rbo(ranking_a: Sequence[Hashable], ranking_b: Sequence[Hashable], p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap RBO_ext (Webber, Moffat & Zobel 2010, eq. 32).

    For rankings S (length s) and L (length l >= s) with overlap X_d at depth d (for
    d > s, of all of S with the first d of L)::

        RBO_ext = (1-p)/p * (sum_{d=1..l} X_d/d p^d + sum_{d=s+1..l} X_s (d-s)/(s d) p^d)
                  + ((X_l - X_s)/l + X_s/s) p^l

    1 for identical rankings, 0 for disjoint ones, NaN when both are empty. Items
    must be unique within a ranking.
    """
    if not 0 < p < 1:
        raise ConfigurationError(f"p must lie in (0, 1), got {p}")
    a, b = list(ranking_a), list(ranking_b)
    if len(set(a)) != len(a) or len(set(b)) != len(b):
        raise ConfigurationError("rankings must not repeat an item")
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    s, n = len(short), len(long_)
    if n == 0:
        return math.nan
    if s == 0:
        return 0.0
    seen_short: set[Hashable] = set()
    seen_long: set[Hashable] = set()
    overlap = 0
    x = [0] * (n + 1)
    for d in range(1, n + 1):
        u = long_[d - 1]
        if d <= s:
            v = short[d - 1]
            overlap += 1 if u == v else int(u in seen_short) + int(v in seen_long)
            seen_short.add(v)
        else:
            overlap += int(u in seen_short)
        seen_long.add(u)
        x[d] = overlap
    total = sum(x[d] / d * p**d for d in range(1, n + 1))
    total += sum(x[s] * (d - s) / (s * d) * p**d for d in range(s + 1, n + 1))
    return (1 - p) / p * total + ((x[n] - x[s]) / n + x[s] / s) * p**n
