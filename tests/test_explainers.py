"""Explainers on models whose answer is known: a planted effect in one lead and one time window."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import ecgxai
from ecgxai.errors import ConfigurationError, NotDifferentiableError
from ecgxai.explain import ExplainParams, Explanation, explain_input, explain_record
from ecgxai.explain.methods.lime import LimeSurrogate
from ecgxai.explain.methods.timeshap import KernelShapSurrogate
from ecgxai.explain.pipeline import explanation_row, payload_from_lime_row

FS, T, LEADS = 500, 5000, ecgxai.config.STANDARD_LEADS
PLANT_LEAD, PLANT_START, PLANT_END = 7, 2000, 2250   # V2, 4.0-4.5 s
CODES = ["164889003", "426783006"]


def planted_signal(seed: int = 0) -> np.ndarray:
    """A positive, noisy 12-lead input: zeroing the planted window lowers the planted evidence."""
    rng = np.random.default_rng(seed)
    return (1.0 + 0.3 * rng.standard_normal((T, len(LEADS)))).astype(np.float32)


def planted_numpy(x: np.ndarray) -> np.ndarray:
    """P(class 0) rises with the mean of one lead inside one window; class 1 is constant."""
    evidence = x[:, PLANT_START:PLANT_END, PLANT_LEAD].mean(axis=1)
    p = 1 / (1 + np.exp(-(4.0 * evidence - 2.0)))
    return np.stack([p, np.full_like(p, 0.3)], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def planted_keras():
    """The same planted function as a differentiable Keras model (no Lambda layer)."""
    from ecgxai.models.keras_backend import keras

    inputs = keras.Input((T, len(LEADS)))
    window = keras.layers.Cropping1D((PLANT_START, T - PLANT_END))(inputs)
    mean = keras.layers.GlobalAveragePooling1D()(window)
    dense = keras.layers.Dense(2, activation="sigmoid")
    model = keras.Model(inputs, dense(mean))
    kernel = np.zeros((len(LEADS), 2), np.float32)
    kernel[PLANT_LEAD, 0] = 4.0
    dense.set_weights([kernel, np.array([-2.0, np.log(0.3 / 0.7)], np.float32)])
    return ecgxai.load_model(model, class_names=CODES)


@pytest.fixture(scope="module")
def planted_callable():
    return ecgxai.load_model(planted_numpy, class_names=CODES, input_length=T)


def strongest_span(explanation: Explanation) -> tuple[str, float, float, float]:
    lead, (start, end, weight) = max(
        ((lead, span) for lead, spans in explanation.perlead_spans.items() for span in spans),
        key=lambda item: abs(item[1][2]))
    return lead, start, end, weight


def assert_finds_the_plant(explanation: Explanation) -> None:
    lead, start, end, weight = strongest_span(explanation)
    assert lead == LEADS[PLANT_LEAD]
    assert start < PLANT_END / FS and end > PLANT_START / FS
    assert weight > 0  # the planted window is evidence *for* the class
    assert explanation.top5_leads[0] == LEADS[PLANT_LEAD]


def test_keras_planted_model_matches_numpy(planted_keras):
    x = planted_signal()[None]
    np.testing.assert_allclose(planted_keras.predict(x), planted_numpy(x), atol=1e-5)


@pytest.mark.parametrize("method", ["lime", "timeshap"])
def test_perturbation_explainers_find_the_planted_effect(planted_callable, method):
    explanation = explain_input(planted_callable, planted_signal(), CODES[0], fs=FS, method=method, seed=3)
    assert_finds_the_plant(explanation)
    top_event = max(explanation.event_spans, key=lambda s: abs(s[2]))
    assert top_event[:2] == (PLANT_START / FS, PLANT_END / FS)
    assert explanation.model_evaluations == 1 + 100 + 5 * 100


@pytest.mark.parametrize("method", ["ig", "gradxinput", "lime", "timeshap"])
def test_every_explainer_finds_the_planted_effect_on_keras(planted_keras, method):
    explanation = explain_input(planted_keras, planted_signal(), CODES[0], fs=FS, method=method, seed=3)
    assert_finds_the_plant(explanation)


@pytest.mark.parametrize("event_kind", ["uniform", "beat_qrs"])
def test_lead_level_isolated_mode_also_finds_the_lead(planted_callable, event_kind):
    params = {"lead_mode": "isolated", "event_kind": event_kind}
    explanation = explain_input(planted_callable, planted_signal(), CODES[0], fs=FS, method="lime",
                                params=params, seed=5)
    assert strongest_span(explanation)[0] == LEADS[PLANT_LEAD]


def test_integrated_gradients_are_complete(planted_keras):
    """IG attributions sum to logit(x) - logit(baseline) (exactly here: the logit is linear)."""
    x = planted_signal()
    explanation = explain_input(planted_keras, x, CODES[0], fs=FS, method="ig", seed=0)
    logit = 4.0 * x[PLANT_START:PLANT_END, PLANT_LEAD].mean() - 2.0
    assert explanation.meta["attribution_sum"] == pytest.approx(logit - (-2.0), rel=1e-3)


def test_same_seed_same_explanation_and_different_seed_differs(planted_callable):
    x = planted_signal()
    first, again, other = (explain_input(planted_callable, x, CODES[0], fs=FS, method="lime", seed=s)
                           for s in (11, 11, 12))
    assert first.perlead_spans == again.perlead_spans and first.event_spans == again.event_spans
    assert first.event_spans != other.event_spans


def test_gradients_need_a_differentiable_model(planted_callable):
    with pytest.raises(NotDifferentiableError, match="no gradients"):
        explain_input(planted_callable, planted_signal(), CODES[0], fs=FS, method="ig")


def test_unknown_method_and_setting_are_refused(planted_callable):
    with pytest.raises(ConfigurationError, match="unknown method"):
        explain_input(planted_callable, planted_signal(), CODES[0], fs=FS, method="magic")
    with pytest.raises(ConfigurationError, match="m_events"):
        explain_input(planted_callable, planted_signal(), CODES[0], fs=FS, params={"m_events": 5})


def test_class_window_lengths_are_used(planted_callable):
    sinus = explain_input(planted_callable, planted_signal(), CODES[1], fs=FS, method="lime", seed=1)
    af = explain_input(planted_callable, planted_signal(), CODES[0], fs=FS, method="lime", seed=1)
    assert sinus.params["window_sec"] == 0.25 and len(sinus.event_spans) == 40
    assert af.params["window_sec"] == 0.5 and len(af.event_spans) == 20


def test_lead_priors_are_off_by_default_and_labelled_when_on(planted_callable):
    x = planted_signal()
    off = explain_input(planted_callable, x, CODES[0], fs=FS, method="lime", seed=1)
    on = explain_input(planted_callable, x, CODES[0], fs=FS, method="lime", seed=1,
                       params={"use_lead_priors": True})
    assert off.meta["prior"] == "off"
    assert on.meta["prior"]["lead_prior"]["II"] == 1.0 and on.params["use_lead_priors"] is True


def test_kernel_shap_is_exact_for_few_players():
    """With 4 players all 14 proper coalitions fit the budget: values equal exact Shapley values."""
    values = {frozenset(): 0.1, frozenset({0}): 0.3, frozenset({1}): 0.2, frozenset({2}): 0.1,
              frozenset({3}): 0.1}

    def game(mask):  # an interaction between players 0 and 1, identity link
        members = frozenset(np.flatnonzero(mask))
        base = values[frozenset()] + sum(values[frozenset({i})] - 0.1 for i in members)
        return base + (0.2 if {0, 1} <= members else 0.0)

    surrogate = KernelShapSurrogate(link="identity")
    masks, weights = surrogate.sample(4, 100, np.random.default_rng(0))
    assert len(masks) == 16
    phi = surrogate.fit(masks, np.array([game(m) for m in masks]), weights)
    np.testing.assert_allclose(phi, [0.2 + 0.1, 0.1 + 0.1, 0.0, 0.0], atol=1e-9)


def test_kernel_shap_sampling_is_paired_and_efficient():
    surrogate = KernelShapSurrogate(link="identity")
    masks, _ = surrogate.sample(20, 100, np.random.default_rng(1))
    assert masks[0].all() and not masks[1].any()
    sampled = masks[2:]
    enumerated = 2 * 20  # sizes 1 and 19 fit the budget exactly
    pairs = sampled[enumerated:]
    assert np.array_equal(pairs[0::2], ~pairs[1::2])


def test_lime_kernel_and_all_on_first_mask():
    surrogate = LimeSurrogate()
    masks, weights = surrogate.sample(20, 50, np.random.default_rng(0))
    assert masks[0].all() and weights[0] == pytest.approx(1.0)
    half = np.zeros(20, bool)
    half[:5] = True
    distance = 1 - 5 / np.sqrt(5 * 20)
    assert surrogate.kernel(half[None])[0] == pytest.approx(np.sqrt(np.exp(-distance**2 / 0.25**2)))


def test_explanation_json_and_table_row_round_trips(planted_callable):
    explanation = explain_input(planted_callable, planted_signal(), CODES[0], fs=FS, method="timeshap",
                                seed=2)
    explanation.sel_idx, explanation.mat_path = 7, "records/X.mat"
    assert Explanation.from_json(explanation.to_json()) == explanation
    row = explanation_row(CODES[0], 7, "records/X.mat", explanation)
    assert all(isinstance(v, (str, int, float, type(None))) for v in row.values())
    assert Explanation.from_payload(payload_from_lime_row(row)) == explanation
    assert json.loads(row["perlead_spans"])  # spans stored as JSON text, never pickled


def test_explain_record_on_reference_record(reference_model, reference_records):
    explanation = explain_record(reference_model, reference_records[0], "164889003", method="gradxinput")
    assert explanation.record == reference_records[0].stem
    assert explanation.mat_path == str(reference_records[0])
    assert explanation.page_seconds == pytest.approx(10.0)
    assert explanation.probability == pytest.approx(
        float(reference_model.predict(ecgxai.preprocess_for_model(reference_records[0]))[0, 1]))
    assert len(explanation.perlead_spans) == 5 and explanation.model_evaluations == 2


def test_params_object_and_dict_are_equivalent(planted_callable):
    x = planted_signal()
    a = explain_input(planted_callable, x, CODES[0], fs=FS, params=ExplainParams(m_event=40), seed=1)
    b = explain_input(planted_callable, x, CODES[0], fs=FS, params={"m_event": 40}, seed=1)
    assert a.perlead_spans == b.perlead_spans and a.model_evaluations == 1 + 40 + 500


def test_pipeline_explains_the_predicted_class_on_request(reference_model, reference_records):
    from ecgxai.explain import run_pipeline_for_class

    files = [str(p) for p in reference_records[:2]]
    sel_df = pd.DataFrame({"group_class": "426783006", "filename": files, "sel_idx": [0, 1]})
    payloads, table = run_pipeline_for_class("426783006", sel_df, reference_model, method="gradxinput",
                                             explain_class="pred", progress=False)
    probs = ecgxai.batched_predict_all(reference_model, files, progress=False)
    predicted = [reference_model.class_names[i] for i in probs.argmax(axis=1)]
    assert [payloads[i]["target_code"] for i in (0, 1)] == predicted
    assert list(table["target_code"]) == predicted and list(table["group_class"]) == ["426783006"] * 2


def test_pipeline_reports_a_bad_record_and_goes_on(planted_callable, reference_records, tmp_path):
    from ecgxai.explain import run_pipeline_for_class

    bad = tmp_path / "BAD.mat"
    bad.write_bytes(b"garbage")
    sel_df = pd.DataFrame({"group_class": CODES[0], "filename": [str(bad), str(reference_records[0])],
                           "sel_idx": [0, 1]})
    cheap = {"m_event": 10, "m_feat": 10, "topk_events": 1}
    payloads, table = run_pipeline_for_class(CODES[0], sel_df, planted_callable, params=cheap, progress=False)
    assert list(payloads) == [1]
    assert table.loc[0, "error"].startswith("MissingHeaderError") and pd.isna(table.loc[1, "error"])
