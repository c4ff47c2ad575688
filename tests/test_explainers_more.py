"""Grad-CAM, occlusion, Shapley sampling and SmoothGrad, and flat vs hierarchical perturbation games.

The planted-effect models and checks are those of ``test_explainers``: P(class 0) rises with
the mean of lead V2 inside 4.0-4.5 s, so the strongest span must be V2 there, with a positive
weight, and V2 must lead the ranking.
"""

from __future__ import annotations

import numpy as np
import pytest

import ecgxai
from ecgxai.errors import ConfigurationError, ECGXAIError, NotDifferentiableError
from ecgxai.explain import METHODS, ExplainParams, Explanation, explain_input
from ecgxai.explain.methods import METHOD_LABELS
from ecgxai.explain.methods.base import flat_budget
from ecgxai.explain.methods.gradcam import upsample_linear
from ecgxai.explain.methods.shapley_sampling import ShapleySamplingSurrogate
from ecgxai.models.base import Classifier
from test_explainers import (
    CODES,
    FS,
    LEADS,
    PLANT_END,
    PLANT_LEAD,
    PLANT_START,
    T,
    assert_finds_the_plant,
    planted_numpy,
    planted_signal,
)

NEW_METHODS = ("gradcam", "occlusion", "shapley_sampling", "smoothgrad")
PERTURBATION = ("lime", "timeshap", "occlusion", "shapley_sampling")
#: Cheap settings for the flat vs hierarchical comparison (hierarchical budget 40 + 3 x 20 masks).
CHEAP = {"m_event": 40, "m_feat": 20, "topk_events": 3, "shapley_permutations": 2}


@pytest.fixture(scope="module")
def planted_callable() -> Classifier:
    return ecgxai.load_model(planted_numpy, class_names=CODES, input_length=T)


@pytest.fixture(scope="module")
def planted_conv_keras() -> Classifier:
    """The planted function as a Keras CNN: a 1x1 Conv1D ``pick`` reads V2, then window mean, Dense."""
    from ecgxai.models.keras_backend import keras

    inputs = keras.Input((T, len(LEADS)))
    conv = keras.layers.Conv1D(1, 1, use_bias=False, name="pick")
    window = keras.layers.Cropping1D((PLANT_START, T - PLANT_END))(conv(inputs))
    dense = keras.layers.Dense(2, activation="sigmoid")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling1D()(window)))
    kernel = np.zeros((1, len(LEADS), 1), np.float32)
    kernel[0, PLANT_LEAD, 0] = 1.0
    conv.set_weights([kernel])
    dense.set_weights([np.array([[4.0, 0.0]], np.float32), np.array([-2.0, np.log(0.3 / 0.7)], np.float32)])
    return ecgxai.load_model(model, class_names=CODES)


@pytest.fixture(scope="module")
def demo_model() -> Classifier:
    from ecgxai.models.zoo import DEMO_MODEL_PATH

    return ecgxai.load_model(DEMO_MODEL_PATH)


@pytest.fixture(scope="module")
def synthetic_record() -> tuple[np.ndarray, str]:
    """One seeded synthetic atrial-fibrillation record (model input in mV) and its class code."""
    from ecgxai.synth import synthetic_batch

    x, _ = synthetic_batch(1, seed=(5, 1), codes=[CODES[0]])
    return x[0], CODES[0]


@pytest.fixture(scope="module")
def planted_torch() -> Classifier:
    """The planted function as a torch module emitting logits: Conv1d ``mix`` (identity), Conv1d
    ``pick`` (reads V2), window mean, Linear; input (N, L, T)."""
    torch = pytest.importorskip("torch", reason="torch is not installed (CI installs torch==2.13.0 CPU)")

    class Planted(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mix = torch.nn.Conv1d(len(LEADS), len(LEADS), 1, bias=False)
            self.pick = torch.nn.Conv1d(len(LEADS), 1, 1, bias=False)
            self.head = torch.nn.Linear(1, 2)
            with torch.no_grad():
                self.mix.weight.copy_(torch.eye(len(LEADS))[:, :, None])
                self.pick.weight.zero_()
                self.pick.weight[0, PLANT_LEAD, 0] = 1.0
                self.head.weight.copy_(torch.tensor([[4.0], [0.0]]))
                self.head.bias.copy_(torch.tensor([-2.0, float(np.log(0.3 / 0.7))]))

        def forward(self, x):
            picked = self.pick(self.mix(x))[:, :, PLANT_START:PLANT_END]
            return self.head(picked.mean(dim=2))

    return ecgxai.load_model(Planted(), class_names=CODES, input_length=T, input_layout="NLT",
                             output_activation="sigmoid")


def counted(classifier: Classifier) -> int:
    return classifier.counter.forward_samples + classifier.counter.gradient_samples


def explain_counted(classifier: Classifier, method: str, params: dict | None = None, seed: int = 3,
                    x: np.ndarray | None = None) -> tuple[Explanation, int]:
    """An explanation of the planted signal and the model work the classifier's counter saw."""
    before = counted(classifier)
    explanation = explain_input(classifier, planted_signal() if x is None else x, CODES[0], fs=FS,
                                method=method, params=params, seed=seed)
    return explanation, counted(classifier) - before


def expected_perturbation_cost(method: str, params: dict, n_events: int, hierarchy: str) -> int:
    """Model evaluations of a perturbation explanation, from its budget (plus the one prediction)."""
    settings = ExplainParams(**params)
    top, n_leads, walks = min(settings.topk_events, n_events), len(LEADS), 2 * settings.shapley_permutations

    def game(players: int, masks: int) -> int:
        if method == "occlusion":
            return 1 + players
        if method == "shapley_sampling":
            return 2 + walks * (players - 1)
        return masks

    if hierarchy == "flat":
        return 1 + game(n_events * n_leads, flat_budget(settings, n_events))
    return 1 + game(n_events, settings.m_event) + top * game(n_leads, settings.m_feat)


# --- registration -------------------------------------------------------------------------------


def test_new_methods_are_registered_with_labels():
    from ecgxai.explain.runs import RUN_METHODS

    for method in NEW_METHODS:
        assert method in METHODS and method in RUN_METHODS and METHOD_LABELS[method]


# --- planted effects ----------------------------------------------------------------------------


@pytest.mark.parametrize("hierarchy", ["hierarchical", "flat"])
@pytest.mark.parametrize("method", ["occlusion", "shapley_sampling"])
def test_perturbation_explainers_find_the_planted_effect(planted_callable, method, hierarchy):
    params = {"hierarchy": hierarchy}
    explanation, work = explain_counted(planted_callable, method, params)
    assert_finds_the_plant(explanation)
    top_event = max(explanation.event_spans, key=lambda s: abs(s[2]))
    assert top_event[:2] == (PLANT_START / FS, PLANT_END / FS)
    n_events = len(explanation.event_spans)
    assert explanation.model_evaluations == work == expected_perturbation_cost(
        method, params, n_events, hierarchy)
    assert explanation.method_label == METHOD_LABELS[method] and explanation.meta["hierarchy"] == hierarchy


@pytest.mark.parametrize(("method", "params", "cost"), [
    ("gradcam", {}, 2),                                                  # CAM + input gradient
    ("gradcam", {"gradcam_layer": "pick"}, 2),
    ("smoothgrad", {"smoothgrad_samples": 6}, 6),                        # one gradient per copy
    ("smoothgrad", {"smoothgrad_samples": 4, "smoothgrad_base": "ig", "ig_steps": 5}, 4 * 5),
    ("smoothgrad", {"smoothgrad_samples": 4, "smoothgrad_base": "gradcam"}, 4 * 2),
])
def test_gradient_explainers_find_the_planted_effect(planted_conv_keras, method, params, cost):
    explanation, work = explain_counted(planted_conv_keras, method, params)
    assert_finds_the_plant(explanation)
    assert explanation.model_evaluations == work == 1 + cost
    if "gradcam" in (method, params.get("smoothgrad_base")):
        assert explanation.meta["layer"] == "pick"


def test_shapley_sampling_values_add_up_to_the_full_minus_empty_score(planted_callable):
    """Efficiency: in the flat game on the probability, the cell values sum to f(x) - f(0)."""
    params = {"hierarchy": "flat", "keep_leads": None, "topk_events": None, "shapley_permutations": 1}
    explanation, _ = explain_counted(planted_callable, "shapley_sampling", params)
    x = planted_signal()
    expected = planted_numpy(x[None])[0, 0] - planted_numpy(np.zeros_like(x)[None])[0, 0]
    assert sum(w for _, _, w in explanation.event_spans) == pytest.approx(expected, abs=1e-5)


def test_shapley_sampling_is_exact_on_two_players_with_an_interaction():
    """A permutation and its reverse are all the orders of two players: values are exact."""
    surrogate = ShapleySamplingSurrogate(permutations=1)
    masks, weights = surrogate.sample(2, 0, np.random.default_rng(0))
    game = {(True, True): 1.0, (True, False): 0.5, (False, True): 0.1, (False, False): 0.0}
    phi = surrogate.fit(masks, np.array([game[tuple(m)] for m in masks]), weights)
    np.testing.assert_allclose(phi, [0.5 + 0.2, 0.1 + 0.2])  # singletons plus half the 0.4 synergy


def test_shapley_walks_come_in_antithetic_pairs():
    masks, _ = ShapleySamplingSurrogate(permutations=3).sample(6, 0, np.random.default_rng(4))
    walks = masks[2:].reshape(6, 5, 6)
    first_players = walks[:, 0].argmax(axis=1)
    last_players = (~walks[:, -1]).argmax(axis=1)
    assert np.array_equal(first_players[0::2], last_players[1::2])
    assert np.array_equal(walks.sum(axis=2), np.tile(np.arange(1, 6), (6, 1)))


# --- determinism --------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "params", "seeded"), [
    ("shapley_sampling", {"shapley_permutations": 2}, True),
    ("smoothgrad", {"smoothgrad_samples": 4}, True),
    ("occlusion", {}, False),
    ("gradcam", {}, False),
])
def test_same_seed_same_explanation_on_the_demo_cnn(demo_model, synthetic_record, method, params, seeded):
    """On a real CNN (players interact, so permutations matter) and a synthetic record."""
    x, code = synthetic_record
    first, again, other = (explain_input(demo_model, x, code, fs=FS, method=method, params=params, seed=s)
                           for s in (11, 11, 12))
    assert first.perlead_spans == again.perlead_spans and first.event_spans == again.event_spans
    assert first.seed == again.seed != other.seed
    # random methods depend on the seed; occlusion and Grad-CAM involve no randomness at all
    assert (first.lead_scores != other.lead_scores) is seeded


# --- flat vs hierarchical -----------------------------------------------------------------------


@pytest.mark.parametrize("method", PERTURBATION)
def test_flat_and_hierarchical_games_give_the_same_payload_shape(planted_callable, method):
    runs = {h: explain_counted(planted_callable, method, {**CHEAP, "hierarchy": h})
            for h in ("hierarchical", "flat")}
    hier, flat = runs["hierarchical"][0], runs["flat"][0]
    assert len(flat.perlead_spans) == len(hier.perlead_spans) == 5
    assert ({len(s) for s in flat.perlead_spans.values()} == {len(s) for s in hier.perlead_spans.values()}
            == {CHEAP["topk_events"]})
    assert len(flat.event_spans) == len(hier.event_spans)
    assert flat.lead_scores.keys() == hier.lead_scores.keys()
    n_events = len(flat.event_spans)
    for name, (exp, work) in runs.items():
        assert exp.model_evaluations == work == expected_perturbation_cost(method, CHEAP, n_events, name)
    if method in ("lime", "timeshap"):  # same budget, so cost and faithfulness can be compared
        assert flat.model_evaluations == hier.model_evaluations == 1 + 40 + 3 * 20
    assert flat.top5_leads[0] == LEADS[PLANT_LEAD]


def test_hierarchical_default_keeps_lime_unchanged(planted_callable):
    default = explain_counted(planted_callable, "lime", {"m_event": 30})[0]
    explicit = explain_counted(planted_callable, "lime", {"m_event": 30, "hierarchy": "hierarchical"})[0]
    assert default.perlead_spans == explicit.perlead_spans and default.params["hierarchy"] == "hierarchical"


# --- Grad-CAM layers and backends ---------------------------------------------------------------


def test_gradcam_finds_the_last_conv_of_the_demo_cnn(demo_model):
    x = np.random.default_rng(0).standard_normal((3, *demo_model.input_shape)).astype(np.float32) * 0.2
    before = demo_model.counter.gradient_samples
    activations, gradients = demo_model.conv_activation_gradient(x, demo_model.class_names[0])
    assert demo_model.counter.gradient_samples - before == 3
    last_conv = demo_model.model.get_layer("last_conv").output.shape  # (None, T', 64)
    assert activations.shape == gradients.shape == (3, last_conv[1], last_conv[2])
    assert demo_model.conv_layer() == "last_conv"
    explanation = explain_input(demo_model, x[0], demo_model.class_names[0], fs=FS, method="gradcam")
    assert explanation.meta["layer"] == "last_conv" and explanation.model_evaluations == 1 + 2


def test_gradcam_accepts_an_explicit_layer(demo_model):
    x = np.random.default_rng(1).standard_normal(demo_model.input_shape).astype(np.float32) * 0.2
    code = demo_model.class_names[0]
    default = explain_input(demo_model, x, code, fs=FS, method="gradcam")
    earlier = explain_input(demo_model, x, code, fs=FS, method="gradcam", params={"gradcam_layer": "conv2"})
    activations, _ = demo_model.conv_activation_gradient(x, code, layer="conv2")
    assert earlier.meta["layer"] == "conv2" and activations.shape[2] == 32  # conv2 has 32 filters
    assert earlier.lead_scores != default.lead_scores


@pytest.mark.parametrize(("layer", "message"), [("no_such_layer", "no layer named 'no_such_layer'"),
                                                 ("gap", "rank-2 output")])
def test_gradcam_refuses_a_bad_layer(demo_model, layer, message):
    x = np.zeros(demo_model.input_shape, np.float32)
    with pytest.raises(ConfigurationError, match=message):
        explain_input(demo_model, x, demo_model.class_names[0], fs=FS, method="gradcam",
                      params={"gradcam_layer": layer})


def test_gradcam_needs_a_backend_with_gradients(planted_callable):
    for method, params in (("gradcam", {}), ("smoothgrad", {"smoothgrad_base": "gradcam"})):
        with pytest.raises(NotDifferentiableError, match="no gradients") as error:
            explain_counted(planted_callable, method, params)
        assert isinstance(error.value, ECGXAIError)


def test_gradcam_on_a_differentiable_backend_without_layer_access_is_a_configuration_error():
    class Opaque(Classifier):  # differentiable, but exposes no layers
        differentiable = True

    opaque = Opaque(class_names=CODES, input_length=T, n_leads=12, units="mV", lead_names=LEADS)
    with pytest.raises(ConfigurationError, match="cannot expose layer activations"):
        opaque.conv_activation_gradient(planted_signal(), 0)


@pytest.mark.keras
def test_gradcam_on_a_keras_model_without_convolutions_names_the_fix():
    from ecgxai.models.keras_backend import keras

    inputs = keras.Input((T, len(LEADS)))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(
        keras.layers.GlobalAveragePooling1D()(inputs)))
    with pytest.raises(ConfigurationError, match=r"no Conv1D layer.*gradcam_layer"):
        ecgxai.load_model(model, class_names=CODES).conv_layer()


def test_gradcam_on_torch_finds_the_last_conv1d_and_the_plant(planted_torch):
    assert planted_torch.conv_layer() == "pick"
    explanation, work = explain_counted(planted_torch, "gradcam")
    assert_finds_the_plant(explanation)
    assert explanation.meta["layer"] == "pick" and explanation.model_evaluations == work == 1 + 2
    activations, _ = planted_torch.conv_activation_gradient(planted_signal(), CODES[0], layer="mix")
    assert activations.shape == (1, T, len(LEADS))  # channels last whatever the torch layout
    np.testing.assert_allclose(activations[0], planted_signal(), atol=1e-6)
    with pytest.raises(ConfigurationError, match=r"no module named 'nope'.*'mix', 'pick'"):
        explain_counted(planted_torch, "gradcam", {"gradcam_layer": "nope"})


def test_gradcam_all_leads_spreads_time_relevance_evenly(planted_conv_keras):
    """With a bump only in the planted window, the CAM itself localises the evidence in time."""
    x = np.zeros((T, len(LEADS)), np.float32)
    x[PLANT_START:PLANT_END, :] = 1.0
    explanation, work = explain_counted(planted_conv_keras, "gradcam", {"gradcam_spread": "all_leads"}, x=x)
    assert work == 1 + 1 and len(set(explanation.lead_scores.values())) == 1
    top_event = max(explanation.event_spans, key=lambda s: abs(s[2]))
    assert top_event[0] < PLANT_END / FS and top_event[1] > PLANT_START / FS


def test_upsampling_keeps_constants_and_linear_ramps():
    np.testing.assert_allclose(upsample_linear(np.full((2, 5), 3.0), 40), 3.0)
    ramp = upsample_linear(np.arange(8, dtype=float)[None], 32)[0]   # cell centres at 1.5, 5.5, ...
    np.testing.assert_allclose(ramp[2:30], (np.arange(2, 30) - 1.5) / 4, atol=1e-6)


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{"hierarchy": "deep"}, {"smoothgrad_base": "lime"},
                                    {"gradcam_spread": "some"}, {"shapley_permutations": 0},
                                    {"smoothgrad_samples": 0}, {"smoothgrad_sigma": -1.0}])
def test_bad_new_settings_are_refused(planted_callable, params):
    with pytest.raises(ConfigurationError):
        explain_counted(planted_callable, "occlusion", params)
