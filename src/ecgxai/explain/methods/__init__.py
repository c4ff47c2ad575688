"""Every explanation method, one class per file, found by name in :data:`EXPLAINERS`.

To add a method: write one file here with a class derived from
:class:`~ecgxai.explain.methods.base.GradientExplainer` (per-sample attributions of a batch) or
:class:`~ecgxai.explain.methods.base.PerturbationExplainer` (a surrogate played over events and
leads), or :class:`~ecgxai.explain.methods.base.Explainer` itself, and add it to :data:`EXPLAINERS`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ecgxai import config
from ecgxai.errors import ConfigurationError
from ecgxai.explain.methods.base import Explainer, ExplainInput, GradientExplainer, PerturbationExplainer
from ecgxai.explain.methods.gradcam import GradCam
from ecgxai.explain.methods.gradient_x_input import GradientXInput
from ecgxai.explain.methods.integrated_gradients import IntegratedGradients
from ecgxai.explain.methods.lime import Lime
from ecgxai.explain.methods.occlusion import Occlusion
from ecgxai.explain.methods.shapley_sampling import ShapleySampling
from ecgxai.explain.methods.smoothgrad import SmoothGrad
from ecgxai.explain.methods.timeshap import TimeShap
from ecgxai.explain.settings import ExplainParams, check_choice
from ecgxai.models.base import Classifier

log = logging.getLogger(__name__)

#: Registry: method name -> explainer class.
EXPLAINERS: dict[str, type[Explainer]] = {cls.name: cls for cls in (
    Lime, TimeShap, IntegratedGradients, GradientXInput, GradCam, Occlusion, ShapleySampling, SmoothGrad,
)}
METHODS: tuple[str, ...] = tuple(EXPLAINERS)
GRADIENT_METHODS: tuple[str, ...] = tuple(name for name, cls in EXPLAINERS.items()
                                          if issubclass(cls, GradientExplainer))
PERTURBATION_METHODS: tuple[str, ...] = tuple(name for name, cls in EXPLAINERS.items()
                                              if issubclass(cls, PerturbationExplainer))
#: The payload's ``method_label`` of each method.
METHOD_LABELS: dict[str, str] = {name: cls.label for name, cls in EXPLAINERS.items()}


#: Method names ``captum:NAME`` run Captum's class NAME on torch models (optional bridge, see
#: :mod:`ecgxai.explain.methods.captum_bridge`).
CAPTUM_PREFIX = "captum:"


def is_method(name: str) -> bool:
    """True for a registered method name or a ``captum:NAME`` (whose class is checked when made)."""
    return name in EXPLAINERS or (isinstance(name, str) and name.startswith(CAPTUM_PREFIX))


def check_settings(settings: ExplainParams) -> ExplainParams:
    """Refuse settings that name a method the registry cannot use there (``smoothgrad_base``: any
    gradient method but smoothgrad); checked here, not in ExplainParams, which the methods import."""
    bases = [method for method in GRADIENT_METHODS if method != "smoothgrad"]
    check_choice("smoothgrad_base", settings.smoothgrad_base, bases)
    return settings


def get_explainer(name: str) -> type[Explainer]:
    """The explainer class registered as ``name`` (or of ``captum:NAME``); an unknown name is a
    ConfigurationError, ``captum:`` without Captum a MissingDependencyError."""
    if isinstance(name, str) and name.startswith(CAPTUM_PREFIX):
        from ecgxai.explain.methods.captum_bridge import captum_explainer  # optional: imports captum

        return captum_explainer(name.removeprefix(CAPTUM_PREFIX))
    try:
        return EXPLAINERS[name]
    except (KeyError, TypeError):
        raise ConfigurationError(f"unknown method {name!r}; choose from {', '.join(METHODS)} "
                                 f"or {CAPTUM_PREFIX}NAME") from None


#: The method name that asks ecgxai to choose.
AUTO = "auto"
#: Occlusion of every lead x 0.1 s cell alone, the whole map kept.
CELL_OCCLUSION: tuple[str, dict[str, Any]] = ("occlusion", {"hierarchy": "flat", "window_sec": 0.1})
#: What ``auto`` picks per kind of model, from the method comparisons (benchmarks/results/: mean MoRF
#: of each method's whole map against its random map, cost in forward-pass equivalents). On the
#: reference ResNet (compare-reference.md) occlusion of every cell ranks best and costs about 54
#: forward-pass equivalents where its perturbations run incrementally; on the small benchmark CNN
#: (compare-synthetic.md) the engine cannot save its per-call cost (occlusion: 476) and Integrated
#: Gradients ranks best at 37. So: occlusion of every cell where the engine keeps it within
#: :data:`AUTO_BUDGET` forward passes, else the best gradient method for a model with gradients,
#: else (a black box) occlusion of every cell.
AUTO_CHOICE: dict[str, tuple[str, dict[str, Any]]] = {
    "incremental": CELL_OCCLUSION,
    "gradients": ("ig", {}),
    "black box": CELL_OCCLUSION,
}
#: Forward-pass equivalents per record that ``auto`` allows cell occlusion on an incremental model:
#: five times Integrated Gradients' ~40. Measured: the reference ResNet about 58, the benchmark CNN
#: 870-980, so the choice does not hinge on timing noise.
AUTO_BUDGET = 200.0


def cell_occlusion_cost(classifier: Classifier) -> float | None:
    """Forward-pass equivalents cell occlusion costs on ``classifier`` through its incremental engine,
    measured (:meth:`~ecgxai.models.incremental.IncrementalForward.window_cost`); None without one."""
    engine = classifier.incremental()
    if engine is None:
        return None
    _, settings = CELL_OCCLUSION
    fs = classifier.fs or config.FALLBACK_FS  # a model that states no rate: the Challenge's 500 Hz
    width = max(1, round(settings["window_sec"] * fs))
    cells = classifier.n_leads * -(-classifier.input_length // width)
    return cells * engine.window_cost(width)


def model_kind(classifier: Classifier) -> str:
    """The key of :data:`AUTO_CHOICE` for ``classifier``: how cheaply it can be explained."""
    cost = cell_occlusion_cost(classifier)
    if cost is not None:
        log.info("cell occlusion through the incremental engine: about %.0f forward-pass equivalents", cost)
        if cost <= AUTO_BUDGET or not classifier.differentiable:
            return "incremental"
    return "gradients" if classifier.differentiable else "black box"


def resolve_method(method: str, classifier: Classifier,
                   params: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """``method`` and ``params``, or for ``auto`` the method and settings :data:`AUTO_CHOICE` picks for
    ``classifier`` (logged), under any ``params`` given."""
    params = dict(params or {})
    if method != AUTO:
        return method, params
    kind = model_kind(classifier)
    chosen, settings = AUTO_CHOICE[kind]
    log.info("method auto: %s %s for a model of kind %r (%s backend)", chosen, settings, kind,
             classifier.backend)
    return chosen, {**settings, **params}


__all__ = ["AUTO", "AUTO_BUDGET", "AUTO_CHOICE", "CAPTUM_PREFIX", "CELL_OCCLUSION", "EXPLAINERS",
           "GRADIENT_METHODS", "METHODS", "METHOD_LABELS", "PERTURBATION_METHODS", "ExplainInput",
           "Explainer", "GradientExplainer", "PerturbationExplainer", "cell_occlusion_cost", "check_settings",
           "get_explainer", "is_method", "model_kind", "resolve_method"]
