"""Ground-truth localisation: how well an explanation finds evidence planted in a synthetic record.

``ecgxai.synth`` saves, beside each record, a lead x sample mask of where its
diagnosis shows. Two scores compare an explanation with it, the same way for
every method: the AUROC of the attribution (|weight| per lead and sample, zero
outside spans) against the mask, and whether the top-ranked span (lead x
window, largest |weight|) overlaps the mask on its lead; ``gt_top_hit_chance``
is the share of all the explanation's spans that overlap it, the hit rate a
random pick among them would have.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecgxai.evaluate.plausibility import att_auc
from ecgxai.explain.payload import Explanation
from ecgxai.synth import mask_path, read_ground_truth

LOCALISATION_KEYS = ("gt_auroc", "gt_top_hit", "gt_top_hit_chance")


def attribution_map(explanation: Explanation, lead_names: Sequence[str], n_samples: int,
                    fs: float) -> np.ndarray:
    """(leads, samples) map of summed |weight| of the spans covering each sample."""
    dense = np.zeros((len(lead_names), n_samples))
    for lead, spans in explanation.perlead_spans.items():
        if lead in lead_names:
            row = dense[list(lead_names).index(lead)]
            for start, end, weight in spans:
                row[_sample(start, fs, n_samples):_sample(end, fs, n_samples)] += abs(weight)
    return dense


def localisation_scores(explanation: Explanation, mask: np.ndarray, lead_names: Sequence[str],
                        fs: float) -> dict[str, float]:
    """AUROC against ``mask`` (leads x samples), top-span hit and its chance level."""
    dense = attribution_map(explanation, lead_names, mask.shape[1], fs)
    hits = [(abs(w), _overlaps(mask, lead_names, lead, s, e, fs))
            for lead, spans in explanation.perlead_spans.items() if lead in lead_names
            for s, e, w in spans]
    if not hits:
        return {"gt_auroc": att_auc(dense.ravel(), mask.ravel()), "gt_top_hit": float("nan"),
                "gt_top_hit_chance": float("nan")}
    top = max(range(len(hits)), key=lambda i: hits[i][0])  # first of equal weights, in span order
    return {"gt_auroc": att_auc(dense.ravel(), mask.ravel()),
            "gt_top_hit": float(hits[top][1]),
            "gt_top_hit_chance": float(np.mean([hit for _, hit in hits]))}


def ground_truth_localisation(explanation: Explanation, record_path: str | Path, code: str,
                              lead_names: Sequence[str], fs: float) -> dict[str, float]:
    """Localisation scores when the record has a planted mask for ``code``, else NaNs."""
    if not mask_path(record_path).is_file():
        return dict.fromkeys(LOCALISATION_KEYS, float("nan"))
    truth = read_ground_truth(record_path)
    if code not in truth.regions:
        return dict.fromkeys(LOCALISATION_KEYS, float("nan"))
    mask = truth.mask(code)
    rows = [truth.lead_names.index(lead) if lead in truth.lead_names else None for lead in lead_names]
    ordered = np.stack([mask[i] if i is not None else np.zeros(truth.n_samples, bool) for i in rows])
    return localisation_scores(explanation, ordered, lead_names, fs)


def _sample(seconds: float, fs: float, n_samples: int) -> int:
    return int(np.clip(round(seconds * fs), 0, n_samples))


def _overlaps(mask: np.ndarray, lead_names: Sequence[str], lead: str, start: float, end: float,
              fs: float) -> bool:
    row = mask[list(lead_names).index(lead)]
    return bool(row[_sample(start, fs, len(row)):_sample(end, fs, len(row))].any())
