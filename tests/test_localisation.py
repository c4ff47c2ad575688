"""Ground-truth localisation scores, worked by hand on small masks, and read from planted masks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ecgxai.evaluate.localisation import attribution_map, ground_truth_localisation, localisation_scores
from ecgxai.explain.payload import Explanation

LEADS = ["I", "II"]
FS = 10.0


def _explanation(spans: dict) -> Explanation:
    return Explanation(mat_path="x.mat", target_label="59118001", method_label="test", page_seconds=2.0,
                       perlead_spans=spans)


def _mask() -> np.ndarray:
    mask = np.zeros((2, 20), dtype=bool)
    mask[0, 5:10] = True  # evidence on lead I, 0.5-1.0 s
    return mask


def test_attribution_map_sums_absolute_weights_per_sample():
    dense = attribution_map(_explanation({"I": [(0.5, 1.0, 2.0), (0.8, 1.2, -1.0)]}), LEADS, 20, FS)
    expected = np.zeros((2, 20))
    expected[0, 5:10] += 2.0
    expected[0, 8:12] += 1.0
    np.testing.assert_array_equal(dense, expected)


def test_explanation_on_the_evidence_scores_perfectly():
    # Lead I spans exactly the mask with |w| = 2; lead II has |w| = 1 away from it.
    scores = localisation_scores(_explanation({"I": [(0.5, 1.0, 2.0)], "II": [(0.0, 0.5, -1.0)]}),
                                 _mask(), LEADS, FS)
    assert scores == {"gt_auroc": 1.0, "gt_top_hit": 1.0, "gt_top_hit_chance": 0.5}


def test_explanation_led_astray_by_a_larger_span_elsewhere():
    # 5 positives score 2; of 35 negatives, 5 score 3 and 30 score 0: AUROC = 5 * 30 / (5 * 35).
    scores = localisation_scores(_explanation({"I": [(0.5, 1.0, 2.0)], "II": [(0.0, 0.5, 3.0)]}),
                                 _mask(), LEADS, FS)
    assert scores["gt_auroc"] == pytest.approx(150 / 175)
    assert scores["gt_top_hit"] == 0.0
    assert scores["gt_top_hit_chance"] == 0.5


def test_no_mask_file_gives_nan(tmp_path: Path):
    scores = ground_truth_localisation(_explanation({"I": [(0.5, 1.0, 2.0)]}), tmp_path / "R1.mat",
                                       "59118001", LEADS, FS)
    assert all(math.isnan(v) for v in scores.values())
