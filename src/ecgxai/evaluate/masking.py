"""Removing parts of a model input: lead x time intervals as sample masks, filled by an imputation.

The faithfulness metrics (:mod:`ecgxai.evaluate.faithfulness`, :mod:`ecgxai.evaluate.correlation`)
build every perturbed copy of a model input ``x`` (T, L) here: lists of ``(lead, start_sec, end_sec)``
intervals become one (M, T, L) mask (:func:`interval_masks`) and an :data:`Imputation` fills the
removed samples (:func:`zero_imputation` by default, :func:`noisy_linear_imputation` for ROAD).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ecgxai.errors import ConfigurationError

Interval = tuple[str, float, float]
#: ``(x (T, L), removed (M, T, L) bool, rng) -> (M, T, L)``: copies of ``x``, copy m with the samples
#: ``removed[m]`` replaced (zeros, interpolation, ...); ``rng`` is None for deterministic ones.
Imputation = Callable[[np.ndarray, np.ndarray, "np.random.Generator | None"], np.ndarray]
#: ROAD's imputation noise, as a fraction of each lead's standard deviation.
ROAD_NOISE = 0.05


def _lead_index(lead_names: Sequence[str]) -> dict[str, int]:
    return {str(name): i for i, name in enumerate(lead_names)}


def interval_masks(
    length: int,
    fs: float,
    lead_names: Sequence[str],
    interval_lists: Sequence[Sequence[Interval]],
) -> np.ndarray:
    """Boolean (M, T, L): True where sample t of lead l lies in one of list m's intervals.

    Built without a Python loop over samples: +1/-1 at each interval's edges, then a
    cumulative sum over time (overlapping intervals are fine). Seconds become samples as in
    :func:`~ecgxai.explain.relevance.interval_samples` (numpy's round is half-to-even, as Python's),
    for all intervals at once.
    """
    index = _lead_index(lead_names)
    flat = [interval for intervals in interval_lists for interval in intervals]
    unknown = [lead for lead, _, _ in flat if str(lead) not in index]
    if unknown:
        raise ConfigurationError(f"lead {unknown[0]!r} is not among the model's leads {list(lead_names)}")
    rows = np.repeat(np.arange(len(interval_lists)), [len(intervals) for intervals in interval_lists])
    leads = np.fromiter((index[str(lead)] for lead, _, _ in flat), dtype=np.intp, count=len(flat))
    seconds = np.array([(start, end) for _, start, end in flat], dtype=float).reshape(-1, 2)
    samples = np.clip(np.round(seconds * fs), 0, length).astype(np.intp)
    starts, ends = samples[:, 0], np.maximum(samples[:, 0], samples[:, 1])
    used = ends > starts
    edges = np.zeros((len(interval_lists), len(lead_names), length + 1), dtype=np.int32)  # time last: fast
    np.add.at(edges, (rows[used], leads[used], starts[used]), 1)
    np.add.at(edges, (rows[used], leads[used], ends[used]), -1)
    return (np.cumsum(edges[..., :length], axis=2) > 0).transpose(0, 2, 1)


def zero_imputation(x: np.ndarray, removed: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """The default :data:`Imputation`: removed samples become 0."""
    return np.asarray(x, dtype=np.float32)[None] * (~np.asarray(removed, dtype=bool)).astype(np.float32)


def noisy_linear_imputation(x: np.ndarray, removed: np.ndarray, rng: np.random.Generator | None,
                            noise: float = ROAD_NOISE) -> np.ndarray:
    """ROAD's noisy linear imputation (Rong et al. 2022) of (M, T, L) ``removed`` samples of ``x`` (T, L).

    On a time series ROAD's neighbour-average system has a closed form: each removed run of
    a lead becomes the straight line between the kept samples either side of it (the one
    neighbour's value at the record's edges; zero when the whole lead is removed), then
    Gaussian noise of std ``noise`` x that lead's std over ``x`` is added to the removed
    samples only, so the imputation is not a perfectly smooth give-away.
    """
    x = np.asarray(x, dtype=np.float32)
    series, gone_all = x.T, np.asarray(removed, dtype=bool).transpose(0, 2, 1)  # (L, T), (M, L, T)
    out = np.repeat(series[None], len(gone_all), axis=0)
    time_axis = np.arange(x.shape[0])
    for m, lead in zip(*np.nonzero(gone_all.any(axis=2)), strict=True):
        gone = gone_all[m, lead]
        kept = ~gone
        out[m, lead, gone] = (np.interp(time_axis[gone], time_axis[kept], series[lead, kept])
                              if kept.any() else 0.0)
    if noise > 0:
        scale = np.broadcast_to((noise * x.std(axis=0))[None, :, None], gone_all.shape)[gone_all]
        out[gone_all] += check_rng(rng).standard_normal(len(scale), dtype=np.float32) * scale
    return out.transpose(0, 2, 1)


def perturb_intervals_batch(
    x: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    interval_lists: Sequence[Sequence[Interval]],
    *,
    keep_only: bool = False,
    imputation: Imputation = zero_imputation,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """(M, T, L) copies of ``x`` (T, L), copy m with list m's ``(lead, start_sec, end_sec)`` removed.

    Removed samples are filled by ``imputation`` (zeros by default; ``rng`` is passed on).
    ``keep_only=True`` does the opposite: copy m keeps only list m's intervals and
    everything else is removed (insertion into an empty input).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != len(lead_names):
        raise ConfigurationError(f"x must be (T, L) with L = {len(lead_names)} leads, got {x.shape}")
    inside = interval_masks(len(x), fs, lead_names, interval_lists)
    return imputation(x, ~inside if keep_only else inside, rng)


def zero_intervals_batch(
    x: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    interval_lists: Sequence[Sequence[Interval]],
    *,
    keep_only: bool = False,
) -> np.ndarray:
    """(M, T, L) copies of ``x`` (T, L), copy m with list m's ``(lead, start_sec, end_sec)`` zeroed.

    ``keep_only=True`` does the opposite: copy m keeps only list m's intervals and is
    zero everywhere else (insertion into an all-zero input).
    """
    return perturb_intervals_batch(x, fs, lead_names, interval_lists, keep_only=keep_only)


def zero_intervals(x: np.ndarray, fs: float, lead_names: Sequence[str],
                   intervals: Sequence[Interval]) -> np.ndarray:
    """A copy of ``x`` (T, L) with each ``(lead, start_sec, end_sec)`` interval set to zero."""
    return zero_intervals_batch(x, fs, lead_names, [intervals])[0]


def check_rng(rng: Any) -> np.random.Generator:
    """``rng`` when it is a numpy Generator, else a ConfigurationError saying how to make one."""
    if not isinstance(rng, np.random.Generator):
        raise ConfigurationError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                                 f"got {type(rng).__name__}")
    return rng
