"""Optional bridge to Captum (extra ``ecgxai[captum]``): any ``captum.attr`` class as ``captum:NAME``.

``captum:IntegratedGradients``, ``captum:DeepLift``, ``captum:Occlusion``, ... run Captum's class on
a torch classifier's module through :meth:`~ecgxai.models.torch_backend.TorchClassifier.scores`, the
forward function ecgxai's own gradients use: the class logit by default (option ``score``:
``"logit"`` or ``"probability"``), whether the module emits logits or probabilities. Captum sees
the input as torch's Conv1d does, (N, leads, samples); the map comes back as a sample-level
:class:`~ecgxai.explain.attribution.Attribution` like ecgxai's gradient methods give.

``ExplainParams.options`` hold the keyword arguments, each given to the class's constructor or to
its ``attribute()``, whichever names it (JSON lists become tensors for ``baselines`` and
``feature_mask``, tuples otherwise); ``score`` is the bridge's own. What ecgxai supplies when an
option is not given:

* ``baselines`` where Captum requires them (``DeepLiftShap``, ``GradientShap``): the all-zero input
  and :data:`NOISE_BASELINES` copies of Gaussian noise of sd :data:`NOISE_SD` x the input's sd,
  drawn from the explanation's seed;
* ``feature_mask`` (``FeatureAblation``, ``ShapleyValueSampling``, ``Lime``, ...): one feature per
  lead and event of ecgxai's segmentation (each gap between events its own feature);
* ``sliding_window_shapes`` and ``strides`` (``Occlusion``): one lead x ``window_sec``;
* ``perturbations_per_eval``: the classifier's batch size;
* a constructor's ``layer`` (``GuidedGradCam``): the layer ecgxai's Grad-CAM reads
  (``gradcam_layer``, default the last ``nn.Conv1d``).

Captum gives every element of a feature group (or occlusion window) the whole group's value;
ecgxai's maps hold totals, so those values are divided by the group's (window's) size: a group's
values then sum to its effect, as ecgxai's perturbation maps do. Every model input the classes send
through the forward function is counted by the classifier's counter (a gradient evaluation when
autograd is on, a forward pass otherwise); random draws are seeded per explanation.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np

from ecgxai.classes import BASE_WINDOW_SEC
from ecgxai.errors import ConfigurationError, MissingDependencyError
from ecgxai.explain.attribution import Attribution, sample_attribution
from ecgxai.explain.methods.base import Explainer, ExplainInput
from ecgxai.explain.settings import ExplainParams, check_choice
from ecgxai.models.base import Classifier
from ecgxai.models.torch_backend import TorchClassifier

try:
    import captum
    import captum.attr as captum_attr
    import torch
except ImportError as exc:
    raise MissingDependencyError(f"captum: methods need Captum and torch: pip install 'ecgxai[captum]' "
                                 f"({exc})") from None

#: The method-name prefix that selects a Captum class.
PREFIX = "captum:"
#: Classes whose values are not contributions to the score (sensitivities): scale ``relative``.
RELATIVE = frozenset({"Saliency", "GuidedBackprop", "Deconvolution", "GuidedGradCam"})
#: Noise copies beside the all-zero input in the default baseline distribution, and their sd
#: relative to the input's sd.
NOISE_BASELINES, NOISE_SD = 7, 0.1
#: Option lists that become tensors (every other list becomes a tuple).
TENSOR_OPTIONS = ("baselines", "feature_mask")
#: Arguments of ``attribute()`` the bridge sets itself.
FIXED_ARGUMENTS = ("inputs", "target", "additional_forward_args", "return_convergence_delta")
SCORES = ("logit", "probability")


class ScoreModule(torch.nn.Module):
    """The classifier's class scores as a module of (N, leads, samples) input, counted per input."""

    def __init__(self, classifier: TorchClassifier, score: str) -> None:
        super().__init__()
        self.model = classifier.module  # a child, so Captum's module hooks reach its layers
        self.classifier, self.score = classifier, score

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) scores; every input counted as a gradient evaluation (autograd on) or a forward pass."""
        started = time.perf_counter()
        out = self.classifier.scores(x.transpose(1, 2), self.score)  # type: ignore[arg-type]
        counter = self.classifier.counter
        counter.model_seconds += time.perf_counter() - started
        if torch.is_grad_enabled():
            counter.gradient_samples += len(x)
        else:
            counter.forward_samples += len(x)
            counter.forward_fraction += len(x)
            counter.forward_batches += 1
        return out


def parameters(function: Any) -> dict[str, inspect.Parameter]:
    """The named parameters of a function or method (``self``, ``*args`` and ``**kwargs`` left out)."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {name: p for name, p in inspect.signature(function).parameters.items()
            if p.kind in named and name != "self"}


def check_captum_class(name: str) -> type:
    """The ``captum.attr`` class ``name``, checked to attribute the input for a target with what
    the bridge can construct it from (a forward function or model, and a layer)."""
    cls = getattr(captum_attr, name, None)
    if not (isinstance(cls, type) and issubclass(cls, captum_attr.Attribution)):
        raise ConfigurationError(f"{PREFIX}{name}: captum.attr has no attribution class {name!r}")
    init = list(parameters(cls.__init__).values())
    required = [p.name for p in init[1:] if p.default is inspect.Parameter.empty and p.name != "layer"]
    if "target" not in parameters(cls.attribute) or required:
        raise ConfigurationError(f"{PREFIX}{name}: the bridge runs classes made from a forward function "
                                 f"(and a layer) whose attribute() takes a target; {name} is not one")
    return cls


@functools.cache
def captum_explainer(name: str) -> type[CaptumExplainer]:
    """The explainer class of ``captum:NAME`` (one class per Captum class)."""
    cls = check_captum_class(name)
    kind = "perturbation" if issubclass(cls, captum_attr.PerturbationAttribution) else "gradient"
    return type(f"Captum{name}", (CaptumExplainer,),
                {"name": PREFIX + name, "label": PREFIX + name, "kind": kind, "captum_class": cls,
                 "__doc__": f"Captum's {name} (see :mod:`ecgxai.explain.methods.captum_bridge`)."})


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's and numpy's global generators (Captum draws from them), restoring both after."""
    state = np.random.get_state()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(state)


def event_feature_mask(events: tuple[tuple[int, int], ...], n_leads: int, n_samples: int) -> torch.Tensor:
    """(1, L, T) feature ids: one per lead and stretch between event boundaries (events and gaps)."""
    bounds = np.unique([0, n_samples, *(b for event in events for b in event)])
    piece = np.searchsorted(bounds, np.arange(n_samples), side="right") - 1
    ids = piece[None, :] * n_leads + np.arange(n_leads)[:, None]
    return torch.from_numpy(np.unique(ids, return_inverse=True)[1].reshape(ids.shape))[None]


def noise_baselines(x: torch.Tensor, seed: int) -> torch.Tensor:
    """The default baseline distribution: zeros and :data:`NOISE_BASELINES` seeded noise copies."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, NOISE_SD * float(x.std()), (NOISE_BASELINES, *x.shape[1:]))
    return torch.from_numpy(np.concatenate([np.zeros((1, *x.shape[1:])), noise]).astype(np.float32))


def group_sizes(mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Per element, how many elements of one input share its feature id in ``mask``."""
    ids = mask.expand(shape)[0].long()
    return torch.bincount(ids.flatten())[ids].to(torch.float32)


def captum_value(key: str, value: Any) -> Any:
    """An option from JSON as Captum takes it: lists become tensors (:data:`TENSOR_OPTIONS`) or tuples."""
    if not isinstance(value, list):
        return value
    return torch.tensor(value) if key in TENSOR_OPTIONS else tuple(value)


def describe(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Captum's arguments as JSON for the map's ``meta`` (tensors by their shape, tuples as lists)."""
    def jsonable(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return f"tensor{list(value.shape)}"
        return list(value) if isinstance(value, tuple) else value

    return {key: jsonable(value) for key, value in kwargs.items()}


class CaptumExplainer(Explainer):
    """A ``captum.attr`` class on a torch classifier (see the module docstring); made per class by
    :func:`captum_explainer`."""

    captum_class: ClassVar[type]

    def __init__(self, classifier: Classifier, settings: ExplainParams | dict[str, Any] | None = None
                 ) -> None:
        super().__init__(classifier, settings)
        if not isinstance(classifier, TorchClassifier):
            raise ConfigurationError(f"{self.name} runs on torch models; {classifier.source} is a "
                                     f"{classifier.backend} model")
        model_hooks = next(iter(parameters(self.captum_class.__init__))) == "model"
        if model_hooks and isinstance(classifier.module, torch.jit.ScriptModule):
            raise ConfigurationError(f"{self.name} works through module hooks, which TorchScript does not "
                                     f"run (it would give plain gradients); load {classifier.source} as "
                                     "an nn.Module")
        self.torch_classifier = classifier
        options = dict(self.settings.options)
        self.score = str(options.pop("score", "logit"))
        check_choice("score", self.score, SCORES)
        self.init_options, self.attribute_options = self.split_options(options)

    def split_options(self, options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Options for the constructor and for ``attribute()``; one neither names is refused."""
        init = set(list(parameters(self.captum_class.__init__))[1:]) - {"layer"}
        attribute = set(parameters(self.captum_class.attribute)) - set(FIXED_ARGUMENTS)
        unknown = set(options) - init - attribute
        if unknown:
            raise ConfigurationError(f"{self.name}: unknown options {sorted(unknown)}; it takes "
                                     f"{sorted(init | attribute | {'score'})}")
        values = {key: captum_value(key, value) for key, value in options.items()}
        return ({k: v for k, v in values.items() if k in init and k not in attribute},
                {k: v for k, v in values.items() if k in attribute})

    def layer_name(self) -> str | None:
        """The layer a layer method reads (ecgxai's Grad-CAM layer), None for other classes."""
        if "layer" not in parameters(self.captum_class.__init__):
            return None
        return self.torch_classifier.conv_layer(self.settings.gradcam_layer)

    def defaults(self, signal: ExplainInput, x: torch.Tensor, seed: int) -> dict[str, Any]:
        """The ``attribute()`` arguments ecgxai supplies when the options do not (module docstring)."""
        accepted = parameters(self.captum_class.attribute)
        found: dict[str, Any] = {}
        if "baselines" in accepted and accepted["baselines"].default is inspect.Parameter.empty:
            found["baselines"] = noise_baselines(x, seed)
        if "feature_mask" in accepted:
            found["feature_mask"] = event_feature_mask(signal.events, x.shape[1], x.shape[2])
        if "sliding_window_shapes" in accepted:
            window_sec = self.settings.window_sec or BASE_WINDOW_SEC
            found["sliding_window_shapes"] = (1, max(1, round(window_sec * signal.fs)))
            found["strides"] = self.attribute_options.get("sliding_window_shapes",
                                                          found["sliding_window_shapes"])
        if "perturbations_per_eval" in accepted:
            found["perturbations_per_eval"] = self.classifier.batch_size
        return found

    def totals(self, values: torch.Tensor, kwargs: Mapping[str, Any]) -> torch.Tensor:
        """Captum's per-element values as totals: a group's (window's) value divided by its size."""
        if "sliding_window_shapes" in kwargs:
            return values / float(np.prod(kwargs["sliding_window_shapes"]))
        if "feature_mask" in kwargs:
            return values / group_sizes(kwargs["feature_mask"], values.shape)
        return values

    def attribute(self, signal: ExplainInput, target: str | int, seed: int = 0) -> Attribution:
        """Captum's map of ``signal`` for class ``target`` as a sample-level Attribution."""
        index = self.classifier.class_index(target)
        layer = self.layer_name()
        model = ScoreModule(self.torch_classifier, self.score)
        layers = [] if layer is None else [dict(model.model.named_modules())[layer]]
        method = self.captum_class(model, *layers, **self.init_options)
        x = torch.from_numpy(np.ascontiguousarray(signal.x.T, dtype=np.float32))[None]
        x.requires_grad_(self.kind == "gradient")  # as Captum's gradient classes want their input
        kwargs = {**self.defaults(signal, x, seed), **self.attribute_options}
        with seeded(seed):
            try:
                values = method.attribute(x, target=index, **kwargs)
            except (AssertionError, RuntimeError, TypeError, ValueError, NotImplementedError) as exc:
                raise ConfigurationError(f"{self.name} cannot attribute {self.classifier.source}: "
                                         f"{type(exc).__name__}: {exc}") from exc
        grid = self.totals(values.detach().float(), kwargs)[0].T.numpy()
        meta = {"score": self.score, "prior": "off", "captum_version": captum.__version__,
                "captum_arguments": describe({**self.init_options, **kwargs}),
                **({} if layer is None else {"layer": layer}), "attribution_sum": float(grid.sum())}
        scale = "relative" if self.captum_class.__name__ in RELATIVE else self.score
        return sample_attribution(grid, signal.events, signal.lead_names, scale=scale, method=self.name,
                                  meta=meta, **signal.axes())

    def expected_evaluations(self, n_events: int, n_leads: int) -> int:
        """Not forecast: Captum's classes decide their own cost (the payload counts what they ran)."""
        raise ConfigurationError(f"{self.name}: Captum's classes decide their own cost; the payload's "
                                 "model_evaluations counts what they ran")
