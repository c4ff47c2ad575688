"""Targeted deletion, the original ECG-XAI toolkit's faithfulness metric, kept comparable with its
published numbers.

:func:`targeted_deletion` ranks the lenient-positive tokens (``lenient == True``) by score and
deletes (zeroes, :mod:`ecgxai.evaluate.masking`) the top ones until a fraction of their total
duration is gone; a control deletes the same duration of randomly chosen negative tokens.
``deletion_auc`` is the trapezoid area of the class probability over the fraction axis
``[0, *fractions]`` (raw, not normalised, as in the original); ``faithfulness_gain`` is the mean over
the fractions of the targeted probability drop minus the control drop. :data:`DELETION` is the
metric family the evaluator runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.context import Metric, MetricContext, MetricFamily
from ecgxai.evaluate.faithfulness import check_axis, predict_class, trapezoid
from ecgxai.evaluate.masking import Interval, check_rng, zero_intervals_batch
from ecgxai.models.base import Classifier

DELETION_FRACTIONS = (0.05, 0.1, 0.2, 0.3)
REQUIRED_TOKEN_COLUMNS = ("lead", "start_sec", "end_sec", "score", "lenient")
_DURATION_TOLERANCE = 1e-9


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
    rng = check_rng(rng)
    axis = check_axis(fractions, "fractions")
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

    probs = predict_class(classifier, zero_intervals_batch(x, fs, lead_names, deletions), target, batch_size)
    p0 = float(probs[0])
    n = len(axis)
    nan = [math.nan] * n
    targeted_p = probs[1: 1 + n].tolist() if deleted_sec else nan
    control_p = probs[1 + n: 1 + 2 * n].tolist() if control_sec else nan
    auc = trapezoid([p0, *targeted_p], [0.0, *axis]) if deleted_sec else math.nan
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


def _deletion(ctx: MetricContext) -> dict[str, float]:
    found = targeted_deletion(ctx.classifier, ctx.x, ctx.fs, ctx.leads, ctx.target, ctx.tokens,
                              ctx.rng("evaluate"))
    return {"deletion_auc": found["deletion_auc"], "faithfulness_gain": found["faithfulness_gain"],
            "deletion_evaluations": found["evaluations"]}


DELETION = MetricFamily(
    "deletion", _deletion, group="original", cost_column="deletion_evaluations", metrics=(
        Metric("deletion_auc", "Targeted deletion AUC (original toolkit)", False, None,
               note="probability area as the top lenient tokens are deleted; lower = more faithful"),
        Metric("faithfulness_gain", "Faithfulness gain over random negative tokens", True, 0.0, key=True,
               note="mean drop from deleting the top tokens minus the drop from deleting as much elsewhere"),
    ))
