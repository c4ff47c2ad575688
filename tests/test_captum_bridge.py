"""Captum's classes as ``captum:NAME`` on a small torch ECG CNN: the same maps, payloads and metrics
as ecgxai's own methods, Integrated Gradients equal to ecgxai's ``ig``, options, CLI and errors."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ecgxai
from ecgxai.cli.main import main as cli_main
from ecgxai.errors import ConfigurationError, MissingDependencyError
from ecgxai.explain import Explanation, explain_record
from ecgxai.explain.methods import get_explainer
from ecgxai.io.manifest import read_manifest
from ecgxai.models.base import Classifier
from ecgxai.synth import generate_dataset

CODES = ["164889003", "426783006"]  # atrial fibrillation, sinus rhythm
FS, T = 100, 1000  # the CNN takes 10 s at 100 Hz; the records are written at the generator's rate
IG_EXACT = {"n_steps": 16, "method": "riemann_middle"}  # ecgxai's ig: 16 midpoints, zero baseline, logit
#: Each class the bridge is checked with, and options that keep it quick.
CAPTUM_CLASSES: dict[str, dict[str, Any]] = {
    "IntegratedGradients": IG_EXACT, "DeepLift": {}, "DeepLiftShap": {}, "GradientShap": {},
    "Saliency": {}, "GuidedBackprop": {}, "GuidedGradCam": {}, "Occlusion": {}, "FeatureAblation": {},
    "ShapleyValueSampling": {"n_samples": 1}, "LRP": {},
}
#: Settings beside the options: Grad-CAM's ReLU leaves nothing of the last convolution of the
#: untrained CNN for this class, so GuidedGradCam reads the first (which also checks the setting).
SETTINGS: dict[str, dict[str, Any]] = {"GuidedGradCam": {"gradcam_layer": "body.0"}}


def needs_captum() -> Any:
    """torch, or skip; and skip without Captum."""
    torch = pytest.importorskip("torch", reason="torch is not installed (CI installs torch==2.13.0 CPU)")
    pytest.importorskip("captum", reason="captum is not installed (pip install 'ecgxai[captum]'; CI "
                                         "installs captum==0.9.0)")
    return torch


def ecg_cnn(torch: Any, layout: str = "NLT") -> Any:
    """A seeded 12-lead CNN emitting two logits: two Conv1d + ReLU blocks, average pooling, Linear.

    Its 1-D layers carry an epsilon rule, as Captum's LRP needs (it has rules for 2-D layers only);
    the head is scaled up so attributions are far above the 1e-4 the comparisons allow.
    """
    from captum.attr._utils.lrp_rules import EpsilonRule

    torch.manual_seed(0)

    class EcgCnn(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.Conv1d(12, 8, 7, padding=3), torch.nn.ReLU(), torch.nn.AvgPool1d(4),
                torch.nn.Conv1d(8, 8, 5, padding=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool1d(1))
            self.head = torch.nn.Linear(8, len(CODES))
            self.time_last = layout == "NTL"  # the input comes (N, T, L): transpose it
            for module in self.body:
                if not isinstance(module, torch.nn.ReLU):
                    module.rule = EpsilonRule()
            with torch.no_grad():
                self.head.weight.mul_(400.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.time_last:
                x = x.transpose(1, 2)
            return self.head(self.body(x).squeeze(-1))

    return EcgCnn().eval()


def load(module: Any, output_activation: str | None = "sigmoid") -> Classifier:
    return ecgxai.load_model(module, class_names=CODES, input_length=T, input_layout="NLT", fs=FS,
                             units="mV", output_activation=output_activation)


@pytest.fixture(scope="module")
def cnn() -> Classifier:
    return load(ecg_cnn(needs_captum()))


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic atrial-fibrillation record (10 s) written to disk."""
    folder = tmp_path_factory.mktemp("records")
    return Path(generate_dataset(folder, 1, codes=CODES[:1], seed=7)["path"][0])


def explain(classifier: Classifier, record: Path, method: str, options: dict | None = None,
            seed: int = 1, **settings: Any) -> Explanation:
    return explain_record(classifier, record, CODES[0], method=method,
                          params={"options": options or {}, **settings}, seed=seed)


def test_integrated_gradients_equal_ecgxai_ig(cnn, record):
    ours = explain(cnn, record, "ig").attribution.values
    captum = explain(cnn, record, "captum:IntegratedGradients", IG_EXACT).attribution.values
    assert np.abs(ours).max() > 0.01  # the 1e-4 below is a small fraction of the map
    np.testing.assert_allclose(captum, ours, rtol=0, atol=1e-4)
    left = explain(cnn, record, "captum:IntegratedGradients", {"n_steps": 16, "method": "riemann_left"})
    assert np.abs(left.attribution.values - ours).max() > 1e-3  # another quadrature is told apart


def test_logit_is_attributed_whatever_the_module_emits(record):
    torch = needs_captum()
    emits_probabilities = load(torch.nn.Sequential(ecg_cnn(torch), torch.nn.Sigmoid()), None)
    ours = explain(emits_probabilities, record, "ig").attribution.values
    logit = explain(emits_probabilities, record, "captum:IntegratedGradients", IG_EXACT)
    np.testing.assert_allclose(logit.attribution.values, ours, rtol=0, atol=1e-4)
    assert logit.attribution.scale == "logit" and logit.meta["score"] == "logit"
    probability = explain(emits_probabilities, record, "captum:IntegratedGradients",
                          {**IG_EXACT, "score": "probability"})
    assert probability.attribution.scale == "probability"
    assert np.abs(probability.attribution.values - ours).max() > 1e-3


@pytest.mark.parametrize("name", sorted(CAPTUM_CLASSES))
def test_each_class_gives_a_payload(cnn, record, name):
    before = cnn.counter.evaluations
    payload = explain(cnn, record, f"captum:{name}", CAPTUM_CLASSES[name], **SETTINGS.get(name, {}))
    assert cnn.counter.evaluations - before == payload.model_evaluations > 1
    attribution = payload.attribution
    assert attribution.values.shape == (T, 12) and np.abs(attribution.values).max() > 0
    assert payload.method_label == attribution.method == f"captum:{name}"
    assert attribution.settings["method"] == f"captum:{name}"
    assert payload.meta["captum_version"] and payload.perlead_spans
    again = Explanation.from_json(payload.to_json())
    assert again.attribution == attribution and again.model_evaluations == payload.model_evaluations


@pytest.mark.parametrize("name", ["IntegratedGradients", "FeatureAblation"])
def test_payload_metrics_evaluate(cnn, record, name):
    from ecgxai.evaluate.evaluator import evaluate_payload

    row = evaluate_payload(explain(cnn, record, f"captum:{name}", CAPTUM_CLASSES[name]), cnn)
    assert row["method"] == f"captum:{name}"
    numbers = [v for v in row.values() if isinstance(v, float)]
    assert numbers and np.isfinite(numbers).mean() > 0.8


def test_random_draws_follow_the_seed(cnn, record):
    first, same, other = (explain(cnn, record, "captum:GradientShap", seed=s).attribution for s in (3, 3, 4))
    assert first == same and not np.array_equal(first.values, other.values)


def score_drop(cnn: Classifier, x: np.ndarray, leads: slice, samples: slice) -> float:
    """Class logit of ``x`` minus that of ``x`` with a block zeroed."""
    torch = needs_captum()
    masked = x.copy()
    masked[samples, leads] = 0.0
    with torch.no_grad():
        logits = cnn.scores(torch.from_numpy(np.stack([x, masked])), "logit")[:, 0]
    return float(logits[0] - logits[1])


def test_occlusion_options_and_totals(cnn, record):
    from ecgxai.models.inputs import classifier_input

    payload = explain(cnn, record, "captum:Occlusion", {"sliding_window_shapes": [1, 25]})
    assert payload.meta["captum_arguments"]["sliding_window_shapes"] == [1, 25]
    assert payload.meta["captum_arguments"]["strides"] == [1, 25]  # non-overlapping by default
    x = classifier_input(cnn, ecgxai.read_record(record)).x
    values = payload.attribution.values
    time, lead = np.unravel_index(np.abs(values).argmax(), values.shape)
    start = time // 25 * 25
    window = values[start:start + 25, lead]
    np.testing.assert_allclose(window, window[0], rtol=1e-3)  # one value per window, spread evenly
    drop = score_drop(cnn, x, slice(lead, lead + 1), slice(start, start + 25))
    assert abs(drop) > 1e-2
    np.testing.assert_allclose(window.sum(), drop, rtol=2e-3)


def test_feature_ablation_groups_are_events_and_leads(cnn, record):
    from ecgxai.models.inputs import classifier_input

    payload = explain(cnn, record, "captum:FeatureAblation")
    events = payload.attribution.segments
    start, end = (int(b) for b in events[3])
    x = classifier_input(cnn, ecgxai.read_record(record)).x
    block = payload.attribution.values[start:end, 7]
    np.testing.assert_allclose(block.sum(), score_drop(cnn, x, slice(7, 8), slice(start, end)), rtol=2e-3)
    assert payload.model_evaluations == 1 + 1 + len(events) * 12  # prediction, Captum's own, each group


def test_layer_of_guided_grad_cam_is_gradcams(cnn, record):
    payload = explain(cnn, record, "captum:GuidedGradCam")
    assert payload.meta["layer"] == cnn.conv_layer() == "body.3"
    assert payload.attribution.scale == "relative"
    assert explain(cnn, record, "captum:GuidedGradCam", gradcam_layer="body.0").meta["layer"] == "body.0"


@pytest.mark.parametrize(("method", "options", "message"), [
    ("captum:NoSuchClass", {}, "no attribution class"),
    ("captum:NoiseTunnel", {}, "made from a forward function"),
    ("captum:IntegratedGradients", {"steps": 16}, "unknown options ['steps']"),
    ("captum:IntegratedGradients", {"score": "odds"}, "score must be one of"),
    ("captum:IntegratedGradients", {"target": 1}, "unknown options ['target']"),
])
def test_bad_classes_and_options_are_refused(cnn, record, method, options, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        explain(cnn, record, method, options)


def test_a_model_other_than_torch_is_refused(record):
    needs_captum()
    black_box = ecgxai.load_model(lambda x: np.full((len(x), 2), 0.5, np.float32), class_names=CODES,
                                  input_length=T, fs=FS, units="mV")
    with pytest.raises(ConfigurationError, match=r"runs on torch models; .* callable model"):
        explain(black_box, record, "captum:Saliency")


def test_hook_methods_refuse_torchscript(record):
    torch = needs_captum()
    scripted = load(torch.jit.script(ecg_cnn(torch)))
    with pytest.raises(ConfigurationError, match="TorchScript"):
        explain(scripted, record, "captum:DeepLift")


def test_without_captum_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    monkeypatch.delitem(sys.modules, "ecgxai.explain.methods.captum_bridge", raising=False)
    with pytest.raises(MissingDependencyError, match=r"ecgxai\[captum\]"):
        get_explainer("captum:Saliency")


def test_cli_runs_a_captum_method(record, tmp_path):
    torch = needs_captum()
    model = tmp_path / "cnn.pt"
    torch.jit.script(ecg_cnn(torch, layout="NTL")).save(str(model))
    card = {"class_names": CODES, "units": "mV", "input_length": T, "fs": FS, "output_activation": "sigmoid"}
    Path(f"{model}.json").write_text(json.dumps(card))
    out = tmp_path / "run"
    code = cli_main(["explain", f"{record}.mat", "--model", str(model), "--targets", CODES[0], "--quiet",
                     "--method", "captum:IntegratedGradients", "--method-option", "n_steps=16",
                     "--method-option", "method=riemann_middle", "--out", str(out)])
    assert code == 0
    (path,) = (out / "payloads" / "captum:IntegratedGradients" / CODES[0]).glob("*.json")
    payload = Explanation.from_json(path.read_text())
    assert payload.meta["captum_arguments"] == IG_EXACT
    assert payload.model_evaluations == 1 + 16
    manifest = read_manifest(out)["explain"]["captum:IntegratedGradients"]
    assert manifest["options"] == IG_EXACT
