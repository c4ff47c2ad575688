"""Ground-truth localisation: how well an explanation finds evidence planted in a synthetic record.

``ecgxai.synth`` saves, beside each record, a lead x sample mask of where its
diagnosis shows. Two families of scores compare an explanation (its whole map, or its spans
when it has no map) with that mask brought onto the model input's time axis, the same way for
every method:

* :data:`LOCALISATION` (:func:`localisation_scores`): the AUROC of |relevance| per lead and
  sample against the mask, and whether the top-ranked cell (a span, or a segment x lead of the
  map, largest |weight|) overlaps the mask on its lead; ``gt_top_hit_chance`` is the share of
  all cells that overlap it, the hit rate of a random pick among them.
* :data:`MASK_RELEVANCE` (:func:`mask_relevance_scores` on plain arrays: a signed relevance map
  and a mask of the same shape): the pointing game (is the most relevant point inside the mask),
  relevance mass accuracy (share of the positive relevance inside the mask) and relevance rank
  accuracy (share of the top-|mask| points inside it), as in Quantus' PointingGame,
  RelevanceMassAccuracy and RelevanceRankAccuracy, each beside the random map's score. Ties are
  resolved in expectation (a uniformly random tie-break), so the scores do not depend on point order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecgxai.evaluate.context import Metric, MetricContext, MetricFamily
from ecgxai.evaluate.plausibility import att_auc
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import MapRelevance, Relevance, interval_samples, relevance_of
from ecgxai.synth import mask_path, read_ground_truth

LOCALISATION_KEYS = ("gt_auroc", "gt_top_hit", "gt_top_hit_chance")
MASK_RELEVANCE_KEYS = ("pointing_game", "relevance_mass_accuracy", "relevance_rank_accuracy")


def attribution_map(explanation: Explanation, lead_names: Sequence[str], n_samples: int,
                    fs: float) -> np.ndarray:
    """(leads, samples) |relevance| of an explanation: its map's, else the summed |weight| of the
    spans covering each sample."""
    return relevance_of(explanation, lead_names, n_samples, fs).dense(absolute=True).T


def _cells_hitting(relevance: Relevance, mask: np.ndarray) -> list[tuple[float, bool]]:
    """(|weight|, overlaps the mask on its lead) of every cell: each span, or each segment x lead."""
    leads = relevance.lead_names
    if isinstance(relevance, MapRelevance):
        attribution = relevance.attribution
        values = attribution.segment_values()
        return [(abs(values[j, attribution.lead_names.index(lead)]), bool(mask[row, start:end].any()))
                for row, lead in enumerate(leads) if lead in attribution.lead_names
                for j, (start, end) in enumerate(attribution.segments.tolist())]
    n = mask.shape[1]
    return [(abs(w), bool(mask[leads.index(lead), slice(*interval_samples(s, e, relevance.fs, n,
                                                                            relevance.start_sec))].any()))
            for lead, spans in relevance.perlead_spans.items() if lead in leads for s, e, w in spans]


def localisation_scores(explanation: Explanation | Relevance, mask: np.ndarray, lead_names: Sequence[str],
                        fs: float) -> dict[str, float]:
    """AUROC against ``mask`` (leads x input samples at ``fs``), top-cell hit and its chance level."""
    relevance = (relevance_of(explanation, lead_names, mask.shape[1], fs)
                 if isinstance(explanation, Explanation) else explanation)
    dense = relevance.dense(absolute=True).T
    auroc = att_auc(dense.ravel(), mask.ravel())
    hits = _cells_hitting(relevance, mask)
    if not hits:
        return {"gt_auroc": auroc, "gt_top_hit": math.nan, "gt_top_hit_chance": math.nan}
    top = max(range(len(hits)), key=lambda i: hits[i][0])  # first of equal weights, in cell order
    return {"gt_auroc": auroc, "gt_top_hit": float(hits[top][1]),
            "gt_top_hit_chance": float(np.mean([hit for _, hit in hits]))}


def planted_mask(record_path: str | Path, code: str, lead_names: Sequence[str]) -> np.ndarray | None:
    """(leads, samples) bool mask of ``code``'s planted evidence, rows in ``lead_names`` order (all
    False for a lead the mask file lacks); None when the record has no mask for ``code``."""
    if not mask_path(record_path).is_file():
        return None
    truth = read_ground_truth(record_path)
    if code not in truth.regions:
        return None
    mask = truth.mask(code)
    rows = [truth.lead_names.index(lead) if lead in truth.lead_names else None for lead in lead_names]
    return np.stack([mask[i] if i is not None else np.zeros(truth.n_samples, bool) for i in rows])


def mask_on_input(mask: np.ndarray, record_fs: float, fs: float, start_sec: float, n_samples: int
                  ) -> np.ndarray:
    """A (leads, record samples) mask on the model input's axis: input sample i (at ``fs``, from
    ``start_sec``) takes the record sample nearest its time (False past the record's end)."""
    times = start_sec + np.arange(n_samples) / fs
    index = np.round(times * record_fs).astype(np.int64)
    inside = index < mask.shape[1]
    out = np.zeros((mask.shape[0], n_samples), dtype=bool)
    out[:, inside] = mask[:, index[inside]]
    return out


def ground_truth_localisation(explanation: Explanation, record_path: str | Path, code: str,
                              lead_names: Sequence[str], fs: float) -> dict[str, float]:
    """Localisation scores when the record has a planted mask for ``code``, else NaNs."""
    mask = planted_mask(record_path, code, lead_names)
    if mask is None:
        return dict.fromkeys(LOCALISATION_KEYS, math.nan)
    return localisation_scores(explanation, mask, lead_names, fs)


# --- pointing game, relevance mass and rank accuracy (plain arrays) ----------------------------


def _checked(relevance: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    relevance, mask = np.asarray(relevance, dtype=float), np.asarray(mask, dtype=bool)
    if relevance.shape != mask.shape:
        raise ValueError(f"relevance {relevance.shape} and mask {mask.shape} differ in shape")
    return relevance.ravel(), mask.ravel()


def expected_top_hits(relevance: np.ndarray, mask: np.ndarray, k: int) -> float:
    """Expected number of mask points among the ``k`` most relevant points, ties at the k-th value
    broken uniformly at random: points above it all count, the remaining places go to the tied
    points in proportion to the share of them inside the mask."""
    values, inside = _checked(relevance, mask)
    k = min(int(k), values.size)
    if k < 1:
        return 0.0
    threshold = np.partition(values, values.size - k)[values.size - k]  # the k-th largest value
    above, tied = values > threshold, values == threshold
    places = k - int(above.sum())
    return float(inside[above].sum() + places * inside[tied].mean())


def pointing_game(relevance: np.ndarray, mask: np.ndarray) -> float:
    """Is the most relevant point inside ``mask``? 1 or 0; with several equally relevant top points,
    the share of them inside (the hit rate of a random pick). NaN without positive relevance or mask."""
    values, inside = _checked(relevance, mask)
    if not inside.any() or not values.size or values.max() <= 0:
        return math.nan
    return expected_top_hits(relevance, mask, 1)


def relevance_mass_accuracy(relevance: np.ndarray, mask: np.ndarray) -> float:
    """Positive relevance inside ``mask`` / all positive relevance (negative relevance, evidence
    against the class, is left out). NaN without positive relevance or mask."""
    values, inside = _checked(relevance, mask)
    positive = np.clip(values, 0.0, None)
    total = positive.sum()
    if not inside.any() or total <= 0:
        return math.nan
    return float(positive[inside].sum() / total)


def relevance_rank_accuracy(relevance: np.ndarray, mask: np.ndarray) -> float:
    """Share of the |mask| most relevant points that lie inside ``mask`` (K = number of mask points;
    ties in expectation). NaN without positive relevance or mask."""
    values, inside = _checked(relevance, mask)
    k = int(inside.sum())
    if k == 0 or values.max() <= 0:
        return math.nan
    return expected_top_hits(relevance, mask, k) / k


def mask_relevance_scores(relevance: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """:data:`MASK_RELEVANCE_KEYS` of a relevance map against a mask of the same shape."""
    return {"pointing_game": pointing_game(relevance, mask),
            "relevance_mass_accuracy": relevance_mass_accuracy(relevance, mask),
            "relevance_rank_accuracy": relevance_rank_accuracy(relevance, mask)}


def _sample(seconds: float, fs: float, n_samples: int) -> int:
    return int(np.clip(round(seconds * fs), 0, n_samples))


def _overlaps(mask: np.ndarray, lead_names: Sequence[str], lead: str, start: float, end: float,
              fs: float) -> bool:
    row = mask[list(lead_names).index(lead)]
    return bool(row[_sample(start, fs, len(row)):_sample(end, fs, len(row))].any())


def _localisation(ctx: MetricContext) -> dict[str, float]:
    if ctx.mask is None:
        return LOCALISATION.empty()
    chance = localisation_scores(ctx.random_relevance, ctx.mask, ctx.leads, ctx.fs)["gt_auroc"]
    return {**localisation_scores(ctx.relevance, ctx.mask, ctx.leads, ctx.fs), "random_gt_auroc": chance}


def _mask_relevance(ctx: MetricContext) -> dict[str, float]:
    if ctx.mask is None:
        return MASK_RELEVANCE.empty()
    own = mask_relevance_scores(ctx.dense, ctx.mask.T)
    chance = mask_relevance_scores(ctx.random_dense, ctx.mask.T)
    return {**own, **{f"random_{key}": value for key, value in chance.items()}}


LOCALISATION = MetricFamily(
    "localisation", _localisation, group="localisation", columns=("gt_top_hit_chance",), metrics=(
        Metric("gt_auroc", "Ground-truth AUROC (planted evidence)", True, key=True,
               note="AUROC of |relevance| per lead and sample against the planted mask (0.5 = chance; "
                    "random_gt_auroc scores the random map of the same resolution)"),
        Metric("gt_top_hit", "Top cell on planted evidence", True, "gt_top_hit_chance"),
    ))
MASK_RELEVANCE = MetricFamily(
    "mask_relevance", _mask_relevance, group="localisation", metrics=(
        Metric("pointing_game", "Pointing game", True, key=True),
        Metric("relevance_mass_accuracy", "Relevance mass accuracy", True, key=True),
        Metric("relevance_rank_accuracy", "Relevance rank accuracy", True),
    ))
