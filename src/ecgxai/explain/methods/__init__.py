"""Every explanation method, one class per file, found by name in :data:`EXPLAINERS`.

To add a method: write one file here with a class derived from
:class:`~ecgxai.explain.methods.base.GradientExplainer` (per-sample attributions of a batch) or
:class:`~ecgxai.explain.methods.base.PerturbationExplainer` (a surrogate played over events and
leads), or :class:`~ecgxai.explain.methods.base.Explainer` itself, and add it to :data:`EXPLAINERS`.
"""

from __future__ import annotations

import logging

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
#: What ``auto`` picks, from the method comparison on the reference ResNet and records
#: (benchmarks/results/compare-reference.md: mean MoRF of each method's whole map against its random
#: map, cost in forward-pass equivalents): the best gradient method within 64 forward-pass
#: equivalents for a model with gradients, the best perturbation method for a black box.
AUTO_CHOICE: dict[bool, str] = {True: "ig", False: "occlusion"}


def resolve_method(method: str, classifier: Classifier) -> str:
    """``method``, or for ``auto`` the method :data:`AUTO_CHOICE` picks for ``classifier`` (logged)."""
    if method != AUTO:
        return method
    chosen = AUTO_CHOICE[bool(classifier.differentiable)]
    kind = "a model with gradients" if classifier.differentiable else "a black-box model"
    log.info("method auto: %s for %s (%s backend)", chosen, kind, classifier.backend)
    return chosen


__all__ = ["AUTO", "AUTO_CHOICE", "CAPTUM_PREFIX", "EXPLAINERS", "GRADIENT_METHODS", "METHODS",
           "METHOD_LABELS", "PERTURBATION_METHODS", "ExplainInput", "Explainer", "GradientExplainer",
           "PerturbationExplainer", "get_explainer", "is_method", "resolve_method"]
