"""Plausibility metrics and tokens on hand-built cases whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecgxai.classes import EvaluationRegion
from ecgxai.evaluate.plausibility import att_auc, blend_prior, f1_half_max, precision_at_k
from ecgxai.evaluate.tokens import make_tokens
from ecgxai.explain.relevance import span_mass
from ecgxai.signal.windows import BeatContext


def test_att_auc_counts_pairs_with_ties_averaged():
    # positives 0.9, 0.5; negatives 0.5, 0.1: pairs (0.9>0.5, 0.9>0.1, 0.5=0.5 -> 1/2, 0.5>0.1) = 3.5/4
    assert att_auc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.875)
    assert att_auc([0.1, 0.2, 0.3], [1, 0, 0]) == 0.0
    assert att_auc([1.0, 1.0, 1.0], [1, 0, 0]) == 0.5


def test_att_auc_is_nan_without_positives_or_negatives():
    assert math.isnan(att_auc([0.1, 0.2], [0, 0]))
    assert math.isnan(att_auc([0.1, 0.2], [1, 1]))


def test_precision_at_k():
    scores = [5, 4, 3, 2, 1]
    labels = [1, 0, 1, 1, 0]
    assert precision_at_k(scores, labels, k=2) == 0.5        # 5 (pos), 4 (neg)
    assert precision_at_k(scores, labels, k=4) == 0.75       # three of the top four
    assert precision_at_k(scores, labels, k=20) == 0.6       # fewer tokens than K: all of them


def test_f1_counts_tokens_at_half_the_maximum_as_highlighted():
    # max 1.0 -> highlighted: 1.0, 0.6, 0.5 ; positives: 1.0, 0.4
    # TP = 1, precision 1/3, recall 1/2 -> F1 = 2 * (1/6) / (5/6) = 0.4
    assert f1_half_max([1.0, 0.6, 0.5, 0.4], [1, 0, 0, 1]) == pytest.approx(0.4)
    assert f1_half_max([0.0, 0.0], [1, 0]) == 0.0
    assert math.isnan(f1_half_max([0.3, 0.2], [0, 0]))


def test_prior_blend_is_point_eight_prior_plus_point_two_normalised_scores():
    blended = blend_prior(np.array([2.0, 1.0, 0.0]), np.array([0.0, 1.0, 1.0]))
    np.testing.assert_allclose(blended, [0.2, 0.9, 0.8])


def test_span_mass_sums_duration_times_abs_weight():
    windows = np.array([[0.0, 1.0], [1.0, 2.0], [5.0, 6.0]])
    spans = [(0.5, 1.5, -2.0), (0.9, 1.1, 1.0)]
    # window 1: 0.5 * 2 + 0.1 * 1 = 1.1 ; window 2: 0.5 * 2 + 0.1 * 1 = 1.1 ; window 3: 0
    np.testing.assert_allclose(span_mass(spans, windows[:, 0], windows[:, 1]), [1.1, 1.1, 0.0])


def test_tokens_are_every_lead_times_every_beat_window():
    context = BeatContext(fs=500.0, duration_sec=3.0, r_peaks=np.array([500, 1000]), hr_bpm=60.0)
    region = EvaluationRegion(strict_leads=("II",), lenient_leads=("II", "V1"), windows=("beat",),
                          source="test")
    spans = {"II": [(0.8, 1.0, 0.5)], "V1": [(1.5, 2.5, -1.0)]}
    tokens = make_tokens(spans, context, region, ["I", "II", "V1"], class_code="164889003")
    assert len(tokens) == 3 * 2
    # beat windows [r-0.30, r+0.40]: [0.7, 1.4] and [1.7, 2.4]
    ii = tokens[tokens.lead == "II"]
    np.testing.assert_allclose(ii[["start_sec", "end_sec"]].to_numpy(), [[0.7, 1.4], [1.7, 2.4]])
    np.testing.assert_allclose(ii.score, [0.2 * 0.5, 0.0])
    v1 = tokens[tokens.lead == "V1"]
    np.testing.assert_allclose(v1.score, [0.0, 0.7 * 1.0])
    assert tokens.groupby("lead").strict.first().to_dict() == {"I": False, "II": True, "V1": False}
    assert tokens.groupby("lead").lenient.first().to_dict() == {"I": False, "II": True, "V1": True}


def test_given_windows_replace_the_fixed_ones():
    context = BeatContext(fs=500.0, duration_sec=3.0, r_peaks=np.array([500, 1000]), hr_bpm=60.0)
    region = EvaluationRegion(strict_leads=("II",), lenient_leads=("II",), windows=("beat",), source="test")
    tokens = make_tokens({"II": [(0.0, 3.0, 2.0)]}, context, region, ["II"], window_types=["d_qrs"],
                         given_windows={"d_qrs": [(0.95, 1.05), (1.9, 2.0), (2.5, 2.6)]})
    assert list(tokens.window) == ["d_qrs"] * 3 and list(tokens.beat) == [0, 1, 2]
    np.testing.assert_allclose(tokens.score, [0.2, 0.2, 0.2])
