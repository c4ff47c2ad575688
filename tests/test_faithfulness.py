"""Faithfulness metrics on models whose answer is known by hand.

Targeted deletion (the original toolkit's metric) is checked on a planted model,
p = sigmoid(a * mean(x[t0:t1, lead k]) + b), with tokens built so the top token is
the planted window; the ranking curves on a model linear in its cell means, where
the true contribution of each cell is its weight.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import ecgxai
from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.deletion import targeted_deletion
from ecgxai.evaluate.faithfulness import (
    cell_intervals,
    cell_sums,
    random_ranking_curves,
    ranking_curves,
)
from ecgxai.evaluate.masking import zero_intervals, zero_intervals_batch
from ecgxai.explain.relevance import random_spans, span_relevance

FS, T, LEADS = 100, 500, ("I", "II", "V1")
PLANT_LEAD, PLANT_START, PLANT_END = 1, 200, 300    # lead II, 2.0-3.0 s
A, B = 3.0, -1.0
CODES = ["planted", "other"]


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def planted_numpy(x: np.ndarray) -> np.ndarray:
    evidence = x[:, PLANT_START:PLANT_END, PLANT_LEAD].astype(np.float64).mean(axis=1)
    p = 1 / (1 + np.exp(-(A * evidence + B)))
    return np.stack([p, np.full_like(p, 0.5)], axis=1)


class Recorder:
    """A callable model that keeps a copy of every batch it is given."""

    def __init__(self, fn):
        self.fn = fn
        self.calls: list[np.ndarray] = []
        self.__name__ = "recorder"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(np.array(x))
        return self.fn(x)


def load(fn, input_length=T, leads=LEADS, batch_size=64):
    return ecgxai.load_model(fn, class_names=CODES, input_length=input_length, lead_names=list(leads),
                             batch_size=batch_size)


def recording_model(fn=planted_numpy, **kwargs):
    recorder = Recorder(fn)
    model = load(recorder, **kwargs)
    recorder.calls.clear()  # the load-time output-width probe
    return model, recorder


def ones(length=T, n_leads=3) -> np.ndarray:
    return np.ones((length, n_leads), dtype=np.float32)


def token_table(rows) -> pd.DataFrame:
    """rows: (lead, start_sec, end_sec, score, lenient)."""
    frame = pd.DataFrame(rows, columns=["lead", "start_sec", "end_sec", "score", "lenient"])
    frame.insert(1, "window", "qrs")
    frame.insert(2, "beat", range(len(frame)))
    frame["strict"] = frame["lenient"]
    return frame[["lead", "window", "beat", "start_sec", "end_sec", "score", "strict", "lenient"]]


def hand_mask(intervals, length=T, leads=LEADS) -> np.ndarray:
    mask = np.zeros((length, len(leads)), dtype=bool)
    for lead, start, end in intervals:
        mask[round(start * FS):round(end * FS), leads.index(lead)] = True
    return mask


NEGATIVES = [("I", 0.0, 1.0, 0.0, False), ("I", 1.0, 2.0, 0.1, False), ("I", 2.0, 3.0, 0.0, False),
             ("V1", 0.0, 1.0, 0.2, False), ("V1", 3.0, 4.0, 0.0, False), ("V1", 4.0, 5.0, 0.0, False)]


# --- interval helpers -------------------------------------------------------------------------


def test_zero_intervals_zeroes_exactly_the_rounded_samples_on_the_lead():
    x = ones()
    out = zero_intervals(x, FS, LEADS, [("II", 0.104, 0.196), ("V1", 4.9, 7.0)])
    expected = ~hand_mask([("II", 0.10, 0.20), ("V1", 4.9, 5.0)])   # rounded, clipped to T
    np.testing.assert_array_equal(out, expected.astype(np.float32))
    assert x.min() == 1.0  # a copy: the input is untouched


def test_batched_zeroing_matches_single_copies_and_keep_only_is_its_complement():
    x = np.random.default_rng(0).standard_normal((T, 3)).astype(np.float32)
    lists = [[], [("I", 0.5, 1.0)], [("II", 1.0, 2.0), ("II", 1.5, 2.5), ("V1", 0.0, 0.2)]]
    batch = zero_intervals_batch(x, FS, LEADS, lists)
    assert batch.shape == (3, T, 3)
    for row, intervals in zip(batch, lists, strict=True):
        np.testing.assert_array_equal(row, zero_intervals(x, FS, LEADS, intervals))
        np.testing.assert_array_equal(row, np.where(hand_mask(intervals), 0, x))
    kept = zero_intervals_batch(x, FS, LEADS, lists, keep_only=True)
    np.testing.assert_array_equal(kept + batch, np.broadcast_to(x, batch.shape))
    assert not kept[0].any()


def test_unknown_lead_is_refused():
    with pytest.raises(ConfigurationError, match="aVQ"):
        zero_intervals(ones(), FS, LEADS, [("aVQ", 0.0, 1.0)])


# --- targeted deletion ------------------------------------------------------------------------


def planted_tokens() -> pd.DataFrame:
    """Positives on lead II (1.5 s in all); the top-scored one is exactly the planted window."""
    positives = [("II", 0.5, 0.75, 1.0, True), ("II", 2.0, 3.0, 5.0, True), ("II", 4.0, 4.25, 0.5, True)]
    return token_table(positives + NEGATIVES)


def test_deleting_the_planted_window_gives_the_hand_computed_auc_and_gain():
    model = load(planted_numpy)
    result = targeted_deletion(model, ones(), FS, LEADS, 0, planted_tokens(), np.random.default_rng(0))
    # At every default fraction (<= 0.3 x 1.5 s = 0.45 s) the 1 s top token alone crosses the
    # threshold, so each deletion zeroes exactly the planted window: mean 1 -> 0.
    p0, p_del = sigmoid(A * 1 + B), sigmoid(B)
    auc = 0.05 * (p0 + p_del) / 2 + (0.1 - 0.05) * p_del + (0.2 - 0.1) * p_del + (0.3 - 0.2) * p_del
    assert result["deletion_auc"] == pytest.approx(auc, abs=1e-6)
    # the control deletes negatives only (other leads), so the model does not move: gain = p0 - p_del
    assert result["faithfulness_gain"] == pytest.approx(p0 - p_del, abs=1e-6)
    assert result["probabilities"] == pytest.approx([p0] + [p_del] * 4, abs=1e-6)
    assert result["control_probabilities"] == pytest.approx([p0] * 5, abs=1e-6)
    assert result["deleted_sec"] == pytest.approx([1.0] * 4)
    assert result["evaluations"] == 1 + 4 + 4
    assert (result["n_positive"], result["n_negative"]) == (3, 6)


def test_fractions_take_tokens_by_score_until_the_duration_is_reached():
    """Ranked A (3), B (2), D (2, after B in table order), C (1); cumulative 0.2, 0.5, 0.8, 1.3 s."""
    model, recorder = recording_model()
    positives = [("II", 4.0, 4.5, 1.0, True),    # C
                 ("II", 1.0, 1.3, 2.0, True),    # B
                 ("II", 0.2, 0.4, 3.0, True),    # A
                 ("II", 3.0, 3.3, 2.0, True)]    # D: ties with B, later in the table
    a, b, c, d = ("II", 0.2, 0.4), ("II", 1.0, 1.3), ("II", 4.0, 4.5), ("II", 3.0, 3.3)
    fractions = (0.1, 0.3, 0.5, 0.9)   # thresholds 0.13, 0.39, 0.65, 1.17 s
    result = targeted_deletion(model, ones(), FS, LEADS, 0, token_table(positives + NEGATIVES),
                               np.random.default_rng(1), fractions=fractions)
    assert len(recorder.calls) == 1 and len(recorder.calls[0]) == 9 == result["evaluations"]
    batch = recorder.calls[0]
    np.testing.assert_array_equal(batch[0], ones())
    for row, deleted in zip(batch[1:5], [[a], [a, b], [a, b, d], [a, b, d, c]], strict=True):
        np.testing.assert_array_equal(row == 0, hand_mask(deleted))
    assert result["deleted_sec"] == pytest.approx([0.2, 0.5, 0.8, 1.3])
    assert result["fractions"] == [0.0, *fractions]


def chosen_negatives(row: np.ndarray) -> list[int]:
    """Which NEGATIVES a control input zeroed; each must be zeroed whole or not at all."""
    zeroed = row == 0
    chosen = []
    for i, (lead, start, end, _, _) in enumerate(NEGATIVES):
        inside = zeroed[hand_mask([(lead, start, end)])]
        assert inside.all() or not inside.any()
        if inside.all():
            chosen.append(i)
    assert not (zeroed & ~hand_mask([n[:3] for n in NEGATIVES])).any()  # nothing outside the negatives
    return chosen


def control_rows(seed: int, fractions=(0.1, 0.3, 0.6, 1.0)) -> tuple[np.ndarray, dict]:
    model, recorder = recording_model()
    positives = [("II", 0.2, 0.7, 2.0, True), ("II", 1.0, 1.5, 1.5, True), ("II", 2.0, 3.0, 1.0, True)]
    result = targeted_deletion(model, ones(), FS, LEADS, 0, token_table(positives + NEGATIVES),
                               np.random.default_rng(seed), fractions=fractions)
    return recorder.calls[0][1 + len(fractions):], result


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_control_deletes_only_negatives_matching_the_deleted_duration(seed):
    rows, result = control_rows(seed)
    durations = [end - start for _, start, end, _, _ in NEGATIVES]
    previous: set[int] = set()
    for row, needed, reported in zip(rows, result["deleted_sec"], result["control_deleted_sec"], strict=True):
        chosen = chosen_negatives(row)
        total = sum(durations[i] for i in chosen)
        assert total == pytest.approx(reported)
        assert total >= needed - 1e-9                                     # reaches the duration ...
        assert any(total - durations[i] < needed - 1e-9 for i in chosen)  # ... stopping at the crossing one
        assert previous <= set(chosen)   # one permutation for all fractions: the sets are nested
        previous = set(chosen)


def test_same_seed_same_control_and_different_seed_different_control():
    first, first_result = control_rows(7)
    again, again_result = control_rows(7)
    np.testing.assert_array_equal(first, again)
    assert first_result["control_probabilities"] == again_result["control_probabilities"]
    others = [control_rows(seed)[0] for seed in (8, 9)]
    assert any(not np.array_equal(first, other) for other in others)


def test_no_positive_tokens_gives_nan_without_error():
    model = load(planted_numpy)
    result = targeted_deletion(model, ones(), FS, LEADS, 0, token_table(NEGATIVES), np.random.default_rng(0))
    assert math.isnan(result["deletion_auc"]) and math.isnan(result["faithfulness_gain"])
    assert result["probabilities"][0] == pytest.approx(sigmoid(A + B), abs=1e-6)
    assert all(math.isnan(p) for p in result["probabilities"][1:])
    assert result["evaluations"] == 1
    empty = targeted_deletion(model, ones(), FS, LEADS, 0, token_table([]), np.random.default_rng(0))
    assert math.isnan(empty["deletion_auc"]) and math.isnan(empty["faithfulness_gain"])


def test_no_negative_tokens_gives_nan_gain_but_a_deletion_auc():
    model = load(planted_numpy)
    tokens = planted_tokens()
    result = targeted_deletion(model, ones(), FS, LEADS, 0, tokens[tokens["lenient"]],
                               np.random.default_rng(0))
    assert math.isfinite(result["deletion_auc"]) and math.isnan(result["faithfulness_gain"])
    assert all(math.isnan(p) for p in result["control_probabilities"][1:])
    assert result["evaluations"] == 5


def test_deletion_needs_a_generator_and_the_token_columns():
    model = load(planted_numpy)
    with pytest.raises(ConfigurationError, match="Generator"):
        targeted_deletion(model, ones(), FS, LEADS, 0, planted_tokens(), 42)
    with pytest.raises(ConfigurationError, match="lenient"):
        targeted_deletion(model, ones(), FS, LEADS, 0, planted_tokens().drop(columns="lenient"),
                          np.random.default_rng(0))


def test_deletion_is_one_predict_call_batched_by_the_classifier():
    model = load(planted_numpy, batch_size=4)
    before = (model.counter.forward_batches, model.counter.forward_samples)
    result = targeted_deletion(model, ones(), FS, LEADS, "planted", planted_tokens(),
                               np.random.default_rng(0))
    assert result["evaluations"] == 9
    # 9 inputs at batch size 4: one predict call, split evenly into 3 forward batches
    assert (model.counter.forward_batches - before[0], model.counter.forward_samples - before[1]) == (3, 9)


# --- ranking curves ---------------------------------------------------------------------------

# 2 leads x 1 s at 100 Hz, cells of 0.1 s: 20 cells, each 5% step is one cell.
RANK_T, RANK_LEADS = 100, ("I", "II")
W = 0.004 * np.array([5, 12, 1, -5, 18, 9, 3, 14, 7, 16,         # lead I, cells 0-9
                      2, 11, -2.5, 17, 8, 4, 13, 6, 15, 10])     # lead II
BIAS = 0.1   # p = 0.1 + sum_cells W x cell mean: p0 = 0.1 + 0.004 x 163.5 = 0.754 on an all-ones input


def cell_means(x: np.ndarray) -> np.ndarray:
    """(N, 20) lead-major cell means of (N, 100, 2)."""
    return x.reshape(len(x), 10, 10, 2).mean(axis=2).transpose(0, 2, 1).reshape(len(x), 20)


def linear_cells(x: np.ndarray) -> np.ndarray:
    p = BIAS + cell_means(x.astype(np.float64)) @ W
    return np.stack([p, 1 - p], axis=1)


def true_contribution(weights: np.ndarray) -> dict[str, list[tuple[float, float, float]]]:
    return {lead: [(k / 10, (k + 1) / 10, float(weights[10 * i + k])) for k in range(10)]
            for i, lead in enumerate(RANK_LEADS)}


def rank_model(fn=linear_cells, batch_size=64):
    return load(fn, input_length=RANK_T, leads=RANK_LEADS, batch_size=batch_size)


def rank_ones() -> np.ndarray:
    return ones(RANK_T, 2)


def test_perfect_attribution_gives_the_hand_computed_morf_auc():
    result = ranking_curves(rank_model(), rank_ones(), FS, RANK_LEADS, 0, true_contribution(W))
    # MoRF zeroes the cells of weight 18, 17, 16, ... (x 0.004): p drops by those amounts
    morf = [0.754, 0.682, 0.614, 0.550, 0.490, 0.434, 0.382, 0.334, 0.290, 0.250, 0.214]
    lerf = [0.754, 0.774, 0.784, 0.780, 0.772, 0.760, 0.744, 0.724, 0.700, 0.672, 0.640]
    assert result["morf_curve"] == pytest.approx(morf, abs=1e-6)
    assert result["lerf_curve"] == pytest.approx(lerf, abs=1e-6)
    # trapezoid, steps of 0.05: 0.05 x (sum - (first + last) / 2) = 0.05 x (4.994 - 0.484) = 0.2255
    assert result["morf_auc"] == pytest.approx(0.2255 / (0.754 * 0.5), abs=1e-6)
    lerf_area = 0.05 * (sum(lerf) - (lerf[0] + lerf[-1]) / 2)
    assert result["lerf_auc"] == pytest.approx(lerf_area / (0.754 * 0.5), abs=1e-6)
    assert result["lerf_morf_gap"] == pytest.approx(result["lerf_auc"] - result["morf_auc"])
    assert result["lerf_morf_gap"] > 0.3
    assert result["n_cells"] == 20 and result["cells_per_step"] == list(range(11))
    assert result["fractions"] == pytest.approx([0.05 * k for k in range(11)])
    assert result["evaluations"] == 2 + 3 * 10


def test_a_curve_flat_at_p0_scores_one():
    flat = rank_model(lambda x: np.tile([[0.6, 0.4]], (len(x), 1)))
    result = ranking_curves(flat, rank_ones(), FS, RANK_LEADS, 0, true_contribution(W))
    assert result["morf_auc"] == pytest.approx(1.0) and result["insertion_auc"] == pytest.approx(1.0)
    assert result["normalisation"] == "area / (p0 x 0.5)"


def test_perfect_attribution_beats_random_and_random_gap_is_near_zero():
    model = rank_model()
    perfect = ranking_curves(model, rank_ones(), FS, RANK_LEADS, 0, true_contribution(W))
    gaps = []
    for seed in range(40):
        chance = random_ranking_curves(model, rank_ones(), FS, RANK_LEADS, 0, np.random.default_rng(seed))
        # with a linear model, deleting the largest true contributions first is the fastest fall
        assert np.all(np.array(perfect["morf_curve"]) <= np.array(chance["morf_curve"]) + 1e-6)
        assert np.all(np.array(perfect["lerf_curve"]) >= np.array(chance["lerf_curve"]) - 1e-6)
        gaps.append(chance["lerf_morf_gap"])
    assert abs(np.mean(gaps)) < 0.05 < perfect["lerf_morf_gap"] / 5


def test_insertion_of_the_perfect_attribution_reaches_p0_quickly():
    sparse = np.zeros(20)
    sparse[[3, 14]] = [0.3, 0.2]          # only two cells matter: p0 = 0.2 + 0.3 + 0.2 = 0.7

    def two_cells(x):
        p = 0.2 + cell_means(x.astype(np.float64)) @ sparse
        return np.stack([p, 1 - p], axis=1)

    model = rank_model(two_cells)
    result = ranking_curves(model, rank_ones(), FS, RANK_LEADS, 0, true_contribution(sparse))
    assert result["insertion_curve"] == pytest.approx([0.2, 0.5] + [0.7] * 9, abs=1e-6)
    area = 0.05 * (0.2 + 0.5) / 2 + 0.05 * (0.5 + 0.7) / 2 + 8 * 0.05 * 0.7
    assert result["insertion_auc"] == pytest.approx(area / (0.7 * 0.5), abs=1e-6)
    chance = [random_ranking_curves(model, rank_ones(), FS, RANK_LEADS, 0, np.random.default_rng(s))
              for s in range(10)]
    assert np.mean([c["insertion_auc"] for c in chance]) < result["insertion_auc"] - 0.2


def test_cell_sums_add_the_relevance_of_each_cell():
    spans = {"I": [(0.05, 0.25, 2.0)], "II": [(0.0, 0.3, -1.0), (0.1, 0.2, 0.5)]}
    dense = span_relevance(spans, RANK_LEADS, 30, FS)          # each span's weight on every sample
    # overlap x weight x FS samples per second: I 5, 10, 5 samples of 2.0; II -1 with +0.5 in the middle
    np.testing.assert_allclose(cell_sums(dense, FS, 0.3), [[10.0, 20.0, 10.0], [-10.0, -5.0, -10.0]],
                               atol=1e-12)


def test_ties_are_broken_in_a_seeded_random_order_and_duration_limits_the_cells():
    model, recorder = recording_model(linear_cells, input_length=RANK_T, leads=RANK_LEADS)
    result = ranking_curves(model, rank_ones(), FS, RANK_LEADS, 0, {}, duration_sec=0.5,
                            steps=(0.2, 0.5), tie_rng=np.random.default_rng(5))
    assert result["n_cells"] == 10 and result["cells_per_step"] == [0, 2, 5]
    assert len(recorder.calls) == 1
    batch = recorder.calls[0]   # x, MoRF x 2, LeRF x 2, all-zero, insertion x 2
    cells = cell_intervals(RANK_LEADS, 0.5)
    order = np.argsort(np.random.default_rng(5).permutation(10))   # every score ties: the permutation decides
    first_two = hand_mask([cells[i] for i in order[:2]], RANK_T, RANK_LEADS)
    first_five = hand_mask([cells[i] for i in order[:5]], RANK_T, RANK_LEADS)
    np.testing.assert_array_equal(batch[1] == 0, first_two)
    np.testing.assert_array_equal(batch[2] == 0, first_five)
    np.testing.assert_array_equal(batch[3] == 0, first_two)
    assert not batch[5].any()
    np.testing.assert_array_equal(batch[7] != 0, first_five)
    # never lead order: over seeds, the first cell deleted lies on either lead
    firsts = {cells[int(np.argsort(np.random.default_rng(s).permutation(10))[0])][0] for s in range(20)}
    assert firsts == set(RANK_LEADS)


def test_ranking_curves_go_to_the_model_as_one_batch():
    model = rank_model(batch_size=8)
    before = model.counter.forward_batches
    result = ranking_curves(model, rank_ones(), FS, RANK_LEADS, 0, true_contribution(W))
    assert result["evaluations"] == 32 and model.counter.forward_batches - before == 4
    recording, recorder = recording_model(linear_cells, input_length=RANK_T, leads=RANK_LEADS)
    random_ranking_curves(recording, rank_ones(), FS, RANK_LEADS, 0, np.random.default_rng(0))
    assert [len(call) for call in recorder.calls] == [32]


def test_random_attribution_is_seeded_and_covers_every_cell():
    first = random_spans(RANK_LEADS, 1.0, 0.1, np.random.default_rng(3))
    assert first == random_spans(RANK_LEADS, 1.0, 0.1, np.random.default_rng(3))
    assert first != random_spans(RANK_LEADS, 1.0, 0.1, np.random.default_rng(4))
    assert set(first) == set(RANK_LEADS) and all(len(spans) == 10 for spans in first.values())
    assert first["II"][9][:2] == pytest.approx((0.9, 1.0))
    weights = [w for spans in first.values() for _, _, w in spans]
    assert min(weights) < 0 < max(weights)
