"""Faithfulness: does deleting what an explanation points at change the model's answer?

Two families of metrics, both re-predicting the explained class on perturbed copies
of the model input ``x`` (T, L), where "deleting" means setting samples to zero:

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
  random attribution, the baseline every method is read against.

Every curve (or the whole set of curves of a record) is built as one (M, T, L)
array from lists of ``(lead, start_sec, end_sec)`` intervals by
:func:`zero_intervals_batch` and sent to ``classifier.predict`` in one call (which
batches it by the classifier's batch size); ``evaluations`` reports M.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ecgxai.errors import ConfigurationError
from ecgxai.explain.payload import Explanation
from ecgxai.models.base import Classifier

Interval = tuple[str, float, float]

DELETION_FRACTIONS = (0.05, 0.1, 0.2, 0.3)
RANKING_STEPS = tuple(round(0.05 * k, 2) for k in range(1, 11))
CELL_SEC = 0.1
REQUIRED_TOKEN_COLUMNS = ("lead", "start_sec", "end_sec", "score", "lenient")
_DURATION_TOLERANCE = 1e-9


# --- interval masking -------------------------------------------------------------------------


def interval_samples(start_sec: float, end_sec: float, fs: float, length: int) -> tuple[int, int]:
    """Sample range ``round(start * fs)`` to ``round(end * fs)`` (end exclusive), clipped to [0, length]."""
    start = min(max(round(float(start_sec) * fs), 0), length)
    end = min(max(round(float(end_sec) * fs), 0), length)
    return start, max(start, end)


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
    cumulative sum over time (overlapping intervals are fine).
    """
    index = _lead_index(lead_names)
    rows, starts, ends, leads = [], [], [], []
    for m, intervals in enumerate(interval_lists):
        for lead, start_sec, end_sec in intervals:
            if str(lead) not in index:
                raise ConfigurationError(f"lead {lead!r} is not among the model's leads {list(lead_names)}")
            start, end = interval_samples(start_sec, end_sec, fs, length)
            if end > start:
                rows.append(m)
                starts.append(start)
                ends.append(end)
                leads.append(index[str(lead)])
    edges = np.zeros((len(interval_lists), length + 1, len(lead_names)), dtype=np.int32)
    rows_, starts_, ends_, leads_ = (np.asarray(v, dtype=np.intp) for v in (rows, starts, ends, leads))
    np.add.at(edges, (rows_, starts_, leads_), 1)
    np.add.at(edges, (rows_, ends_, leads_), -1)
    return np.cumsum(edges[:, :length], axis=1) > 0


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
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != len(lead_names):
        raise ConfigurationError(f"x must be (T, L) with L = {len(lead_names)} leads, got {x.shape}")
    inside = interval_masks(len(x), fs, lead_names, interval_lists)
    keep = inside if keep_only else ~inside
    return x[None] * keep.astype(np.float32)


def zero_intervals(x: np.ndarray, fs: float, lead_names: Sequence[str],
                   intervals: Sequence[Interval]) -> np.ndarray:
    """A copy of ``x`` (T, L) with each ``(lead, start_sec, end_sec)`` interval set to zero."""
    return zero_intervals_batch(x, fs, lead_names, [intervals])[0]


def _predict_class(classifier: Classifier, batch: np.ndarray, target: int,
                   batch_size: int | None) -> np.ndarray:
    """One ``predict`` call on the whole (M, T, L) batch; the ``target`` column as float64."""
    return classifier.predict(batch, batch_size=batch_size)[:, target].astype(np.float64)


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


def cell_edges(duration_sec: float, cell_sec: float) -> np.ndarray:
    """(n, 2) start/end seconds of consecutive ``cell_sec`` cells over [0, duration_sec); the last
    cell is cut at ``duration_sec`` when the duration is not a whole number of cells."""
    if cell_sec <= 0 or duration_sec <= 0:
        raise ConfigurationError(f"cell_sec and duration_sec must be > 0, got {cell_sec}, {duration_sec}")
    n = max(1, math.ceil(duration_sec / cell_sec - _DURATION_TOLERANCE))
    starts = np.arange(n) * cell_sec
    return np.stack([starts, np.minimum(starts + cell_sec, duration_sec)], axis=1)


def cell_scores(perlead_spans: Mapping[str, Sequence[Sequence[float]]], lead_names: Sequence[str],
                edges: np.ndarray) -> np.ndarray:
    """(L, n) per lead and cell: the sum over that lead's spans of overlap duration x signed weight."""
    unknown = sorted(set(map(str, perlead_spans)) - set(map(str, lead_names)))
    if unknown and any(len(perlead_spans[lead]) for lead in unknown):
        raise ConfigurationError(f"spans on leads {unknown} that the model does not have {list(lead_names)}")
    scores = np.zeros((len(lead_names), len(edges)))
    for i, lead in enumerate(lead_names):
        spans = np.asarray(perlead_spans.get(lead, []), dtype=float).reshape(-1, 3)
        overlap = np.minimum(edges[None, :, 1], spans[:, 1:2]) - np.maximum(edges[None, :, 0], spans[:, 0:1])
        scores[i] = spans[:, 2] @ np.clip(overlap, 0.0, None)
    return scores


def cells_per_step(n_cells: int, steps: np.ndarray) -> list[int]:
    """Cells removed (or inserted) at each step: ``floor(step x n_cells + 0.5)`` (round half up)."""
    return [math.floor(s * n_cells + 0.5) for s in steps]


def _spans_of(attribution: Any) -> Mapping[str, Sequence[Sequence[float]]]:
    if isinstance(attribution, Explanation):
        return attribution.perlead_spans
    if isinstance(attribution, Mapping) and "perlead_spans" in attribution:
        return attribution["perlead_spans"]
    return attribution


def ranking_curves(
    classifier: Classifier,
    x: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    target: int | str,
    perlead_spans: Mapping[str, Sequence[Sequence[float]]] | Explanation,
    cell_sec: float = CELL_SEC,
    steps: Sequence[float] = RANKING_STEPS,
    duration_sec: float | None = None,
    *,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """MoRF, LeRF and insertion curves of an attribution over every lead x ``cell_sec`` cell.

    Cells cover [0, ``duration_sec``) (default T / fs) on every lead; a cell's score is
    the sum over the lead's spans of overlap x signed weight (positive = evidence for
    the class). Cells are ranked by score with ties in lead order, then time. At each
    step s, ``floor(s x n_cells + 0.5)`` cells are zeroed most positive first (MoRF),
    least positive first (LeRF), or kept in an all-zero input most positive first
    (insertion). Curves start at fraction 0 with ``p0`` (MoRF, LeRF) or the all-zero
    input's probability (insertion).

    Normalisation: each ``*_auc`` = trapezoid area over ``[0, *steps]`` divided by
    ``p0 x steps[-1]``, i.e. "area / (p0 x 0.5)" with the default steps, so a curve flat
    at ``p0`` scores 1.0 (NaN when ``p0`` is 0). Lower ``morf_auc`` and higher
    ``lerf_auc``/``insertion_auc`` are better; ``lerf_morf_gap = lerf_auc - morf_auc``.
    All 2 + 3 x len(steps) inputs go to ``predict`` in one call (``evaluations``).
    """
    axis = _check_axis(steps, "steps")
    target = classifier.class_index(target)
    x = np.asarray(x, dtype=np.float32)
    duration = len(x) / fs if duration_sec is None else float(duration_sec)
    edges = cell_edges(duration, cell_sec)
    scores = cell_scores(_spans_of(perlead_spans), lead_names, edges).ravel()  # lead-major, then time
    n_time = len(edges)
    cells = [(str(lead_names[i // n_time]), float(edges[i % n_time, 0]), float(edges[i % n_time, 1]))
             for i in range(len(scores))]
    morf_order = np.argsort(-scores, kind="stable")
    lerf_order = np.argsort(scores, kind="stable")
    counts = cells_per_step(len(cells), axis)

    def prefixes(order: np.ndarray) -> list[list[Interval]]:
        return [[cells[i] for i in order[:k]] for k in counts]

    n = len(axis)
    deleted = [[], *prefixes(morf_order), *prefixes(lerf_order)]
    inserted = [[], *prefixes(morf_order)]
    batch = np.concatenate([zero_intervals_batch(x, fs, lead_names, deleted),
                            zero_intervals_batch(x, fs, lead_names, inserted, keep_only=True)])
    probs = _predict_class(classifier, batch, target, batch_size)
    p0 = float(probs[0])
    morf = [p0, *probs[1: 1 + n].tolist()]
    lerf = [p0, *probs[1 + n: 1 + 2 * n].tolist()]
    insertion = probs[1 + 2 * n:].tolist()
    fractions = [0.0, *axis.tolist()]
    scale = p0 * float(axis[-1])

    def normalised_area(curve: list[float]) -> float:
        return _trapezoid(curve, fractions) / scale if scale > 0 else math.nan

    morf_auc, lerf_auc, insertion_auc = (normalised_area(c) for c in (morf, lerf, insertion))
    return {
        "morf_auc": morf_auc,
        "lerf_auc": lerf_auc,
        "insertion_auc": insertion_auc,
        "lerf_morf_gap": lerf_auc - morf_auc,
        "morf_curve": morf,
        "lerf_curve": lerf,
        "insertion_curve": insertion,
        "fractions": fractions,
        "cells_per_step": [0, *counts],
        "n_cells": len(cells),
        "cell_sec": float(cell_sec),
        "duration_sec": duration,
        "p0": p0,
        "normalisation": f"area / (p0 x {float(axis[-1]):g})",
        "evaluations": len(batch),
    }


def random_attribution(lead_names: Sequence[str], duration_sec: float, cell_sec: float,
                       rng: np.random.Generator) -> dict[str, list[tuple[float, float, float]]]:
    """perlead_spans with one span per ``cell_sec`` cell and a standard-normal signed weight."""
    rng = _check_rng(rng)
    edges = cell_edges(float(duration_sec), cell_sec)
    weights = rng.standard_normal((len(lead_names), len(edges)))
    return {str(lead): [(float(s), float(e), float(w)) for (s, e), w in zip(edges, weights[i], strict=True)]
            for i, lead in enumerate(lead_names)}


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
) -> dict[str, Any]:
    """:func:`ranking_curves` of a :func:`random_attribution` on the same record and model: the
    chance level (``lerf_morf_gap`` near 0 on average) every method is read against."""
    duration = len(x) / fs if duration_sec is None else float(duration_sec)
    spans = random_attribution(lead_names, duration, cell_sec, rng)
    return ranking_curves(classifier, x, fs, lead_names, target, spans, cell_sec=cell_sec, steps=steps,
                          duration_sec=duration, batch_size=batch_size)
