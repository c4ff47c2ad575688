"""Faithfulness correlation (Bhatt et al. 2020, as Quantus' FaithfulnessCorrelation).

Over random subsets of lead x ``cell_sec`` cells of a fixed size, the Pearson correlation between the
relevance a subset holds and the score drop its deletion causes (:func:`cell_subsets`,
:func:`subset_score_drops`, :func:`faithfulness_correlation`). :data:`CORRELATION` is the metric
family the evaluator runs; an explanation and its random baseline share the same subsets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.context import Metric, MetricContext, MetricFamily
from ecgxai.evaluate.faithfulness import cell_intervals, predict_class
from ecgxai.evaluate.masking import Imputation, check_rng, interval_masks, zero_imputation
from ecgxai.explain.attribution import cell_edges
from ecgxai.explain.relevance import CELL_SEC
from ecgxai.models.base import Classifier

#: Random cell subsets per record and the share of cells in each.
CORRELATION_SUBSETS = 50
CORRELATION_FRACTION = 0.1


def pearson(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Pearson correlation of two equally long vectors; NaN when either is constant or shorter than 2."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ConfigurationError(f"vectors differ in length: {a.size} and {b.size}")
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    a, b = a - a.mean(), b - b.mean()
    return float(np.clip(a @ b / math.sqrt((a @ a) * (b @ b)), -1.0, 1.0))


def subset_cells(n_cells: int, subset_size: int | None = None) -> int:
    """Cells per faithfulness-correlation subset: ``subset_size``, or by default
    ``CORRELATION_FRACTION`` of ``n_cells`` (at least 1)."""
    return max(1, round(CORRELATION_FRACTION * n_cells)) if subset_size is None else int(subset_size)


def cell_subsets(n_samples: int, fs: float, lead_names: Sequence[str], duration_sec: float,
                 rng: np.random.Generator, *, n_subsets: int = CORRELATION_SUBSETS,
                 subset_size: int | None = None, cell_sec: float = CELL_SEC) -> np.ndarray:
    """(S, T, L) bool: ``n_subsets`` random sets of ``subset_size`` distinct lead x ``cell_sec`` cells.

    Cells are those of :func:`ranking_curves` over [0, ``duration_sec``); the default size is
    ``CORRELATION_FRACTION`` of them (at least 1), the same for every subset.
    """
    rng = check_rng(rng)
    cells = cell_intervals(lead_names, duration_sec, cell_sec)
    size = subset_cells(len(cells), subset_size)
    if n_subsets < 2 or not 1 <= size <= len(cells):
        raise ConfigurationError(f"need n_subsets >= 2 and 1 <= subset_size <= {len(cells)} cells, "
                                 f"got {n_subsets} and {size}")
    picks = [rng.choice(len(cells), size, replace=False) for _ in range(n_subsets)]
    return interval_masks(n_samples, fs, lead_names, [[cells[i] for i in pick] for pick in picks])


def subset_score_drops(score: Callable[[np.ndarray], np.ndarray], x: np.ndarray, subsets: np.ndarray, *,
                       imputation: Imputation = zero_imputation,
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """``score(x) - score(x with subset s removed)`` per subset (S,), from one call of ``score``
    on the (S + 1, T, L) batch of ``x`` and its perturbed copies."""
    x = np.asarray(x, dtype=np.float32)
    scores = np.asarray(score(np.concatenate([x[None], imputation(x, subsets, rng)])), dtype=float)
    return scores[0] - scores[1:]


def faithfulness_correlation(relevance: np.ndarray, subsets: np.ndarray, drops: np.ndarray) -> float:
    """Pearson correlation over subsets s of the relevance inside s (``relevance`` (T, L) summed over
    ``subsets[s]``) and ``drops[s]``, the score drop deleting s causes: 1 when relevance adds up like
    the model does, about 0 for an unrelated attribution, -1 when it is upside down."""
    subsets = np.asarray(subsets, dtype=bool)
    relevance = np.asarray(relevance, dtype=float)
    if subsets.shape[1:] != relevance.shape:
        raise ConfigurationError(f"subsets {subsets.shape} do not match the relevance map {relevance.shape}")
    return pearson(np.einsum("sp,p->s", subsets.reshape(len(subsets), -1), relevance.ravel()), drops)


def faithfulness_correlations(
    classifier: Classifier,
    x: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    target: int | str,
    relevances: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    *,
    n_subsets: int = CORRELATION_SUBSETS,
    subset_size: int | None = None,
    cell_sec: float = CELL_SEC,
    duration_sec: float | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """:func:`faithfulness_correlation` of each (T, L) map in ``relevances`` on the same random cell
    subsets (:func:`cell_subsets`, zeroed) and so the same score drops of the ``target`` probability:
    an explanation and its random baseline share the model's n_subsets + 1 evaluations."""
    target = classifier.class_index(target)
    x = np.asarray(x, dtype=np.float32)
    duration = len(x) / fs if duration_sec is None else float(duration_sec)
    subsets = cell_subsets(len(x), fs, lead_names, duration, rng, n_subsets=n_subsets,
                           subset_size=subset_size, cell_sec=cell_sec)
    drops = subset_score_drops(partial(predict_class, classifier, target=target, batch_size=batch_size),
                               x, subsets)
    return {"correlations": {name: faithfulness_correlation(relevance, subsets, drops)
                             for name, relevance in relevances.items()},
            "drops": drops.tolist(), "n_subsets": len(subsets),
            "subset_cells": subset_cells(len(cell_edges(duration, cell_sec)) * len(lead_names), subset_size),
            "evaluations": len(subsets) + 1}


def _correlation(ctx: MetricContext) -> dict[str, float]:
    found = faithfulness_correlations(ctx.classifier, ctx.x, ctx.fs, ctx.leads, ctx.target,
                                      {"own": ctx.dense, "random": ctx.random_dense},
                                      ctx.rng("faithfulness-correlation"), duration_sec=ctx.shown)
    return {"faithfulness_correlation": found["correlations"]["own"],
            "random_faithfulness_correlation": found["correlations"]["random"],
            "faithfulness_correlation_evaluations": found["evaluations"]}


CORRELATION = MetricFamily(
    "faithfulness_correlation", _correlation, group="ranking",
    cost_column="faithfulness_correlation_evaluations", metrics=(
        Metric("faithfulness_correlation", "Faithfulness correlation", True, key=True,
               note="Pearson correlation of relevance and score drop over random cell subsets"),
    ))
