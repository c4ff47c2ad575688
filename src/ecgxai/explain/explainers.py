"""Explain one record for one class with any method in :data:`METHODS`.

Perturbation methods (``lime``, ``timeshap``, ``occlusion``, ``shapley_sampling``) play a game
whose players are events and leads, either hierarchically (events first, then the leads
inside the top events) or flat (every event x lead cell at once); see ``ExplainParams.hierarchy``.
Gradient methods (``ig``, ``gradxinput``, ``gradcam``, ``smoothgrad``) give a dense (T, L)
attribution that is summed per event.

Every method segments the model input into events the same way, reports spans
in the same payload, counts its model evaluations and is seeded per record
(the seed is derived from the run seed, the record's name, the class and the
method, never from execution order).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from ecgxai import config
from ecgxai.errors import ConfigurationError
from ecgxai.explain import config as class_config
from ecgxai.explain.gradients import (
    CamSpread,
    gradient_x_input,
    guided_grad_cam,
    integrated_gradients,
    smooth_grad,
)
from ecgxai.explain.payload import Explanation
from ecgxai.explain.perturbation import (
    Hierarchy,
    LeadMode,
    explain_flat,
    explain_two_level,
    lead_keep_probabilities,
)
from ecgxai.explain.segmentation import make_event_segments
from ecgxai.explain.spans import event_span, spans_from_dense, spans_from_event_grid, spans_from_grid
from ecgxai.explain.surrogates import (
    KernelShapSurrogate,
    LimeSurrogate,
    Link,
    OcclusionSurrogate,
    ShapleySamplingSurrogate,
    Surrogate,
)
from ecgxai.io.classes import SCORED_CODES, class_name
from ecgxai.io.preprocessing import to_model_input
from ecgxai.io.records import Record, read_record, signal_file_of
from ecgxai.models.base import Classifier

PERTURBATION_METHODS: tuple[str, ...] = ("lime", "timeshap", "occlusion", "shapley_sampling")
GRADIENT_METHODS: tuple[str, ...] = ("ig", "gradxinput", "gradcam", "smoothgrad")
METHODS: tuple[str, ...] = ("lime", "timeshap", "ig", "gradxinput", "gradcam", "occlusion",
                            "shapley_sampling", "smoothgrad")
METHOD_LABELS: dict[str, str] = {"lime": "LIME", "timeshap": "TimeSHAP", "ig": "IntegratedGradients",
                                 "gradxinput": "GradientXInput", "gradcam": "GradCAM",
                                 "occlusion": "Occlusion", "shapley_sampling": "ShapleySampling",
                                 "smoothgrad": "SmoothGrad"}
EventKind = Literal["uniform", "beat_qrs", "qrs_family", "waves"]
SmoothGradBase = Literal["gradxinput", "ig", "gradcam"]


@dataclass(frozen=True)
class ExplainParams:
    """Settings of an explanation; ``None`` fields take the class's defaults (see explain.config).

    ``hierarchy`` (perturbation methods): ``"hierarchical"`` explains events with ``m_event``
    masks, then the leads inside each of the ``topk_events`` top events with ``m_feat`` masks
    each (in ``lead_mode``); ``"flat"`` plays one game over every event x lead cell with the
    same total budget, ``m_event + min(topk_events, n_events) * m_feat`` masks (a masked cell is
    zeroed, the rest kept; ``lead_mode`` does not apply). Occlusion costs 1 + players per game;
    Shapley sampling 2 + 2 * ``shapley_permutations`` * (players - 1) per game.
    ``gradcam_layer`` names the layer Grad-CAM reads (default: the last 1-D convolution);
    ``gradcam_spread`` how its time map reaches the leads (see ``gradients.guided_grad_cam``).
    ``smoothgrad_*``: the gradient method inside the noise tunnel, the number of noisy copies and
    the noise standard deviation as a fraction of the input's standard deviation.
    """

    event_kind: EventKind = "uniform"
    window_sec: float | None = None
    m_event: int = 100
    m_feat: int = 100
    topk_events: int = 5
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
    smoothgrad_base: SmoothGradBase = "gradxinput"
    smoothgrad_samples: int = 16
    smoothgrad_sigma: float = 0.15

    def __post_init__(self) -> None:
        _check_choice("hierarchy", self.hierarchy, get_args(Hierarchy))
        _check_choice("gradcam_spread", self.gradcam_spread, get_args(CamSpread))
        _check_choice("smoothgrad_base", self.smoothgrad_base, get_args(SmoothGradBase))
        if self.shapley_permutations < 1 or self.smoothgrad_samples < 1:
            raise ConfigurationError("shapley_permutations and smoothgrad_samples must be >= 1, got "
                                     f"{self.shapley_permutations} and {self.smoothgrad_samples}")
        if not self.smoothgrad_sigma >= 0:
            raise ConfigurationError(f"smoothgrad_sigma must be >= 0, got {self.smoothgrad_sigma}")

    def for_class(self, code: str) -> ExplainParams:
        """Fill class-dependent defaults (window length) for ``code``."""
        if self.window_sec is not None:
            return self
        return replace(self, window_sec=class_config.window_sec_for(code))

    def segmentation(self) -> dict[str, Any]:
        """The params dict ``make_event_segments`` takes."""
        return {"event_kind": self.event_kind, "window_sec": self.window_sec}


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
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


def _label(code: str) -> str:
    return class_name(code) if code in SCORED_CODES else code


def explain_input(
    classifier: Classifier,
    x: np.ndarray,
    target: str,
    *,
    fs: float,
    method: str = "lime",
    params: ExplainParams | Mapping[str, Any] | None = None,
    seed: int | None = None,
    lead_names: Sequence[str] | None = None,
    identity: str = "",
) -> Explanation:
    """Explain one model input (T, L) for class code ``target`` with ``method``."""
    if method not in METHODS:
        raise ConfigurationError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    settings = make_params(params).for_class(str(target))
    leads = list(lead_names or classifier.lead_names or config.STANDARD_LEADS[: x.shape[1]])
    index = classifier.class_index(target)
    record_seed = derive_seed(seed, identity, str(target), method)
    events = make_event_segments(x, fs, settings.segmentation(), leads)
    before = classifier.counter.evaluations
    started = time.perf_counter()
    probability = float(classifier.predict(x[None])[0, index])
    if method in PERTURBATION_METHODS:
        spans, scores, kept, event_spans, meta = _perturbation(
            classifier, x, index, events, fs, leads, method, settings, str(target), record_seed)
    else:
        spans, scores, kept, event_spans, meta = _gradient(classifier, x, index, events, fs, leads,
                                                           method, settings, record_seed)
    evaluations = classifier.counter.evaluations - before
    return Explanation(
        mat_path="", target_label=_label(str(target)), method_label=METHOD_LABELS[method],
        page_seconds=len(x) / fs, perlead_spans=spans, lead_scores=scores, top5_leads=kept[:5],
        target_code=str(target), probability=probability, event_spans=event_spans,
        model_evaluations=int(evaluations), seconds=time.perf_counter() - started,
        seed=record_seed, params={"method": method, **asdict(settings)}, meta=meta,
    )


def _surrogate(method: str, settings: ExplainParams) -> Surrogate:
    """The sampling + fitting strategy of a perturbation method (scores on its default link)."""
    if method == "lime":
        return LimeSurrogate(kernel_width=settings.kernel_width, link=settings.link or "identity")
    if method == "timeshap":
        return KernelShapSurrogate(link=settings.link or "logit")
    if method == "occlusion":
        return OcclusionSurrogate(link=settings.link or "identity")
    return ShapleySamplingSurrogate(permutations=settings.shapley_permutations,
                                    link=settings.link or "identity")


def flat_budget(settings: ExplainParams, n_events: int) -> int:
    """Masks a flat game is offered: as many as the hierarchical run of the same settings uses."""
    top = n_events if settings.topk_events is None else min(max(0, settings.topk_events), n_events)
    return settings.m_event + top * settings.m_feat


def _perturbation(classifier: Classifier, x: np.ndarray, index: int, events: list, fs: float,
                  leads: list[str], method: str, settings: ExplainParams, code: str, seed: int
                  ) -> tuple[dict, dict, list, list, dict]:
    surrogate = _surrogate(method, settings)
    keep_prob = None
    meta: dict[str, Any] = {"link": surrogate.link, "n_events": len(events), "prior": "off",
                            "hierarchy": settings.hierarchy}
    if method == "shapley_sampling":
        meta["permutations"] = settings.shapley_permutations
    if settings.use_lead_priors and method == "lime":
        prior = class_config.lead_prior_for(code)
        keep_prob = lead_keep_probabilities(leads, prior, settings.prior_strength)
        meta["prior"] = {"lead_prior": prior, "strength": settings.prior_strength}
    if settings.hierarchy == "flat":
        grid, _ = explain_flat(classifier, x, index, events, surrogate, np.random.default_rng(seed),
                               budget=flat_budget(settings, len(events)), lead_keep_prob=keep_prob)
        spans, scores, kept, event_spans = spans_from_event_grid(
            grid, events, fs, leads, settings.keep_leads, settings.topk_events)
        return spans, scores, kept, event_spans, meta
    result = explain_two_level(
        classifier, x, index, events, surrogate, np.random.default_rng(seed),
        m_event=settings.m_event, m_feat=settings.m_feat, topk_events=settings.topk_events,
        lead_mode=settings.lead_mode, lead_keep_prob=keep_prob,
    )
    grid = np.zeros((len(events), len(leads)))
    for j, weights in result.lead_weights.items():
        grid[j] = weights
    spans, scores, kept = spans_from_grid(grid, events, fs, leads, settings.keep_leads, result.top_events)
    event_spans = [event_span(e, fs, w) for e, w in zip(events, result.event_weights, strict=True)]
    return spans, scores, kept, event_spans, meta


def _gradient(classifier: Classifier, x: np.ndarray, index: int, events: list, fs: float,
              leads: list[str], method: str, settings: ExplainParams, seed: int
              ) -> tuple[dict, dict, list, list, dict]:
    base = settings.smoothgrad_base if method == "smoothgrad" else method
    extra: dict[str, Any] = {}
    if base == "gradcam":  # resolve (and check) the layer before any model work
        extra = {"layer": classifier.conv_layer(settings.gradcam_layer), "spread": settings.gradcam_spread}
    if method == "smoothgrad":
        extra.update(base=base, samples=settings.smoothgrad_samples, sigma=settings.smoothgrad_sigma)
        attribution = smooth_grad(lambda batch: _attribute(classifier, batch, index, base, settings), x,
                                  settings.smoothgrad_samples, settings.smoothgrad_sigma,
                                  np.random.default_rng(seed))
    else:
        attribution = _attribute(classifier, x[None], index, method, settings)[0]
    spans, scores, kept, event_spans = spans_from_dense(
        attribution, events, fs, leads, settings.keep_leads, settings.topk_events)
    meta = {"score": "logit", "n_events": len(events), "prior": "off",
            "attribution_sum": float(attribution.sum()), **extra}
    return spans, scores, kept, event_spans, meta


def _attribute(classifier: Classifier, batch: np.ndarray, index: int, method: str,
               settings: ExplainParams) -> np.ndarray:
    """Dense attributions (N, T, L) of a batch of inputs by one gradient method."""
    if method == "ig":
        return np.stack([integrated_gradients(classifier, x, index, steps=settings.ig_steps)[0]
                         for x in batch])
    if method == "gradcam":
        return guided_grad_cam(classifier, batch, index, settings.gradcam_layer, settings.gradcam_spread)[0]
    return gradient_x_input(classifier, batch, index)[0]


def explain_record(
    classifier: Classifier,
    record: str | Path | Record,
    target: str,
    method: str = "lime",
    params: ExplainParams | Mapping[str, Any] | None = None,
    seed: int | None = None,
    **read_kwargs: Any,
) -> Explanation:
    """Read a record (or take a Record), build the model input and explain it for ``target``."""
    rec = record if isinstance(record, Record) else read_record(record, **read_kwargs)
    x = to_model_input(rec, maxlen=classifier.input_length, units=classifier.units,
                       lead_names=classifier.lead_names)
    explanation = explain_input(classifier, x, str(target), fs=rec.fs, method=method, params=params,
                                seed=seed, lead_names=classifier.lead_names, identity=rec.name)
    explanation.mat_path = "" if rec.path is None else str(signal_file_of(rec.path))
    explanation.record = rec.name
    explanation.page_seconds = min(rec.duration_sec, classifier.input_length / rec.fs)
    return explanation

