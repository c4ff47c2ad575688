"""The newer evaluation metrics, each worked by hand on tiny arrays, then through ``evaluate_payload``.

Faithfulness correlation and ROAD (faithfulness.py), pointing game and relevance mass / rank
accuracy (localisation.py), max-sensitivity (robustness.py) and randomisation similarity
(randomisation.py); the integration tests run the bundled demo model on a synthetic record
with its planted mask.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ecgxai
from ecgxai.classes import RBBB
from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.correlation import (
    CORRELATION_SUBSETS,
    faithfulness_correlation,
    faithfulness_correlations,
    pearson,
    subset_score_drops,
)
from ecgxai.evaluate.evaluator import METRIC_COLUMNS, evaluate_payload, summarise_metrics
from ecgxai.evaluate.faithfulness import RANKING_STEPS, ranking_curves, road_morf
from ecgxai.evaluate.localisation import (
    expected_top_hits,
    mask_relevance_scores,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
)
from ecgxai.evaluate.masking import noisy_linear_imputation, zero_imputation
from ecgxai.evaluate.randomisation import randomisation_similarity, randomised_classifier
from ecgxai.evaluate.robustness import (
    explanation_max_sensitivity,
    max_sensitivity,
    noisy_copies,
    relative_change,
)
from ecgxai.explain.explainers import explain_record
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import relevance_of, span_relevance
from ecgxai.io.preprocessing import to_model_input
from ecgxai.io.records import read_record
from ecgxai.models import load_model
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.synth import generate_dataset, mask_path

# --- pointing game, relevance mass and rank accuracy -------------------------------------------


def _map_and_mask() -> tuple[np.ndarray, np.ndarray]:
    """A 4 x 2 (time x lead) relevance map and a 2-point mask."""
    relevance = np.array([[3.0, 0.0],
                          [1.0, 0.0],
                          [0.0, -2.0],
                          [0.0, 0.0]])
    mask = np.zeros((4, 2), dtype=bool)
    mask[0, 0] = mask[1, 1] = True
    return relevance, mask


def test_mask_relevance_scores_by_hand():
    relevance, mask = _map_and_mask()
    # the maximum, 3 at (t0, lead 0), lies in the mask
    assert pointing_game(relevance, mask) == 1.0
    # positive relevance 3 + 1 = 4, of which 3 inside (the -2 is evidence against: left out)
    assert relevance_mass_accuracy(relevance, mask) == 0.75
    # |mask| = 2; the two most relevant points are 3 (inside) and 1 (outside)
    assert relevance_rank_accuracy(relevance, mask) == 0.5
    assert mask_relevance_scores(relevance, mask) == {
        "pointing_game": 1.0, "relevance_mass_accuracy": 0.75, "relevance_rank_accuracy": 0.5}
    # the same map moved off the mask: the maximum now misses it
    assert pointing_game(relevance[::-1], mask) == 0.0


def test_ties_count_in_expectation():
    relevance = np.array([[2.0, 2.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    mask = np.zeros((4, 2), dtype=bool)
    mask[0, 0] = mask[1, 1] = True
    # two equal maxima, one inside: a random pick hits half the time
    assert pointing_game(relevance, mask) == 0.5
    # top 2: both 2s (one inside) -> 1 hit of 2
    assert relevance_rank_accuracy(relevance, mask) == 0.5
    # top 3: both 2s (1 hit) + one of the two tied 1s (half of them inside: 0.5 hit) -> 1.5
    assert expected_top_hits(relevance, mask, 3) == 1.5
    # positive mass 6, inside 2 + 1 = 3
    assert relevance_mass_accuracy(relevance, mask) == 0.5


def test_no_positive_relevance_or_no_mask_gives_nan():
    relevance, mask = _map_and_mask()
    for scores in (mask_relevance_scores(-np.abs(relevance), mask),
                   mask_relevance_scores(relevance, np.zeros_like(mask))):
        assert all(math.isnan(v) for v in scores.values())
    with pytest.raises(ValueError, match="shape"):
        pointing_game(relevance, mask.T)


def test_span_relevance_is_signed_per_sample():
    # fs 10: (0.1, 0.3) covers samples 1, 2; (0.2, 0.4) samples 2, 3
    dense = span_relevance({"I": [(0.1, 0.3, 2.0), (0.2, 0.4, -0.5)], "X": [(0.0, 0.4, 9.0)]},
                          ["I", "II"], 5, 10.0)
    np.testing.assert_array_equal(dense, [[0, 0], [2, 0], [1.5, 0], [-0.5, 0], [0, 0]])
    assert span_relevance({"I": [(0.1, 0.3, -2.0)]}, ["I"], 5, 10.0, absolute=True)[1, 0] == 2.0


# --- faithfulness correlation -----------------------------------------------------------------

W_TOY = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])  # (T=4, L=2)


def toy_score(batch: np.ndarray) -> np.ndarray:
    """A linear "model": score = sum of w x input, so zeroing a set drops the score by its w sum."""
    return (np.asarray(batch, dtype=float) * W_TOY).sum(axis=(1, 2))


def _toy_subsets() -> np.ndarray:
    subsets = np.zeros((3, 4, 2), dtype=bool)
    subsets[0, 0, 0] = True                      # w = 1
    subsets[1, 0, 1] = subsets[1, 1, 0] = True   # w = 2 + 3 = 5
    subsets[2, 3, 1] = True                      # w = 8
    return subsets


def test_faithfulness_correlation_by_hand():
    x = np.ones((4, 2), dtype=np.float32)
    calls = []
    drops = subset_score_drops(lambda b: calls.append(len(b)) or toy_score(b), x, _toy_subsets())
    np.testing.assert_allclose(drops, [1.0, 5.0, 8.0])
    assert calls == [4]  # x and its three perturbed copies, in one call
    # relevance = w x x is the exact contribution: subset sums 1, 5, 8 equal the drops
    assert faithfulness_correlation(W_TOY, _toy_subsets(), drops) == pytest.approx(1.0)
    assert faithfulness_correlation(-W_TOY, _toy_subsets(), drops) == pytest.approx(-1.0)
    # a flat map sums to 1, 2, 1: deviations (-1, 2, -1)/3 against (-11, 1, 10)/3 ->
    # r = 3 / sqrt(6 x 222) = 3 / sqrt(1332)
    flat = faithfulness_correlation(np.ones((4, 2)), _toy_subsets(), drops)
    assert flat == pytest.approx(3 / math.sqrt(1332))
    # no relevance at all: the correlation is undefined
    assert math.isnan(faithfulness_correlation(np.zeros((4, 2)), _toy_subsets(), drops))


def test_pearson_is_nan_for_constant_vectors():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3])) and math.isnan(pearson([1], [2]))


# A classifier linear in its 0.1 s cell means (2 leads x 1 s at 100 Hz = 20 cells):
# p = 0.1 + sum_c W_c x mean_c(x); on an all-ones input, deleting cell c drops p by W_c.
FS, T, LEADS = 100, 100, ("I", "II")
W_CELLS = 0.004 * np.array([5, 12, 1, -5, 18, 9, 3, 14, 7, 16, 2, 11, -2.5, 17, 8, 4, 13, 6, 15, 10])


def _linear_cells(x: np.ndarray) -> np.ndarray:
    cells = x.astype(np.float64).reshape(len(x), 10, 10, 2).mean(axis=2)   # (N, cell, lead)
    means = cells.transpose(0, 2, 1).reshape(len(x), 20)                    # lead-major
    p = 0.1 + means @ W_CELLS
    return np.stack([p, 1 - p], axis=1)


def _cell_model():
    return ecgxai.load_model(_linear_cells, class_names=["a", "b"], input_length=T, lead_names=list(LEADS))


def _true_spans(weights: np.ndarray) -> dict[str, list[tuple[float, float, float]]]:
    return {lead: [(k / 10, (k + 1) / 10, float(weights[10 * i + k])) for k in range(10)]
            for i, lead in enumerate(LEADS)}


def test_faithfulness_correlations_on_a_linear_classifier():
    ones = np.ones((T, 2), dtype=np.float32)
    maps = {name: span_relevance(_true_spans(sign * W_CELLS), LEADS, T, FS)
            for name, sign in (("true", 1), ("negated", -1))}
    model = _cell_model()
    before = model.counter.forward_samples
    found = faithfulness_correlations(model, ones, FS, LEADS, 0, maps, np.random.default_rng(0))
    # each subset's drop is the sum of its cells' W; the true map's subset sum is 10 samples x W each
    assert found["correlations"]["true"] == pytest.approx(1.0, abs=1e-5)
    assert found["correlations"]["negated"] == pytest.approx(-1.0, abs=1e-5)
    assert found["subset_cells"] == 2  # 10% of 20 cells
    assert found["evaluations"] == CORRELATION_SUBSETS + 1 == model.counter.forward_samples - before


# --- ROAD: noisy linear imputation ------------------------------------------------------------


def _ramp() -> np.ndarray:
    t = np.arange(20, dtype=np.float32)
    return np.stack([t, 10 - 0.5 * t], axis=1)  # lead 0 rises by 1, lead 1 falls by 0.5 per sample


def _removed() -> np.ndarray:
    removed = np.zeros((2, 20, 2), dtype=bool)
    removed[0, 5:10, 0] = True   # inside a ramp: neighbours x[4] = 4 and x[10] = 10
    removed[0, 0:4, 1] = True    # at the start: only the right neighbour, x[4, 1] = 8
    removed[1, :, 1] = True      # a whole lead: nothing to interpolate from
    return removed


def test_linear_imputation_reproduces_a_ramp():
    x, removed = _ramp(), _removed()
    out = noisy_linear_imputation(x, removed, None, noise=0.0)
    np.testing.assert_allclose(out[0, :, 0], x[:, 0])            # the line through 4 and 10 is the ramp
    np.testing.assert_allclose(out[0, 0:4, 1], [8.0] * 4)         # flat from the one neighbour
    np.testing.assert_array_equal(out[0, 4:, 1], x[4:, 1])
    np.testing.assert_array_equal(out[1, :, 1], np.zeros(20))
    np.testing.assert_array_equal(out[1, :, 0], x[:, 0])
    np.testing.assert_array_equal(zero_imputation(x, removed), np.where(removed, 0, x[None]))


def test_noisy_imputation_stays_within_the_noise_and_is_seeded():
    x, removed = _ramp(), _removed()
    clean = noisy_linear_imputation(x, removed, None, noise=0.0)
    noisy = noisy_linear_imputation(x, removed, np.random.default_rng(1), noise=0.05)
    std = 0.05 * x.std(axis=0)  # noise std per lead: 0.05 x 5.77 and 0.05 x 2.88
    deviation = np.abs(noisy - clean) / std
    assert deviation[removed].max() < 5 and deviation[removed].max() > 0   # noise, but small
    np.testing.assert_array_equal(noisy[~removed], clean[~removed])          # kept samples untouched
    np.testing.assert_array_equal(noisy, noisy_linear_imputation(x, removed, np.random.default_rng(1)))
    with pytest.raises(ConfigurationError, match="rng"):
        noisy_linear_imputation(x, removed, None, noise=0.05)


def test_road_curve_stays_flat_where_imputation_restores_the_signal():
    # On an all-ones input, interpolating any removed run between its kept neighbours gives back
    # ones (no lead loses all 10 of its cells within the first half of the MoRF order: the top 10 W are
    # 5 cells of each lead), so p stays at p0 and the area is 1, while zero deletion falls.
    ones = np.ones((T, 2), dtype=np.float32)
    model = _cell_model()
    road = road_morf(model, ones, FS, LEADS, 0, _true_spans(W_CELLS), np.random.default_rng(0), noise=0.0)
    assert road["road_morf_curve"] == pytest.approx([0.754] * 11, abs=1e-6)
    assert road["road_morf_auc"] == pytest.approx(1.0, abs=1e-5)
    assert road["evaluations"] == 1 + len(RANKING_STEPS)
    zeroed = ranking_curves(model, ones, FS, LEADS, 0, _true_spans(W_CELLS), curves=("morf",))
    assert zeroed["morf_auc"] < 0.7 and math.isnan(zeroed["lerf_auc"])
    assert zeroed["evaluations"] == 1 + len(RANKING_STEPS)


def test_ranking_curves_refuse_unknown_curves():
    with pytest.raises(ConfigurationError, match="curves"):
        ranking_curves(_cell_model(), np.ones((T, 2)), FS, LEADS, 0, {}, curves=("sideways",))


# --- max-sensitivity and randomisation similarity ---------------------------------------------


def test_max_sensitivity_by_hand():
    reference = np.array([[3.0, 4.0]])                    # norm 5
    same, nudged, gone = reference.copy(), np.array([[3.0, 7.0]]), np.zeros((1, 2))
    assert relative_change(reference, same) == 0.0
    assert relative_change(reference, nudged) == pytest.approx(3 / 5)
    assert relative_change(reference, gone) == pytest.approx(1.0)
    assert max_sensitivity(reference, [same, nudged, gone]) == pytest.approx(1.0)
    assert max_sensitivity(reference, [same, nudged]) == pytest.approx(0.6)
    assert math.isnan(max_sensitivity(np.zeros((1, 2)), [nudged]))


def test_noisy_copies_scale_with_each_leads_std():
    rng = np.random.default_rng(0)
    x = np.stack([rng.standard_normal(20000), 10 * rng.standard_normal(20000)], axis=1)
    copies = noisy_copies(x, 2, 0.1, np.random.default_rng(1))
    noise_std = (copies - x[None]).std(axis=(0, 1))
    np.testing.assert_allclose(noise_std, 0.1 * x.std(axis=0), rtol=0.02)
    np.testing.assert_array_equal(noisy_copies(x, 1, 0.0, rng)[0], x.astype(np.float32))


def test_randomisation_similarity_by_hand():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert randomisation_similarity(a, 10 * a) == pytest.approx(1.0)
    assert randomisation_similarity(a, -a) == pytest.approx(-1.0)
    # ranks (1, 2, 3, 4) vs (1, 3, 2, 4): sum d^2 = 2 -> 1 - 6 x 2 / (4 x 15) = 0.8
    assert randomisation_similarity(a, np.array([[1.0, 3.0], [2.0, 4.0]])) == pytest.approx(0.8)
    assert math.isnan(randomisation_similarity(a, np.ones((2, 2))))


# --- through evaluate_payload on a synthetic record and the demo model ------------------------

SEED = 11
NEW_METRICS = ("faithfulness_correlation", "road_morf_auc", "pointing_game", "relevance_mass_accuracy",
               "relevance_rank_accuracy")
BOUNDS = {"faithfulness_correlation": (-1, 1), "road_morf_auc": (0, 2), "pointing_game": (0, 1),
          "relevance_mass_accuracy": (0, 1), "relevance_rank_accuracy": (0, 1)}


@pytest.fixture(scope="module")
def demo_model():
    return load_model(DEMO_MODEL_PATH)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, demo_model) -> dict[str, Explanation]:
    """An RBBB record with its planted mask, explained by gradient x input, IG and LIME."""
    out = tmp_path_factory.mktemp("synthetic")
    path = generate_dataset(out, n_per_class=1, codes=[RBBB], seed=SEED)["path"].iloc[0]
    return {method: explain_record(demo_model, path, RBBB, method=method, seed=SEED)
            for method in ("gradxinput", "ig", "lime")}


def _same(a: dict, b: dict) -> bool:
    return all((isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


@pytest.fixture(scope="module")
def rows(synthetic, demo_model) -> dict[str, dict]:
    return {method: evaluate_payload(payload, demo_model, seed=SEED) for method, payload in synthetic.items()}


def test_new_columns_are_finite_in_range_and_differ_from_the_random_baseline(rows):
    for row in rows.values():
        assert set(METRIC_COLUMNS) - {"error"} <= set(row)
        for metric in NEW_METRICS:
            low, high = BOUNDS[metric]
            for column in (metric, f"random_{metric}"):
                assert math.isfinite(row[column]) and low <= row[column] <= high, (column, row[column])
        assert row["faithfulness_correlation"] != row["random_faithfulness_correlation"]
        assert row["road_morf_auc"] != row["random_road_morf_auc"]
        assert row["relevance_mass_accuracy"] != row["random_relevance_mass_accuracy"]
        for column in ("max_sensitivity", "randomisation_similarity"):  # opt-in: not computed
            assert math.isnan(row[column]) and math.isnan(row[f"random_{column}"])
            assert math.isnan(row[column.split("_similarity")[0] + "_evaluations"])
        assert row["faithfulness_correlation_evaluations"] == CORRELATION_SUBSETS + 1
        assert row["road_evaluations"] == 2 * (1 + len(RANKING_STEPS))  # the explanation's and the random one
        assert row["evaluations"] > row["faithfulness_correlation_evaluations"] + row["road_evaluations"]


def test_random_baseline_is_shared_by_methods_of_one_resolution(rows, synthetic, demo_model):
    lime, grad, ig = rows["lime"], rows["gradxinput"], rows["ig"]
    assert grad["resolution"] == ig["resolution"] == "sample" and lime["resolution"] == "segment"
    for column in [c for c in METRIC_COLUMNS if c.startswith("random_")]:
        assert (math.isnan(ig[column]) and math.isnan(grad[column])) or ig[column] == grad[column], column
    assert lime["random_morf_auc"] != grad["random_morf_auc"]  # a random map of LIME's event grid
    assert _same(evaluate_payload(synthetic["gradxinput"], demo_model, seed=SEED), grad)
    other = evaluate_payload(synthetic["gradxinput"], demo_model, seed=SEED + 1)
    assert other["random_faithfulness_correlation"] != grad["random_faithfulness_correlation"]


def test_records_without_a_mask_get_nan_localisation(synthetic, demo_model, tmp_path):
    payload = synthetic["gradxinput"]
    base = Path(payload.mat_path).with_suffix("")
    for suffix in (".mat", ".hea"):
        (tmp_path / (base.name + suffix)).write_bytes(base.with_suffix(suffix).read_bytes())
    copied = str(tmp_path / (base.name + ".mat"))
    moved = Explanation.from_payload({**payload.to_payload(), "mat_path": copied})
    assert not mask_path(moved.mat_path).exists()
    row = evaluate_payload(moved, demo_model, seed=SEED)
    for metric in ("pointing_game", "relevance_mass_accuracy", "relevance_rank_accuracy", "gt_auroc"):
        assert math.isnan(row[metric]) and math.isnan(row.get(f"random_{metric}", math.nan))
    assert math.isfinite(row["faithfulness_correlation"]) and math.isfinite(row["road_morf_auc"])


def test_opt_in_metrics_and_their_cost(synthetic, demo_model, rows):
    row = evaluate_payload(synthetic["gradxinput"], demo_model, seed=SEED,
                           extra_metrics=("max_sensitivity", "randomisation"))
    assert row["max_sensitivity"] >= 0 and row["random_max_sensitivity"] > 1  # noise maps: ~sqrt(2)
    assert -1 <= row["randomisation_similarity"] <= 1 and -1 <= row["random_randomisation_similarity"] <= 1
    # gradient x input: one forward and one gradient pass per explanation (10 noisy copies; 1 model)
    assert row["max_sensitivity_evaluations"] == 2 * 10 and row["randomisation_evaluations"] == 2
    assert row["evaluations"] == rows["gradxinput"]["evaluations"] + 20 + 2
    assert row["faithfulness_correlation"] == rows["gradxinput"]["faithfulness_correlation"]
    with pytest.raises(ConfigurationError, match="unknown extra metrics"):
        evaluate_payload(synthetic["gradxinput"], demo_model, extra_metrics=("everything",))


def test_re_explaining_without_noise_reproduces_the_payload(synthetic, demo_model):
    # explain_record seeded with SEED and the record's name: re-explaining the same input the same
    # way gives the same spans, so zero noise means zero sensitivity
    payload = synthetic["lime"]
    record = read_record(payload.mat_path)
    x = to_model_input(record, maxlen=demo_model.input_length, units=demo_model.units,
                       lead_names=demo_model.lead_names)
    chance = relevance_of(payload, demo_model.lead_names, len(x), record.fs)  # stands in for the random map
    rng = np.random.default_rng(0)
    found = explanation_max_sensitivity(demo_model, x, record.fs, RBBB, payload, chance, rng, seed=SEED,
                                        identity=record.name, n_samples=1, radius=0.0,
                                        duration_sec=payload.page_seconds)
    assert found["same_seed"] and found["max_sensitivity"] == 0.0
    fused = Explanation.from_payload({**payload.to_payload(), "params": {"agg": "mean"}})
    skipped = explanation_max_sensitivity(demo_model, x, record.fs, RBBB, fused, chance, rng, seed=SEED,
                                          identity=record.name)
    assert math.isnan(skipped["max_sensitivity"]) and "cannot re-explain" in skipped["reason"]


def test_randomised_model_is_made_once(demo_model):
    assert randomised_classifier(demo_model, seed=SEED) is randomised_classifier(demo_model, seed=SEED)


def test_summary_reports_the_new_metrics_and_their_cost(rows):
    table = pd.DataFrame(list(rows.values()), columns=METRIC_COLUMNS)
    summary = summarise_metrics(table)
    for column in ("faithfulness_correlation_mean", "random_road_morf_auc_mean", "pointing_game_mean",
                   "road_evaluations_mean", "max_sensitivity_n"):
        assert column in summary.columns
    assert (summary["max_sensitivity_n"] == 0).all()
