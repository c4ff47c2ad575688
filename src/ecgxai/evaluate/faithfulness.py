"""Faithfulness: does deleting what an explanation points at change the model's answer?

Metrics that re-predict the explained class on perturbed copies of the model input
``x`` (T, L), where "deleting" means setting samples to zero unless an imputation
says otherwise (see :data:`Imputation`):

* :func:`targeted_deletion` is the original toolkit's metric, kept comparable with
  its published numbers. The lenient-positive tokens (``lenient == True``) are
  ranked by score and the top ones deleted until a fraction of their total
  duration is gone; a control deletes the same duration of randomly chosen
  negative tokens. ``deletion_auc`` is the trapezoid area of the class probability
  over the fraction axis ``[0, *fractions]`` (raw, not normalised, as in the
  original); ``faithfulness_gain`` is the mean over the fractions of the targeted
  probability drop minus the control drop.
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
  :func:`noisy_linear_imputation` instead of zeros, so the model is not shown the
  tell-tale flat zero segments a deletion leaves.
* :func:`faithfulness_correlation` (Bhatt et al. 2020, as Quantus'
  FaithfulnessCorrelation): over random subsets of cells of a fixed size, the
  Pearson correlation between the relevance a subset holds and the score drop its
  deletion causes (:func:`cell_subsets`, :func:`subset_score_drops`).

Every metric reads an explanation as a dense signed (T, L) relevance (:func:`as_relevance`: its
whole map, else its spans). :data:`DELETION`, :data:`RANKING`, :data:`CORRELATION` and
:data:`ROAD` are the metric families the evaluator runs (see :mod:`ecgxai.evaluate.context`).

Every curve (or the whole set of curves of a record) is built as one (M, T, L)
array from lists of ``(lead, start_sec, end_sec)`` intervals by
:func:`perturb_intervals_batch` (:func:`zero_intervals_batch` when deleting means
zeroing) and sent to ``classifier.predict`` in one call (which batches it by the
classifier's batch size); ``evaluations`` reports M.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.context import Metric, MetricContext, MetricFamily
from ecgxai.explain.attribution import cell_bounds, cell_edges, sum_per_segment
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import CELL_SEC, random_spans, relevance_of, span_relevance
from ecgxai.models.base import Classifier

Interval = tuple[str, float, float]
#: ``(x (T, L), removed (M, T, L) bool, rng) -> (M, T, L)``: copies of ``x``, copy m with the samples
#: ``removed[m]`` replaced (zeros, interpolation, ...); ``rng`` is None for deterministic ones.
Imputation = Callable[[np.ndarray, np.ndarray, "np.random.Generator | None"], np.ndarray]

DELETION_FRACTIONS = (0.05, 0.1, 0.2, 0.3)
RANKING_STEPS = tuple(round(0.05 * k, 2) for k in range(1, 11))
RANKING_CURVE_NAMES = ("morf", "lerf", "insertion")
RANKING_KEYS = ("morf_auc", "lerf_auc", "insertion_auc")
#: Scales the ranking curves can follow: the class probability, or its logit log(p / (1 - p)).
RANKING_SCALES = ("probability", "logit")
#: Above this unperturbed probability a model is saturated: probability-scale curves are flat there.
SATURATION = 0.99
#: Probabilities are clipped to [eps, 1 - eps] before taking the logit (float32 resolution near 1).
LOGIT_EPS = 1e-7
#: ROAD's imputation noise, as a fraction of each lead's standard deviation.
ROAD_NOISE = 0.05
#: Faithfulness correlation: random cell subsets per record and the share of cells in each.
CORRELATION_SUBSETS = 50
CORRELATION_FRACTION = 0.1
REQUIRED_TOKEN_COLUMNS = ("lead", "start_sec", "end_sec", "score", "lenient")
_DURATION_TOLERANCE = 1e-9


# --- interval masking -------------------------------------------------------------------------


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
        out[gone_all] += _check_rng(rng).standard_normal(len(scale), dtype=np.float32) * scale
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


def _predict_class(classifier: Classifier, batch: np.ndarray, target: int,
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


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ConfigurationError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                                 f"got {type(rng).__name__}")
    return rng


def _check_axis(values: Sequence[float], name: str) -> np.ndarray:
    axis = np.asarray(values, dtype=float)
    if axis.ndim != 1 or len(axis) == 0 or np.any(axis <= 0) or np.any(axis > 1) \
            or np.any(np.diff(axis) <= 0):
        raise ConfigurationError(f"{name} must be increasing values in (0, 1], got {list(values)}")
    return axis


def _trapezoid(y: Sequence[float], x: Sequence[float]) -> float:
    return float(np.trapezoid(np.asarray(y, dtype=float), np.asarray(x, dtype=float)))


# --- targeted deletion (the original toolkit's metric) ----------------------------------------


def _take_until(durations: np.ndarray, order: np.ndarray, needed: float) -> int:
    """How many items of ``order`` to take so their cumulative duration reaches ``needed``
    (the item that crosses it included; all of them if they never reach it)."""
    cumulative = np.cumsum(durations[order])
    reached = np.flatnonzero(cumulative >= needed - _DURATION_TOLERANCE * max(1.0, abs(needed)))
    return int(reached[0]) + 1 if len(reached) else len(order)


def _token_intervals(tokens: pd.DataFrame, rows: np.ndarray) -> list[Interval]:
    leads = tokens["lead"].to_numpy()
    starts = tokens["start_sec"].to_numpy(dtype=float)
    ends = tokens["end_sec"].to_numpy(dtype=float)
    return [(str(leads[i]), float(starts[i]), float(ends[i])) for i in rows]


def targeted_deletion(
    classifier: Classifier,
    x: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    target: int | str,
    tokens: pd.DataFrame,
    rng: np.random.Generator,
    fractions: Sequence[float] = DELETION_FRACTIONS,
    *,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """The original toolkit's deletion AUC and faithfulness gain for one explanation's tokens.

    Positives (``lenient == True``) are ranked by ``score`` (descending, ties kept in
    table order). For each fraction f, the top positives are taken in order until
    their cumulative duration (``end_sec - start_sec``) reaches f x the positives'
    total duration (the crossing token included) and zeroed on their lead. The
    control zeroes negatives (``lenient == False``) taken in one seeded random
    permutation (shared by all fractions) until they reach the same deleted duration.

    Returns ``deletion_auc`` (trapezoid of the targeted probability over
    ``[0, *fractions]``, probability ``p0`` of the unperturbed input at 0; not
    normalised), ``faithfulness_gain`` (mean over fractions of
    ``(p0 - p_targeted) - (p0 - p_control)``), ``probabilities`` and
    ``control_probabilities`` (lists, ``p0`` first, then one per fraction),
    ``deleted_sec`` / ``control_deleted_sec`` (token duration deleted per fraction),
    ``n_positive``, ``n_negative``, ``p0`` and ``evaluations`` (model inputs
    evaluated, all in one ``predict`` call). Without positives every deletion value is
    NaN; without negatives the control values and the gain are NaN.
    """
    rng = _check_rng(rng)
    axis = _check_axis(fractions, "fractions")
    missing = [c for c in REQUIRED_TOKEN_COLUMNS if c not in tokens.columns]
    if missing:
        raise ConfigurationError(f"token table lacks columns {missing}; has {list(tokens.columns)}")
    target = classifier.class_index(target)
    x = np.asarray(x, dtype=np.float32)
    durations = np.clip(tokens["end_sec"].to_numpy(dtype=float) - tokens["start_sec"].to_numpy(dtype=float),
                        0.0, None)
    lenient = tokens["lenient"].to_numpy(dtype=bool)
    positives = np.flatnonzero(lenient)
    negatives = np.flatnonzero(~lenient)
    scores = tokens["score"].to_numpy(dtype=float)
    ranked = positives[np.argsort(-scores[positives], kind="stable")]
    control_order = negatives[rng.permutation(len(negatives))]

    deletions: list[list[Interval]] = [[]]  # the unperturbed input first
    deleted_sec: list[float] = []
    control_sec: list[float] = []
    if len(ranked):
        total = float(durations[ranked].sum())
        targeted = [ranked[: _take_until(durations, ranked, f * total)] for f in axis]
        deleted_sec = [float(durations[rows].sum()) for rows in targeted]
        deletions += [_token_intervals(tokens, rows) for rows in targeted]
        if len(control_order):
            controls = [control_order[: _take_until(durations, control_order, need)] for need in deleted_sec]
            control_sec = [float(durations[rows].sum()) for rows in controls]
            deletions += [_token_intervals(tokens, rows) for rows in controls]

    probs = _predict_class(classifier, zero_intervals_batch(x, fs, lead_names, deletions), target, batch_size)
    p0 = float(probs[0])
    n = len(axis)
    nan = [math.nan] * n
    targeted_p = probs[1: 1 + n].tolist() if deleted_sec else nan
    control_p = probs[1 + n: 1 + 2 * n].tolist() if control_sec else nan
    auc = _trapezoid([p0, *targeted_p], [0.0, *axis]) if deleted_sec else math.nan
    gain = float(np.mean(np.subtract(control_p, targeted_p))) if control_sec else math.nan
    return {
        "deletion_auc": auc,
        "faithfulness_gain": gain,
        "probabilities": [p0, *targeted_p],
        "control_probabilities": [p0, *control_p],
        "fractions": [0.0, *axis.tolist()],
        "deleted_sec": deleted_sec or nan,
        "control_deleted_sec": control_sec or nan,
        "n_positive": len(positives),
        "n_negative": len(negatives),
        "p0": p0,
        "evaluations": len(deletions),
    }


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
    axis = _check_axis(steps, "steps")
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
    probs = _predict_class(classifier, batch, target, batch_size)
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
        return _trapezoid(np.subtract(found[name], zero), fractions) / span

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
    spans = random_spans(lead_names, duration, cell_sec, _check_rng(rng))
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
                           imputation=partial(noisy_linear_imputation, noise=noise), rng=_check_rng(rng),
                           tie_rng=tie_rng, scale=scale)
    return {"road_morf_auc": found["morf_auc"], "road_morf_curve": found["morf_curve"],
            "fractions": found["fractions"], "p0": found["p0"], "noise": float(noise),
            "evaluations": found["evaluations"]}


# --- faithfulness correlation (Bhatt et al. 2020) ---------------------------------------------


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
    rng = _check_rng(rng)
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
    drops = subset_score_drops(partial(_predict_class, classifier, target=target, batch_size=batch_size),
                               x, subsets)
    return {"correlations": {name: faithfulness_correlation(relevance, subsets, drops)
                             for name, relevance in relevances.items()},
            "drops": drops.tolist(), "n_subsets": len(subsets),
            "subset_cells": subset_cells(len(cell_edges(duration, cell_sec)) * len(lead_names), subset_size),
            "evaluations": len(subsets) + 1}


# --- the metric families ---------------------------------------------------------------------------


def _deletion(ctx: MetricContext) -> dict[str, float]:
    found = targeted_deletion(ctx.classifier, ctx.x, ctx.fs, ctx.leads, ctx.target, ctx.tokens,
                              ctx.rng("evaluate"))
    return {"deletion_auc": found["deletion_auc"], "faithfulness_gain": found["faithfulness_gain"],
            "deletion_evaluations": found["evaluations"]}


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


def _correlation(ctx: MetricContext) -> dict[str, float]:
    found = faithfulness_correlations(ctx.classifier, ctx.x, ctx.fs, ctx.leads, ctx.target,
                                      {"own": ctx.dense, "random": ctx.random_dense},
                                      ctx.rng("faithfulness-correlation"), duration_sec=ctx.shown)
    return {"faithfulness_correlation": found["correlations"]["own"],
            "random_faithfulness_correlation": found["correlations"]["random"],
            "faithfulness_correlation_evaluations": found["evaluations"]}


def _road(ctx: MetricContext) -> dict[str, float]:
    found = {name: road_morf(ctx.classifier, ctx.x, ctx.fs, ctx.leads, ctx.target, dense, ctx.rng("road"),
                             duration_sec=ctx.shown, tie_rng=ctx.rng("ranking-ties"), scale=ctx.ranking_scale)
             for name, dense in (("own", ctx.dense), ("random", ctx.random_dense))}
    return {"road_morf_auc": found["own"]["road_morf_auc"],
            "random_road_morf_auc": found["random"]["road_morf_auc"],
            "road_evaluations": found["own"]["evaluations"] + found["random"]["evaluations"]}


DELETION = MetricFamily(
    "deletion", _deletion, group="original", cost_column="deletion_evaluations", metrics=(
        Metric("deletion_auc", "Targeted deletion AUC (original toolkit)", False, None,
               note="probability area as the top lenient tokens are deleted; lower = more faithful"),
        Metric("faithfulness_gain", "Faithfulness gain over random negative tokens", True, 0.0, key=True,
               note="mean drop from deleting the top tokens minus the drop from deleting as much elsewhere"),
    ))
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
CORRELATION = MetricFamily(
    "faithfulness_correlation", _correlation, group="ranking",
    cost_column="faithfulness_correlation_evaluations", metrics=(
        Metric("faithfulness_correlation", "Faithfulness correlation", True, key=True,
               note="Pearson correlation of relevance and score drop over random cell subsets"),
    ))
ROAD = MetricFamily(
    "road", _road, group="ranking", cost_column="road_evaluations", metrics=(
        Metric("road_morf_auc", "ROAD MoRF area (noisy linear imputation)", False, key=True),
    ))
