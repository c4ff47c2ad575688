"""The Quantus bridge (issue 18, item 3): Quantus' faithfulness correlation and relevance mass accuracy,
called through ``quantus_inputs`` on a small seeded torch ECG CNN, agree with ecgxai's own definitions
on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

import ecgxai
from ecgxai.errors import ConfigurationError, MissingDependencyError
from ecgxai.evaluate import evaluate_payload
from ecgxai.evaluate.correlation import faithfulness_correlation, subset_score_drops
from ecgxai.evaluate.quantus_bridge import quantus_inputs, quantus_model, score_with_quantus
from ecgxai.explain import explain_record
from ecgxai.synth import generate_dataset

torch = pytest.importorskip("torch", reason="the Quantus bridge needs torch, which is not installed")
quantus = pytest.importorskip("quantus", reason="Quantus is not installed (pip install 'ecgxai[quantus]')")

RBBB = "59118001"
CLASSES = ["426783006", "164889003", RBBB, "270492004"]
SEED = 3


def small_cnn() -> torch.nn.Module:
    """A seeded 1-D CNN over (N, T, 12) inputs with a softmax-free logit head (4 classes)."""
    torch.manual_seed(SEED)
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = nn.Sequential(nn.Conv1d(12, 8, 9, stride=4, padding=4), nn.ReLU(),
                                       nn.Conv1d(8, 8, 5, stride=2, padding=2), nn.ReLU(),
                                       nn.AdaptiveAvgPool1d(1), nn.Flatten())
            self.head = nn.Linear(8, len(CLASSES))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.trunk(x.transpose(1, 2)))

    return Net().eval()


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The CNN as a softmax classifier, an RBBB record with its planted mask, and a gradient x input
    explanation; the bridge's inputs for it."""
    path = generate_dataset(tmp_path_factory.mktemp("rbbb"), 1, codes=[RBBB], seed=SEED)["path"].iloc[0]
    classifier = ecgxai.load_model(small_cnn(), class_names=CLASSES, input_length=5000, units="mV", fs=500,
                                   output_activation="softmax")
    explanation = explain_record(classifier, path, RBBB, method="gradxinput", seed=SEED)
    return classifier, explanation, quantus_inputs(explanation, classifier)


def test_inputs_are_channel_first_and_the_module_gives_the_classifiers_probabilities(case):
    classifier, explanation, inputs = case
    assert inputs.x_batch.shape == inputs.a_batch.shape == inputs.s_batch.shape == (1, 1, 12, 5000)
    assert inputs.y_batch.tolist() == [CLASSES.index(RBBB)] and inputs.s_batch.any()
    np.testing.assert_allclose(inputs.a_batch[0, 0].T, explanation.attribution.values, rtol=0, atol=0)
    with torch.no_grad():
        probabilities = inputs.model(torch.from_numpy(inputs.x_batch)).numpy()
    np.testing.assert_allclose(probabilities, classifier.predict(inputs.x_batch[0, 0].T[None]), atol=1e-6)
    with pytest.raises(ConfigurationError, match="score must be"):
        quantus_model(classifier, score="odds")


def test_faithfulness_correlation_matches_ecgxais_on_the_same_subsets(case):
    """Quantus' FaithfulnessCorrelation (Bhatt et al. 2020) with a zero baseline against ecgxai's
    ``faithfulness_correlation`` on the very subsets Quantus draws (replayed from numpy's global
    generator, seeded alike) and ecgxai's own score drops: equal within 1e-4 (float32 model outputs
    summed in another order; Quantus rescales the map by its peak, which a correlation ignores).

    What differs in the evaluator's column: it deletes random subsets of lead x 0.1 s cells (10 % of
    them, 50 subsets, from its seeded generator), where Quantus deletes single samples; Quantus'
    default baseline ("black") is the input's minimum, not ecgxai's zero. Both score the
    probability the bridge's module returns (softmax=False)."""
    classifier, _, inputs = case
    runs, size = 20, 3000
    metric = quantus.FaithfulnessCorrelation(nr_runs=runs, subset_size=size, perturb_baseline=0.0,
                                             return_aggregate=False, disable_warnings=True)
    np.random.seed(SEED)
    from_quantus = metric(**inputs.arguments())[0]
    np.random.seed(SEED)
    n_leads, n_samples = inputs.x_batch.shape[2:]
    picks = [np.random.choice(n_leads * n_samples, size, replace=False) for _ in range(runs)]
    subsets = np.zeros((runs, n_leads * n_samples), dtype=bool)
    for row, pick in zip(subsets, picks, strict=True):
        row[pick] = True
    subsets = subsets.reshape(runs, n_leads, n_samples).transpose(0, 2, 1)  # (S, T, L) as ecgxai's
    target = int(inputs.y_batch[0])
    x, relevance = inputs.x_batch[0, 0].T, inputs.a_batch[0, 0].T  # (T, L)
    drops = subset_score_drops(lambda batch: classifier.predict(batch)[:, target], x, subsets)
    own = faithfulness_correlation(relevance, subsets, drops)
    assert abs(own) > 0.05  # a real correlation, not two zeros
    assert from_quantus == pytest.approx(own, abs=1e-4)


def test_relevance_mass_accuracy_matches_the_evaluators_column(case):
    """Quantus' RelevanceMassAccuracy is sum(a x mask) / sum(a) over the signed map; ecgxai's
    ``relevance_mass_accuracy`` keeps positive relevance only (negative relevance is evidence against
    the class). Given the map's positive part, Quantus gives the evaluator's column within 1e-9 (it
    rescales the map by its peak first, which the ratio ignores); given the signed map, another number."""
    classifier, explanation, inputs = case
    row = evaluate_payload(explanation, classifier, seed=SEED, ranking=False)
    metric = quantus.RelevanceMassAccuracy(return_aggregate=False, disable_warnings=True)
    positive = np.clip(inputs.a_batch, 0.0, None)
    from_quantus = score_with_quantus(metric, explanation, classifier, a_batch=positive)
    assert 0 < row["relevance_mass_accuracy"] < 1
    assert from_quantus == pytest.approx(row["relevance_mass_accuracy"], abs=1e-9)
    signed = metric(**inputs.arguments())[0]
    assert signed != pytest.approx(row["relevance_mass_accuracy"], abs=1e-3)


def test_a_missing_quantus_names_the_extra(case, monkeypatch):
    classifier, explanation, _ = case
    monkeypatch.setitem(__import__("sys").modules, "quantus", None)  # import quantus now fails
    with pytest.raises(MissingDependencyError, match=r"ecgxai\[quantus\]"):
        quantus_inputs(explanation, classifier)


def test_a_black_box_is_presented_through_its_predict(case):
    classifier, _, inputs = case
    black_box = ecgxai.load_model(classifier.predict, class_names=CLASSES, input_length=5000, units="mV",
                                  fs=500)  # a plain callable: no module, no gradients
    module = quantus_model(black_box)
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(inputs.x_batch)).numpy(),
                                   inputs.model(torch.from_numpy(inputs.x_batch)).numpy(), atol=1e-6)
    with pytest.raises(ConfigurationError, match="probabilities only"):
        quantus_model(black_box, score="logit")
