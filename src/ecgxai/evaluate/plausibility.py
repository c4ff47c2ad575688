"""Plausibility: do an explanation's token scores point at the clinically expected tokens?

Definitions follow the original toolkit so figures are comparable: AttAUC is the
Mann-Whitney rank AUC (ties averaged), Precision@K the share of positives among the
K highest-scoring tokens, F1 counts tokens scoring at least half the maximum as
highlighted.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

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
