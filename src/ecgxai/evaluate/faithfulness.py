"""Faithfulness: does deleting what an explanation points at change the model's answer?

Metrics that re-predict the explained class on perturbed copies of the model input
``x`` (T, L), where "deleting" means setting samples to zero unless an imputation
says otherwise (see :data:`~ecgxai.evaluate.masking.Imputation`):

* :func:`ranking_curves` (beyond the original) splits every lead into cells of
  ``cell_sec`` and deletes them in the explanation's order: most relevant first
  (MoRF), least relevant first (LeRF), and inserts them into an all-zero input
  most relevant first (insertion). Each area is normalised as
  ``area / (p0 x axis length)`` with ``p0`` the unperturbed probability and the
  axis ``[0, *steps]`` (length 0.5 by default), so a curve that stays flat at
  ``p0`` scores 1.0. :func:`random_ranking_curves` gives the same curves for a
  random attribution, the baseline every method is read against. With
  ``scale="logit"`` the curves follow the class logit instead, normalised against
  the fully deleted input's logit (:data:`RANKING_SCALES`): probability curves of a
  saturated model (p0 above :data:`SATURATION`) stay flat, logit curves still move.
* :func:`road_morf` (ROAD, Rong et al. 2022) is the MoRF curve of
  :func:`ranking_curves` with removed samples filled by
  :func:`~ecgxai.evaluate.masking.noisy_linear_imputation` instead of zeros, so the model is not shown the
  tell-tale flat zero segments a deletion leaves.

The original toolkit's targeted deletion is in :mod:`ecgxai.evaluate.deletion`, faithfulness
correlation (Bhatt et al. 2020) in :mod:`ecgxai.evaluate.correlation`.

Every metric reads an explanation as a dense signed (T, L) relevance (:func:`as_relevance`: its
whole map, else its spans). :data:`RANKING` and :data:`ROAD` are metric families the
evaluator runs (see :mod:`ecgxai.evaluate.context`).

Every curve (or the whole set of curves of a record) is built as one (M, T, L)
array from lists of ``(lead, start_sec, end_sec)`` intervals by
:func:`~ecgxai.evaluate.masking.perturb_intervals_batch` (``zero_intervals_batch`` when deleting
means zeroing) and sent to ``classifier.predict`` in one call (which batches it by the
classifier's batch size); ``evaluations`` reports M.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.context import Metric, MetricContext, MetricFamily
from ecgxai.evaluate.masking import (
    ROAD_NOISE,
    Imputation,
    Interval,
    check_rng,
    noisy_linear_imputation,
    perturb_intervals_batch,
    zero_imputation,
)
from ecgxai.explain.attribution import cell_bounds, cell_edges, sum_per_segment
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import CELL_SEC, random_spans, relevance_of, span_relevance
from ecgxai.models.base import Classifier

RANKING_STEPS = tuple(round(0.05 * k, 2) for k in range(1, 11))
RANKING_CURVE_NAMES = ("morf", "lerf", "insertion")
RANKING_KEYS = ("morf_auc", "lerf_auc", "insertion_auc")
#: Scales the ranking curves can follow: the class probability, or its logit log(p / (1 - p)).
RANKING_SCALES = ("probability", "logit")
#: Above this unperturbed probability a model is saturated: probability-scale curves are flat there.
SATURATION = 0.99
#: Probabilities are clipped to [eps, 1 - eps] before taking the logit (float32 resolution near 1).
LOGIT_EPS = 1e-7


def predict_class(classifier: Classifier, batch: np.ndarray, target: int,
                  batch_size: int | None) -> np.ndarray:
    """One ``predict`` call on the whole (M, T, L) batch; the ``target`` column as float64."""
    return classifier.predict(batch, batch_size=batch_size)[:, target].astype(np.float64)


def logit(p: np.ndarray | float) -> np.ndarray:
    """log(p / (1 - p)) of probabilities clipped to [:data:`LOGIT_EPS`, 1 - :data:`LOGIT_EPS`]."""
    p = np.clip(np.asarray(p, dtype=np.float64), LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(p) - np.log1p(-p)


def _check_scale(scale: str) -> str:
    if scale not in RANKING_SCALES:
        raise ConfigurationError(f"scale must be one of {list(RANKING_SCALES)}, got {scale!r}")
    return scale


def check_axis(values: Sequence[float], name: str) -> np.ndarray:
    """``values`` as an increasing axis in (0, 1] (deletion fractions, ranking steps), else an error."""
    axis = np.asarray(values, dtype=float)
    if axis.ndim != 1 or len(axis) == 0 or np.any(axis <= 0) or np.any(axis > 1) \
            or np.any(np.diff(axis) <= 0):
        raise ConfigurationError(f"{name} must be increasing values in (0, 1], got {list(values)}")
    return axis


def trapezoid(y: Sequence[float], x: Sequence[float]) -> float:
    """Trapezoid area under ``y`` over ``x``."""
    return float(np.trapezoid(np.asarray(y, dtype=float), np.asarray(x, dtype=float)))


# --- ranking curves over all cells (MoRF, LeRF, insertion) ------------------------------------


def as_relevance(attribution: Any, lead_names: Sequence[str], n_samples: int, fs: float) -> np.ndarray:
    """A (T, L) relevance array from an array, an Explanation or payload dict (its map, else its
    spans), or plain per-lead spans."""
    if isinstance(attribution, np.ndarray):
        if attribution.shape != (n_samples, len(lead_names)):
            raise ConfigurationError(f"relevance has shape {attribution.shape}, expected "
                                     f"({n_samples}, {len(lead_names)})")
        return attribution.astype(np.float64, copy=False)
    if isinstance(attribution, Mapping) and "perlead_spans" in attribution:
        attribution = Explanation.from_payload(attribution)
    if isinstance(attribution, Explanation):
        return relevance_of(attribution, lead_names, n_samples, fs).dense()
    unknown = sorted(set(map(str, attribution)) - set(map(str, lead_names)))
    if unknown and any(len(attribution[lead]) for lead in unknown):
        raise ConfigurationError(f"spans on leads {unknown} that the model does not have {list(lead_names)}")
    return span_relevance(attribution, lead_names, n_samples, fs)


def cell_sums(relevance: np.ndarray, fs: float, duration_sec: float, cell_sec: float = CELL_SEC
              ) -> np.ndarray:
    """(L, n) per lead and ``cell_sec`` cell over [0, ``duration_sec``): the sum of the (T, L)
    relevance over the cell's samples."""
    return sum_per_segment(relevance, cell_bounds(duration_sec, cell_sec, fs, len(relevance))).T


#: Cell scores closer than this share of the largest |score| tie (sums over samples carry rounding noise).
TIE_TOLERANCE = 1e-9


def ranked_order(scores: np.ndarray, tiebreak: np.ndarray, descending: bool) -> np.ndarray:
    """Indices of ``scores`` by value (largest first when ``descending``), scores equal within
    :data:`TIE_TOLERANCE` in the order of ``tiebreak`` (a random permutation: never lead order, which
    would favour some leads the same way for every method)."""
    scale = float(np.abs(scores).max(initial=0.0))
    key = np.round(scores / (scale * TIE_TOLERANCE)) if scale > 0 else scores
    return np.lexsort((tiebreak, -key if descending else key))


def cells_per_step(n_cells: int, steps: np.ndarray) -> list[int]:
    """Cells removed (or inserted) at each step: ``floor(step x n_cells + 0.5)`` (round half up)."""
    return [math.floor(s * n_cells + 0.5) for s in steps]


def _check_curves(curves: Sequence[str]) -> list[str]:
    chosen = [c for c in RANKING_CURVE_NAMES if c in curves]
    unknown = sorted(set(curves) - set(RANKING_CURVE_NAMES))
    if unknown or not chosen:
        raise ConfigurationError(f"curves must be some of {list(RANKING_CURVE_NAMES)}, got {list(curves)}")
    return chosen


def cell_intervals(lead_names: Sequence[str], duration_sec: float, cell_sec: float = CELL_SEC
                   ) -> list[Interval]:
    """Every lead x ``cell_sec`` cell over [0, ``duration_sec``) as an interval, lead-major then time
    (the order of :func:`cell_sums` raveled)."""
    return [(str(lead), float(start), float(end)) for lead in lead_names
            for start, end in cell_edges(duration_sec, cell_sec)]


def ranking_curves(
    classifier: Classifier,
    x: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    target: int | str,
    relevance: Any,
    cell_sec: float = CELL_SEC,
    steps: Sequence[float] = RANKING_STEPS,
    duration_sec: float | None = None,
    *,
    batch_size: int | None = None,
    curves: Sequence[str] = RANKING_CURVE_NAMES,
    imputation: Imputation = zero_imputation,
    rng: np.random.Generator | None = None,
    tie_rng: np.random.Generator | None = None,
    scale: str = "probability",
) -> dict[str, Any]:
    """MoRF, LeRF and insertion curves of an attribution over every lead x ``cell_sec`` cell.

    ``relevance`` is a (T, L) array, an explanation (its map, else its spans) or plain per-lead
    spans (see :func:`as_relevance`). Cells cover [0, ``duration_sec``) (default T / fs) on every
    lead; a cell's score is the relevance summed over its samples (positive = evidence for the
    class). Cells are ranked by score, equal scores in one random order drawn from ``tie_rng`` (a
    fixed seed when None; :func:`ranked_order`; seed it alike to compare methods on the same order).
    At each
    step s, ``floor(s x n_cells + 0.5)`` cells are zeroed most positive first (MoRF),
    least positive first (LeRF), or kept in an all-zero input most positive first
    (insertion). Curves start at fraction 0 with ``p0`` (MoRF, LeRF) or the all-zero
    input's probability (insertion).

    Normalisation: each ``*_auc`` = trapezoid area over ``[0, *steps]`` divided by
    ``p0 x steps[-1]``, i.e. "area / (p0 x 0.5)" with the default steps, so a curve flat
    at ``p0`` scores 1.0 (NaN when ``p0`` is 0). Lower ``morf_auc`` and higher
    ``lerf_auc``/``insertion_auc`` are better; ``lerf_morf_gap = lerf_auc - morf_auc``.
    All 2 + 3 x len(steps) inputs go to ``predict`` in one call (``evaluations``).

    ``curves`` limits the work to some of ``("morf", "lerf", "insertion")`` (the others'
    AUCs are NaN, their curves empty); ``imputation`` (with ``rng``) fills removed samples
    instead of zeros, as :func:`road_morf` does.

    ``scale="logit"`` follows the class logit z = log(p / (1 - p)) instead (curves hold z) and
    normalises for any sign of z: each point becomes (z - z_del) / (z0 - z_del), with z_del the
    logit of the input with every cell removed (one more model input), and the area is divided
    by ``steps[-1]``: a curve flat at z0 scores 1.0, one at z_del 0.0 (NaN when z0 = z_del).
    """
    axis = check_axis(steps, "steps")
    _check_scale(scale)
    chosen = _check_curves(curves)
    target = classifier.class_index(target)
    x = np.asarray(x, dtype=np.float32)
    duration = len(x) / fs if duration_sec is None else float(duration_sec)
    dense = as_relevance(relevance, lead_names, len(x), fs)
    cells = cell_intervals(lead_names, duration, cell_sec)
    scores = cell_sums(dense, fs, duration, cell_sec).ravel()
    tiebreak = (tie_rng or np.random.default_rng(0)).permutation(len(scores))
    morf = ranked_order(scores, tiebreak, descending=True)
    lerf = ranked_order(scores, tiebreak, descending=False)
    orders = {"morf": morf, "lerf": lerf, "insertion": morf}
    counts = cells_per_step(len(cells), axis)

    def prefixes(name: str) -> list[list[Interval]]:
        return [[cells[i] for i in orders[name][:k]] for k in counts]

    deleting = [name for name in chosen if name != "insertion"]
    deleted: list[list[Interval]] = [[]] + [lists for name in deleting for lists in prefixes(name)]
    if scale == "logit":
        deleted.append(cells)  # the fully deleted input, the logit scale's zero
    perturb = partial(perturb_intervals_batch, x, fs, lead_names, imputation=imputation, rng=rng)
    parts = [perturb(deleted)]
    if "insertion" in chosen:
        parts.append(perturb([[], *prefixes("insertion")], keep_only=True))
    batch = np.concatenate(parts)
    probs = predict_class(classifier, batch, target, batch_size)
    values = logit(probs) if scale == "logit" else probs
    p0, v0 = float(probs[0]), float(values[0])
    n = len(axis)
    found = {name: [v0, *values[1 + i * n: 1 + (i + 1) * n].tolist()] for i, name in enumerate(deleting)}
    if "insertion" in chosen:
        found["insertion"] = values[len(deleted):].tolist()
    fractions = [0.0, *axis.tolist()]
    zero = float(values[len(deleted) - 1]) if scale == "logit" else 0.0
    span = (v0 - zero) * float(axis[-1])

    def normalised_area(name: str) -> float:
        if name not in found or span == 0:
            return math.nan
        return trapezoid(np.subtract(found[name], zero), fractions) / span

    morf_auc, lerf_auc, insertion_auc = (normalised_area(name) for name in RANKING_CURVE_NAMES)
    return {
        "morf_auc": morf_auc,
        "lerf_auc": lerf_auc,
        "insertion_auc": insertion_auc,
        "lerf_morf_gap": lerf_auc - morf_auc,
        "morf_curve": found.get("morf", []),
        "lerf_curve": found.get("lerf", []),
        "insertion_curve": found.get("insertion", []),
        "fractions": fractions,
        "cells_per_step": [0, *counts],
        "n_cells": len(cells),
        "cell_sec": float(cell_sec),
        "duration_sec": duration,
        "p0": p0,
        "scale": scale,
        "normalisation": (f"area / (p0 x {float(axis[-1]):g})" if scale == "probability" else
                          f"area of (z - z_del) / ((z0 - z_del) x {float(axis[-1]):g})"),
        "evaluations": len(batch),
    }


def random_ranking_curves(
    classifier: Classifier,
    x: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    target: int | str,
    rng: np.random.Generator,
    cell_sec: float = CELL_SEC,
    steps: Sequence[float] = RANKING_STEPS,
    duration_sec: float | None = None,
    *,
    batch_size: int | None = None,
    scale: str = "probability",
) -> dict[str, Any]:
    """:func:`ranking_curves` of random spans (one standard-normal weight per cell) on the same record
    and model: the chance level of a span explanation (``lerf_morf_gap`` near 0 on average)."""
    duration = len(x) / fs if duration_sec is None else float(duration_sec)
    spans = random_spans(lead_names, duration, cell_sec, check_rng(rng))
    return ranking_curves(classifier, x, fs, lead_names, target, spans, cell_sec=cell_sec, steps=steps,
                          duration_sec=duration, batch_size=batch_size, scale=scale)


# --- ROAD: MoRF with noisy linear imputation (Rong et al. 2022) -------------------------------


def road_morf(
    classifier: Classifier,
    x: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    target: int | str,
    relevance: Any,
    rng: np.random.Generator,
    *,
    noise: float = ROAD_NOISE,
    cell_sec: float = CELL_SEC,
    steps: Sequence[float] = RANKING_STEPS,
    duration_sec: float | None = None,
    batch_size: int | None = None,
    tie_rng: np.random.Generator | None = None,
    scale: str = "probability",
) -> dict[str, Any]:
    """ROAD's most-relevant-first curve: :func:`ranking_curves`' MoRF (ties ordered by ``tie_rng``)
    with removed cells filled by :func:`noisy_linear_imputation` (noise ``noise`` x each lead's std,
    drawn from ``rng``).

    ``road_morf_auc`` is normalised as ``morf_auc`` (area / (p0 x steps[-1]); lower = more
    faithful; ``scale`` as there); ``road_morf_curve`` starts at ``p0`` (or its logit). Costs
    1 + len(steps) model inputs (one more on the logit scale), one call.
    """
    found = ranking_curves(classifier, x, fs, lead_names, target, relevance, cell_sec=cell_sec,
                           steps=steps, duration_sec=duration_sec, batch_size=batch_size, curves=("morf",),
                           imputation=partial(noisy_linear_imputation, noise=noise), rng=check_rng(rng),
                           tie_rng=tie_rng, scale=scale)
    return {"road_morf_auc": found["morf_auc"], "road_morf_curve": found["morf_curve"],
            "fractions": found["fractions"], "p0": found["p0"], "noise": float(noise),
            "evaluations": found["evaluations"]}


# --- the metric families ---------------------------------------------------------------------------


def _ranking(ctx: MetricContext) -> dict[str, Any]:
    """MoRF/LeRF/insertion of the explanation and of the random map, on the same tie order."""
    found = {name: ranking_curves(ctx.classifier, ctx.x, ctx.fs, ctx.leads, ctx.target, dense,
                                  duration_sec=ctx.shown, tie_rng=ctx.rng("ranking-ties"),
                                  scale=ctx.ranking_scale)
             for name, dense in (("explanation", ctx.dense), ("random", ctx.random_dense))}
    keys = (*RANKING_KEYS, "lerf_morf_gap")
    row: dict[str, Any] = {key: found["explanation"][key] for key in keys}
    row["ranking_scale"] = ctx.ranking_scale
    row.update({f"random_{key}": found["random"][key] for key in keys})
    row["ranking_evaluations"] = found["explanation"]["evaluations"] + found["random"]["evaluations"]
    if ctx.keep_curves:
        row["ranking_curves"] = found
    return row


def _road(ctx: MetricContext) -> dict[str, float]:
    found = {name: road_morf(ctx.classifier, ctx.x, ctx.fs, ctx.leads, ctx.target, dense, ctx.rng("road"),
                             duration_sec=ctx.shown, tie_rng=ctx.rng("ranking-ties"), scale=ctx.ranking_scale)
             for name, dense in (("own", ctx.dense), ("random", ctx.random_dense))}
    return {"road_morf_auc": found["own"]["road_morf_auc"],
            "random_road_morf_auc": found["random"]["road_morf_auc"],
            "road_evaluations": found["own"]["evaluations"] + found["random"]["evaluations"]}


RANKING = MetricFamily(
    "ranking", _ranking, group="ranking", cost_column="ranking_evaluations", columns=("ranking_scale",),
    metrics=(
        Metric("morf_auc", "MoRF deletion area (most relevant first)", False, key=True,
               note="area / (p0 x 0.5) as lead x 0.1 s cells are zeroed, most relevant first (on the "
                    "logit scale: of (z - z_del) / (z0 - z_del); the row's ranking_scale says which)"),
        Metric("lerf_auc", "LeRF deletion area (least relevant first)", True),
        Metric("insertion_auc", "Insertion area (most relevant first)", True, key=True),
        Metric("lerf_morf_gap", "LeRF - MoRF gap", True, key=True),
    ))
ROAD = MetricFamily(
    "road", _road, group="ranking", cost_column="road_evaluations", metrics=(
        Metric("road_morf_auc", "ROAD MoRF area (noisy linear imputation)", False, key=True),
    ))
