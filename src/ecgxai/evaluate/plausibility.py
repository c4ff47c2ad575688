"""Plausibility: do an explanation's token scores point at the clinically expected tokens?

Definitions follow the original toolkit so figures are comparable: AttAUC is the
Mann-Whitney rank AUC (ties averaged), Precision@K the share of positives among the
K highest-scoring tokens, F1 counts tokens scoring at least half the maximum as
highlighted. :data:`PLAUSIBILITY` scores the class's tokens; :data:`DELINEATED` the same
against neurokit2-delineated P/PR/QRS/ST/T windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ecgxai.evaluate.context import Metric, MetricContext, MetricFamily
from ecgxai.evaluate.tokens import delineated_types, make_tokens
from ecgxai.signal.windows import delineated_window_sets

PRIOR_ALPHA = 0.8


def att_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC of scores against binary labels; NaN without positives or negatives."""
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=float))  # ties get their average rank
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_k(scores: np.ndarray, labels: np.ndarray, k: int = 20) -> float:
    """Share of positives among the ``k`` highest-scoring tokens.

    Ties go to the later tokens, as in the original toolkit (``argsort(scores)[::-1]``),
    which reproduces its published P@K on all 70 reference records.
    """
    labels = np.asarray(labels, dtype=bool)
    if len(labels) == 0:
        return float("nan")
    top = np.argsort(np.asarray(scores, dtype=float), kind="stable")[::-1][:k]
    return float(labels[top].mean())


def f1_half_max(scores: np.ndarray, labels: np.ndarray) -> float:
    """F1 of "highlighted" (score >= half the maximum score) against labels.

    NaN without positives; 0 when nothing is highlighted (all scores zero).
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    if not labels.any():
        return float("nan")
    peak = scores.max(initial=0.0)
    highlighted = scores >= 0.5 * peak if peak > 0 else np.zeros_like(labels)
    hits = int((highlighted & labels).sum())
    if hits == 0:
        return 0.0
    precision, recall = hits / highlighted.sum(), hits / labels.sum()
    return float(2 * precision * recall / (precision + recall))


def blend_prior(scores: np.ndarray, prior: np.ndarray, alpha: float = PRIOR_ALPHA) -> np.ndarray:
    """The original's ``use_priors``: alpha x prior mask + (1 - alpha) x scores / max(scores).

    This injects the expected answer into the explanation; it is off by default and
    every evaluation row records whether it was used.
    """
    scores = np.asarray(scores, dtype=float)
    peak = scores.max(initial=0.0)
    normalised = scores / peak if peak > 0 else scores
    return alpha * np.asarray(prior, dtype=float) + (1 - alpha) * normalised


def plausibility_metrics(tokens: pd.DataFrame, k: int) -> dict[str, float]:
    """Strict and lenient AttAUC, F1 and Precision@K of a token table."""
    scores = tokens["score"].to_numpy(dtype=float)
    out: dict[str, float] = {"precision_k": k, "n_tokens": len(tokens)}
    for level in ("strict", "lenient"):
        labels = tokens[level].to_numpy(dtype=bool)
        out[f"{level}_attauc"] = att_auc(scores, labels)
        out[f"{level}_f1"] = f1_half_max(scores, labels)
        out[f"{level}_p_at_k"] = precision_at_k(scores, labels, k)
    return out


def _plausibility(ctx: MetricContext) -> dict[str, float]:
    return plausibility_metrics(ctx.tokens, ctx.k)


def _delineated(ctx: MetricContext) -> dict[str, float]:
    """AttAUC against the alternative ground truth of neurokit2-delineated P/PR/QRS/ST/T windows."""
    types = delineated_types(ctx.region.windows)
    record = ctx.record
    given = delineated_window_sets(record.to_units("adc"), record.fs, record.lead_names, types,
                                   r_peaks=ctx.beats.r_peaks)
    tokens = make_tokens(ctx.relevance, ctx.beats, ctx.region, ctx.leads, class_code=ctx.code,
                         window_types=types, given_windows=given)
    scores = tokens["score"].to_numpy(dtype=float)
    return {"strict_attauc_delin": att_auc(scores, tokens["strict"].to_numpy(dtype=bool)),
            "lenient_attauc_delin": att_auc(scores, tokens["lenient"].to_numpy(dtype=bool)),
            "n_tokens_delin": len(tokens)}


_AUC_NOTE = "AUROC of token scores against the class's clinically expected lead x beat-window tokens"
PLAUSIBILITY = MetricFamily(
    "plausibility", _plausibility, group="original", columns=("precision_k", "n_tokens"), metrics=(
        Metric("strict_attauc", "AttAUC, strict leads", True, 0.5, key=True, note=_AUC_NOTE),
        Metric("lenient_attauc", "AttAUC, lenient leads", True, 0.5, note=_AUC_NOTE),
        Metric("strict_f1", "F1 at half max, strict leads", True, None),
        Metric("lenient_f1", "F1 at half max, lenient leads", True, None),
        Metric("strict_p_at_k", "Precision@K, strict leads", True, None),
        Metric("lenient_p_at_k", "Precision@K, lenient leads", True, None),
    ))
DELINEATED = MetricFamily(
    "delineated", _delineated, group="original", columns=("n_tokens_delin",), metrics=(
        Metric("strict_attauc_delin", "AttAUC on delineated waves, strict leads", True, 0.5),
        Metric("lenient_attauc_delin", "AttAUC on delineated waves, lenient leads", True, 0.5),
    ))
