"""Ranking metrics on the logit scale: informative where the probability saturates, normalised for
any sign of the logit, stated in every row, and saturated rows flagged."""

from __future__ import annotations

import numpy as np
import pytest

import ecgxai
from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.evaluator import evaluate_payload
from ecgxai.evaluate.faithfulness import logit, random_ranking_curves, ranking_curves
from ecgxai.explain.explainers import explain_record
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.synth import generate_dataset

FS, T, LEADS = 100, 100, ("I", "II")  # 2 leads x 1 s, cells of 0.1 s: 20 cells, one per 5% step
CONTRIBUTION = 0.1 * np.arange(1, 21)[np.random.default_rng(0).permutation(20)]  # logit per cell, sum 21


def cell_means(x: np.ndarray) -> np.ndarray:
    """(N, 20) lead-major cell means of (N, 100, 2)."""
    return x.reshape(len(x), 10, 10, 2).mean(axis=2).transpose(0, 2, 1).reshape(len(x), 20)


def model(bias: float, gain: float = 1.0) -> ecgxai.Classifier:
    """p = sigmoid(bias + gain x the cell contributions): on an all-ones input z0 = bias + 21 gain."""
    def predict(x: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(bias + cell_means(x.astype(np.float64)) @ (gain * CONTRIBUTION))))
        return np.stack([p, 1 - p], axis=1)
    return ecgxai.load_model(predict, class_names=["a", "b"], input_length=T, lead_names=list(LEADS))


def spans(weights: np.ndarray) -> dict[str, list[tuple[float, float, float]]]:
    return {lead: [(k / 10, (k + 1) / 10, float(weights[10 * i + k])) for k in range(10)]
            for i, lead in enumerate(LEADS)}


def expected_morf_auc() -> float:
    """Hand-computed logit-scale MoRF of the perfect attribution: after k cells, the share of the total
    contribution the other cells hold."""
    kept = 1 - np.concatenate([[0], np.cumsum(np.sort(CONTRIBUTION)[::-1])]) / CONTRIBUTION.sum()
    steps = np.linspace(0, 1, 21)[:11]
    return float(np.trapezoid(kept[:11], steps) / 0.5)


def test_logit_scale_moves_where_the_probability_is_saturated():
    saturated = model(bias=4.0, gain=0.45)  # z0 = 13.45 (p0 = 0.999999), z_del = 4 (p = 0.98)
    x = np.ones((T, 2), dtype=np.float32)
    perfect = {scale: ranking_curves(saturated, x, FS, LEADS, 0, spans(CONTRIBUTION), scale=scale)
               for scale in ("probability", "logit")}
    assert perfect["probability"]["p0"] > 0.99
    # probabilities come as float32: 1 - p0 = 1.4e-6 is known to ~2 %, z0 to ~0.02
    assert perfect["logit"]["morf_auc"] == pytest.approx(expected_morf_auc(), abs=5e-3)
    assert perfect["logit"]["scale"] == "logit"
    chance = {scale: random_ranking_curves(saturated, x, FS, LEADS, 0, np.random.default_rng(1), scale=scale)
              for scale in ("probability", "logit")}
    gap = {scale: chance[scale]["morf_auc"] - perfect[scale]["morf_auc"] for scale in chance}
    # the probability stays near 1 while the logit falls: only the logit curve separates the two
    assert chance["probability"]["morf_auc"] > 0.98 and gap["logit"] > 10 * gap["probability"]
    assert gap["logit"] > 0.05


def test_logit_normalisation_holds_for_any_sign_of_the_logit():
    x = np.ones((T, 2), dtype=np.float32)
    found = [ranking_curves(model(bias, gain=0.5), x, FS, LEADS, 0, spans(CONTRIBUTION), scale="logit")
             for bias in (-3.0, -14.0)]  # z0 = 7.5 and -3.5, z_del = -3 and -14
    assert found[1]["p0"] < 0.05
    for key in ("morf_auc", "lerf_auc", "insertion_auc"):
        assert found[0][key] == pytest.approx(found[1][key], abs=1e-4)
    assert found[1]["morf_curve"][0] == pytest.approx(-3.5, abs=1e-4)
    with pytest.raises(ConfigurationError, match="scale"):
        ranking_curves(model(0.0), x, FS, LEADS, 0, spans(CONTRIBUTION), scale="odds")
    assert logit(0.5) == 0 and np.isfinite(logit(1.0))


@pytest.mark.keras
def test_evaluator_rows_state_the_scale_and_flag_saturation(tmp_path):
    records = generate_dataset(tmp_path, 1, codes=["59118001"], seed=(16, 3))
    classifier = ecgxai.load_model(DEMO_MODEL_PATH)
    payload = explain_record(classifier, f"{records.path[0]}.mat", "59118001", method="gradxinput", seed=0)
    rows = {scale: evaluate_payload(payload, classifier, seed=0, ranking_scale=scale)
            for scale in ("probability", "logit")}
    assert rows["logit"]["ranking_scale"] == "logit" and rows["probability"]["ranking_scale"] == "probability"
    assert rows["logit"]["saturated"] == (rows["logit"]["probability"] > 0.99)
    assert rows["logit"]["morf_auc"] != rows["probability"]["morf_auc"]
    assert rows["logit"]["gt_auroc"] == rows["probability"]["gt_auroc"]
