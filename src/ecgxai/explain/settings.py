"""The settings of an explanation (:class:`ExplainParams`) and the per-record seed every method uses."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from ecgxai import classes, config
from ecgxai.errors import ConfigurationError

EventKind = Literal["uniform", "beat_qrs", "qrs_family", "waves"]
Hierarchy = Literal["hierarchical", "flat"]
LeadMode = Literal["context", "isolated"]
Link = Literal["identity", "logit"]
CamSpread = Literal["guided", "all_leads"]


@dataclass(frozen=True)
class ExplainParams:
    """Settings of an explanation; ``None`` fields take the class's or the method's defaults.

    Segmentation: ``event_kind`` and ``window_sec`` (see ``ecgxai.signal.events``; the window
    defaults per class, see :mod:`ecgxai.classes`). Spans: the payload's ``perlead_spans`` hold the
    ``topk_events`` events with the largest |weight| on the ``keep_leads`` leads with the largest
    span mass (``None``: all), the original toolkit's format; the attribution map always holds
    every event and lead.

    Perturbation methods: ``hierarchy="hierarchical"`` explains events with ``m_event`` masks,
    then the leads inside each of the ``topk_events`` top events with ``m_feat`` masks each (in
    ``lead_mode``); ``"flat"`` plays one game over every event x lead cell with the same total
    budget, ``m_event + min(topk_events, n_events) * m_feat`` masks (a masked cell is zeroed, the
    rest kept). Occlusion costs 1 + players per game; Shapley sampling 2 + 2 *
    ``shapley_permutations`` * (players - 1). ``link`` overrides the method's score scale;
    ``kernel_width`` is LIME's; lead priors (``use_lead_priors``, ``prior_strength``) bias LIME's
    lead masks and are off by default.

    Gradient methods: ``ig_steps`` (Integrated Gradients); ``gradcam_layer`` (default: the last
    1-D convolution) and ``gradcam_spread`` (see ``methods.gradcam``); ``smoothgrad_base`` (any
    registered gradient method), ``smoothgrad_samples`` noisy copies and noise sd
    ``smoothgrad_sigma`` x the input's sd.

    ``options``: settings of methods registered beyond the built-in ones, read by their own class.
    """

    event_kind: EventKind = "uniform"
    window_sec: float | None = None
    m_event: int = 100
    m_feat: int = 100
    topk_events: int | None = 5
    keep_leads: int | None = 5
    lead_mode: LeadMode = "context"
    use_lead_priors: bool = False
    prior_strength: float = 0.4
    kernel_width: float = 0.25
    link: Link | None = None
    ig_steps: int = 16
    hierarchy: Hierarchy = "hierarchical"
    gradcam_layer: str | None = None
    gradcam_spread: CamSpread = "guided"
    shapley_permutations: int = 5
    smoothgrad_base: str = "gradxinput"
    smoothgrad_samples: int = 16
    smoothgrad_sigma: float = 0.15
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("hierarchy", self.hierarchy, get_args(Hierarchy))
        check_choice("lead_mode", self.lead_mode, get_args(LeadMode))
        check_choice("gradcam_spread", self.gradcam_spread, get_args(CamSpread))
        if self.link is not None:
            check_choice("link", self.link, get_args(Link))
        if self.shapley_permutations < 1 or self.smoothgrad_samples < 1 or self.ig_steps < 1:
            raise ConfigurationError(
                "ig_steps, shapley_permutations and smoothgrad_samples must be >= 1, got "
                f"{self.ig_steps}, {self.shapley_permutations} and {self.smoothgrad_samples}")
        if not self.smoothgrad_sigma >= 0:
            raise ConfigurationError(f"smoothgrad_sigma must be >= 0, got {self.smoothgrad_sigma}")
        object.__setattr__(self, "options", dict(self.options))

    def for_class(self, code: str) -> ExplainParams:
        """Fill class-dependent defaults (window length) for ``code``."""
        if self.window_sec is not None:
            return self
        return replace(self, window_sec=classes.window_sec_for(code))

    def segmentation(self) -> dict[str, Any]:
        """The params dict ``make_event_segments`` takes."""
        return {"event_kind": self.event_kind, "window_sec": self.window_sec}


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    """Refuse a setting outside its choices, naming them."""
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def make_params(params: ExplainParams | Mapping[str, Any] | None) -> ExplainParams:
    """Accept an ExplainParams, a plain dict of its fields, or None (defaults)."""
    if params is None:
        return ExplainParams()
    if isinstance(params, ExplainParams):
        return params
    unknown = set(params) - set(ExplainParams.__dataclass_fields__)
    if unknown:
        raise ConfigurationError(f"unknown explanation settings {sorted(unknown)}")
    return ExplainParams(**params)


def derive_seed(seed: int | None, *parts: str) -> int:
    """A 32-bit seed from the run seed and identifying strings (record, class, method)."""
    text = "|".join([str(config.resolve_seed(seed)), *parts])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
