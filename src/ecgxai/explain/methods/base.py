"""What every explainer shares: the input it explains, the interface, and the two families.

An explainer is one class per method, as in Captum: made with a classifier and settings,
``attribute(signal, target, seed)`` returns the whole :class:`~ecgxai.explain.attribution.Attribution`
and ``expected_evaluations(n_events, n_leads)`` says what that costs in model evaluations
(forward passes and gradients, as the classifier's counter counts them). ``name`` is the
method's registry name and ``label`` the payload's ``method_label``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from ecgxai.explain.attribution import Attribution, sample_attribution, segment_attribution
from ecgxai.explain.perturbation import Surrogate, explain_flat, explain_two_level, two_level_grid
from ecgxai.explain.settings import ExplainParams, Link, make_params
from ecgxai.models.base import Classifier

Event = tuple[int, int]
Kind = Literal["gradient", "perturbation"]


@dataclass(frozen=True)
class ExplainInput:
    """A model input and what explainers need to know of it.

    ``x`` (T, L) float32 in the model's units and lead order at rate ``fs``; ``events`` the
    segmentation (sorted ``[start, end)`` sample windows); ``record_fs`` the record's own rate and
    ``start_sec``/``end_sec`` the stretch of the record ``x`` covers (end: where the real signal stops).
    """

    x: np.ndarray
    fs: float
    lead_names: tuple[str, ...]
    events: tuple[Event, ...]
    record_fs: float | None = None
    start_sec: float = 0.0
    end_sec: float | None = None

    def axes(self) -> dict[str, Any]:
        """The Attribution fields that describe this input's time axis."""
        return {"fs": self.record_fs or self.fs, "model_fs": self.fs, "start_sec": self.start_sec,
                "end_sec": self.end_sec}


class Explainer(ABC):
    """One explanation method: ``attribute`` gives the whole map, ``expected_evaluations`` its cost."""

    name: ClassVar[str]
    label: ClassVar[str]
    kind: ClassVar[Kind]

    def __init__(self, classifier: Classifier, settings: ExplainParams | dict[str, Any] | None = None
                 ) -> None:
        self.classifier = classifier
        self.settings = make_params(settings)

    @abstractmethod
    def attribute(self, signal: ExplainInput, target: str | int, seed: int = 0) -> Attribution:
        """The attribution map of ``signal`` for class ``target`` (a code or a column index)."""

    @abstractmethod
    def expected_evaluations(self, n_events: int, n_leads: int) -> int:
        """Model evaluations ``attribute`` costs on an input of ``n_events`` events and ``n_leads`` leads."""


class GradientExplainer(Explainer):
    """A method that maps a batch of inputs to per-sample attributions on the class logit."""

    kind: ClassVar[Kind] = "gradient"
    scale: ClassVar[str] = "logit"

    def prepare(self) -> dict[str, Any]:
        """Check what the method needs of the model before any work; diagnostics for ``meta``."""
        return {}

    @abstractmethod
    def attribute_batch(self, batch: np.ndarray, index: int, rng: np.random.Generator) -> np.ndarray:
        """Per-sample attributions (N, T, L) of a batch (N, T, L) for class column ``index``."""

    @abstractmethod
    def evaluations_per_input(self) -> int:
        """Gradient (or forward) evaluations :meth:`attribute_batch` costs per input."""

    def expected_evaluations(self, n_events: int, n_leads: int) -> int:
        """One input's evaluations: the segmentation does not change a gradient method's cost."""
        return self.evaluations_per_input()

    def attribute(self, signal: ExplainInput, target: str | int, seed: int = 0) -> Attribution:
        """The per-sample map of ``signal`` (sample resolution), on the method's scale."""
        meta = self.prepare()
        index = self.classifier.class_index(target)
        values = self.attribute_batch(signal.x[None], index, np.random.default_rng(seed))[0]
        meta = {"score": "logit", "prior": "off", **meta, "attribution_sum": float(values.sum())}
        return sample_attribution(values, signal.events, signal.lead_names, scale=self.scale,
                                  method=self.name, meta=meta, **signal.axes())


def grid_attribution(explainer: Explainer, signal: ExplainInput, grid: np.ndarray, scale: str,
                     meta: dict[str, Any], segment_weights: np.ndarray | None = None) -> Attribution:
    """A segment-level map of an (n_events, L) grid over ``signal``'s events."""
    return segment_attribution(grid, signal.events, signal.lead_names, len(signal.x), scale=scale,
                               method=explainer.name, meta=meta, segment_weights=segment_weights,
                               **signal.axes())


def flat_budget(settings: ExplainParams, n_events: int) -> int:
    """Masks a flat game is offered: as many as the hierarchical run of the same settings uses."""
    return settings.m_event + top_event_count(settings, n_events) * settings.m_feat


def top_event_count(settings: ExplainParams, n_events: int) -> int:
    """How many events a hierarchical game explains lead by lead (``topk_events``, None: all)."""
    return n_events if settings.topk_events is None else min(max(0, settings.topk_events), n_events)


class PerturbationExplainer(Explainer):
    """A game over events and leads played with the method's :class:`Surrogate` (see
    ``explain.perturbation``): hierarchical by default, or flat over every event x lead cell.

    The map holds every event and lead. Flat games give every cell its own value. Hierarchical
    games give the leads of the top ``topk_events`` events their lead-level weights and every
    other event its event weight spread over the leads as the top events' lead weights are
    (:func:`~ecgxai.explain.perturbation.two_level_grid`); the event-level weights are kept as the
    map's ``segment_weights`` (they pick the spans' top events).
    """

    kind: ClassVar[Kind] = "perturbation"
    default_link: ClassVar[Link] = "identity"

    @abstractmethod
    def surrogate(self) -> Surrogate:
        """The method's sampling and fitting strategy under the chosen settings."""

    @property
    def link(self) -> Link:
        """The score scale the game is played on (``settings.link`` overrides the method's own)."""
        return self.settings.link or self.default_link

    def lead_keep_prob(self, code: str, lead_names: tuple[str, ...]) -> tuple[np.ndarray | None, Any]:
        """Keep-probabilities of lead masks and how the payload records them (no prior: None, "off")."""
        return None, "off"

    def describe(self) -> dict[str, Any]:
        """Method-specific diagnostics for the map's ``meta``."""
        return {}

    def attribute(self, signal: ExplainInput, target: str | int, seed: int = 0) -> Attribution:
        """Play the game on ``signal`` for class ``target``; the whole event x lead grid."""
        index = self.classifier.class_index(target)
        surrogate, rng = self.surrogate(), np.random.default_rng(seed)
        keep_prob, prior = self.lead_keep_prob(self.classifier.class_names[index], signal.lead_names)
        meta = {"link": surrogate.link, "prior": prior, "hierarchy": self.settings.hierarchy,
                **self.describe()}
        scale = "probability" if surrogate.link == "identity" else surrogate.link
        events = list(signal.events)
        if self.settings.hierarchy == "flat":
            grid, _ = explain_flat(self.classifier, signal.x, index, events, surrogate, rng,
                                   budget=flat_budget(self.settings, len(events)), lead_keep_prob=keep_prob)
            return grid_attribution(self, signal, grid, scale, meta)
        result = explain_two_level(self.classifier, signal.x, index, events, surrogate, rng,
                                   m_event=self.settings.m_event, m_feat=self.settings.m_feat,
                                   topk_events=top_event_count(self.settings, len(events)),
                                   lead_mode=self.settings.lead_mode, lead_keep_prob=keep_prob)
        grid = two_level_grid(result, len(signal.lead_names))
        return grid_attribution(self, signal, grid, scale, {**meta, "top_events": result.top_events},
                                segment_weights=result.event_weights)

    def expected_evaluations(self, n_events: int, n_leads: int) -> int:
        """Masks the game sends to the model (the surrogate decides how many it uses of its budget)."""
        surrogate = self.surrogate()
        if self.settings.hierarchy == "flat":
            return surrogate.n_masks(n_events * n_leads, flat_budget(self.settings, n_events))
        top = top_event_count(self.settings, n_events)
        return surrogate.n_masks(n_events, self.settings.m_event) + top * surrogate.n_masks(
            n_leads, self.settings.m_feat)
