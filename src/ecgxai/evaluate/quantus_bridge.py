"""Optional bridge to Quantus (``pip install 'ecgxai[quantus]'``, which needs torch too): an ecgxai
explanation and model in the call convention of Quantus' metrics,
``metric(model=..., x_batch=..., y_batch=..., a_batch=..., s_batch=..., ...)``.

Quantus takes channel-first batches and a torch ``nn.Module`` (or a Keras model) that it wraps
itself, and scores the module's raw output (``softmax=False``) or its softmax. Its localisation
metrics take one mask per input, shared by its channels ((N, 1, ...)), while an ECG's evidence lies
on some leads only; so an ECG is presented as a one-channel lead x time image, (N, 1, L, T), and
every metric sees each lead x sample as one feature. :func:`quantus_inputs` gives, for one
explanation, what ecgxai's own metrics read (the evaluator's
:func:`~ecgxai.evaluate.evaluator.metric_context`):

* ``x_batch`` (1, 1, L, T) float32: the model input of the explanation's stretch, as the classifier takes it;
* ``y_batch`` (1,): the explained class's column;
* ``a_batch`` (1, 1, L, T): the explanation's signed relevance per sample (its map, else its spans);
* ``s_batch`` (1, 1, L, T): the planted evidence mask of a synthetic record, else None;
* ``model``: an ``nn.Module`` from (N, 1, L, T) to the classifier's score per class on the scale ecgxai's
  metrics use (probabilities, or logits with ``score="logit"``), called with ``softmax=False``. A
  torch classifier's own module sits inside it (so Quantus' layer randomisation reaches its layers);
  any other classifier (Keras, ONNX, a callable) is called through its ``predict`` (forward passes
  only: Quantus metrics that differentiate or randomise the model do not apply to it).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ecgxai.errors import ConfigurationError, MissingDependencyError
from ecgxai.evaluate.evaluator import metric_context
from ecgxai.explain.payload import Explanation
from ecgxai.models.base import Classifier, Score
from ecgxai.models.loader import load_model
from ecgxai.models.torch_backend import TorchClassifier, score_from_raw

INSTALL_HINT = "pip install 'ecgxai[quantus]' (Quantus and torch)"


def _require(name: str) -> Any:
    """Import an optional dependency of the bridge, or say which extra installs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingDependencyError(f"the Quantus bridge needs {name}: {INSTALL_HINT}") from None


@cache
def _modules() -> tuple[type, type]:
    """The two module types Quantus is handed (defined once torch is known to be there)."""
    torch = _require("torch")

    class ClassifierModule(torch.nn.Module):
        """A torch classifier's module from (N, 1, L, T) to its scores (``score``) per class."""

        def __init__(self, classifier: TorchClassifier, score: Score) -> None:
            super().__init__()
            self.model, self.layout = classifier.module, classifier.input_layout
            self.activation, self.score = classifier.output_activation, score

        def forward(self, x: Any) -> Any:
            leads_first = x[:, 0]
            raw = self.model(leads_first if self.layout == "NLT" else leads_first.transpose(1, 2)).float()
            return score_from_raw(torch, raw, self.activation, self.score)

    class PredictModule(torch.nn.Module):
        """Any classifier's ``predict`` from (N, 1, L, T) to probabilities per class (forward only)."""

        def __init__(self, classifier: Classifier) -> None:
            super().__init__()
            self.classifier = classifier

        def forward(self, x: Any) -> Any:
            batch = x[:, 0].detach().cpu().numpy().transpose(0, 2, 1)
            return torch.from_numpy(self.classifier.predict(np.ascontiguousarray(batch, dtype=np.float32)))

    return ClassifierModule, PredictModule


def quantus_model(classifier: Classifier, score: Score = "probability") -> Any:
    """``classifier`` as the ``nn.Module`` (in eval mode) Quantus is given (see the module docstring)."""
    if score not in ("probability", "logit"):
        raise ConfigurationError(f"score must be 'probability' or 'logit', got {score!r}")
    classifier_module, predict_module = _modules()
    if isinstance(classifier, TorchClassifier):
        return classifier_module(classifier, score).eval()
    if score != "probability":
        raise ConfigurationError(f"{classifier.source}: a {classifier.backend} model gives Quantus "
                                 "probabilities only (its logits are not reachable)")
    return predict_module(classifier).eval()


@dataclass(frozen=True)
class QuantusInputs:
    """One explanation and its model in Quantus' terms (see the module docstring)."""

    model: Any
    x_batch: np.ndarray
    y_batch: np.ndarray
    a_batch: np.ndarray
    s_batch: np.ndarray | None

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of a Quantus metric call: channel first, the module's own scores, on the CPU."""
        return {"model": self.model, "x_batch": self.x_batch, "y_batch": self.y_batch,
                "a_batch": self.a_batch, "s_batch": self.s_batch, "channel_first": True,
                "softmax": False, "device": "cpu"}


def quantus_inputs(explanation: Explanation | Mapping[str, Any], model: Any, *, score: Score = "probability",
                   data_root: str | Path | None = None) -> QuantusInputs:
    """What Quantus' metrics take for ``explanation`` (an Explanation or payload) and ``model`` (a
    Classifier or anything ``load_model`` takes); records are read as the evaluator reads them."""
    _require("quantus")
    classifier = load_model(model)
    ctx = metric_context(Explanation.from_payload(explanation), classifier, data_root=data_root)
    mask = None if ctx.mask is None else ctx.mask[None, None].astype(np.float32)
    return QuantusInputs(model=quantus_model(classifier, score),
                         x_batch=ctx.x.T[None, None].astype(np.float32), y_batch=np.array([ctx.target]),
                         a_batch=ctx.dense.T[None, None], s_batch=mask)


def score_with_quantus(metric: Any, explanation: Explanation | Mapping[str, Any], model: Any, *,
                       score: Score = "probability", data_root: str | Path | None = None,
                       **call_options: Any) -> Any:
    """A Quantus metric (an instance, e.g. ``quantus.FaithfulnessCorrelation(...)``) of one explanation:
    its result for the one input (a number, or what the metric gives per input, e.g. a curve).
    ``call_options`` go to the metric call."""
    inputs = quantus_inputs(explanation, model, score=score, data_root=data_root)
    return metric(**{**inputs.arguments(), **call_options})[0]
