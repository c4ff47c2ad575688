"""The perturbation engines shared by LIME, TimeSHAP-style KernelSHAP, occlusion and Shapley sampling.

A :class:`Surrogate` is a method's sampling and fitting strategy (its masks and how model
outputs become one weight per player); the engines play it over events and leads.

Hierarchical (:func:`explain_two_level`), level 1 (events): players are time windows; a
masked event is zeroed in all leads. Level 2 (leads): inside each of the top-k events by
|weight|, players are the leads; a masked lead is zeroed inside that window, and the rest of
the signal is kept (``context``) or zeroed (``isolated``).

Flat (:func:`explain_flat`): every (event, lead) cell is a player at once; a masked cell
is zeroed, the rest of the signal is kept.

Masked inputs are built with one vectorised multiply per chunk of masks, and all model
calls go through the classifier's batched predict. Each masked input differs from ``x`` only
between the first and the last event it masks (inside one event, for the lead games in
``context`` mode), so they go through ``classifier.predict_local``: models with an incremental
engine (``ecgxai.models.incremental``) recompute only the activations that window changes, which
makes occlusion of every cell alone and the lead games cheap; other models run the full pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np
from scipy.special import logit as _logit

from ecgxai.errors import ConfigurationError
from ecgxai.explain.settings import LeadMode, Link
from ecgxai.models.base import Classifier

Event = tuple[int, int]
#: Masked inputs built and sent to the model at a time (bounds memory: 512 x 5000 x 12 float32 = 123 MB).
MASK_CHUNK = 512


class Surrogate(Protocol):
    """Sampling + fitting strategy of a perturbation explainer."""

    name: str
    link: Link

    def sample(self, n_players: int, n_samples: int, rng: np.random.Generator,
               keep_prob: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Masks (M, D) bool (True = player kept) and their regression weights (M,)."""
        ...

    def n_masks(self, n_players: int, n_samples: int) -> int:
        """How many masks :meth:`sample` returns for ``n_players`` players offered ``n_samples``."""
        ...

    def fit(self, masks: np.ndarray, outputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """One attribution per player from model outputs (M,) on the masks."""
        ...


def apply_link(p: np.ndarray, link: Link) -> np.ndarray:
    """Map probabilities through the link (logit clipped away from 0 and 1)."""
    if link == "identity":
        return np.asarray(p, dtype=np.float64)
    if link == "logit":
        return _logit(np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7))
    raise ConfigurationError(f"link must be 'identity' or 'logit', got {link!r}")


@dataclass
class TwoLevelResult:
    """Event weights, per-lead weights inside the top events, and the model work it took."""

    event_weights: np.ndarray                  # (n_events,)
    top_events: list[int]                      # indices into events, by |weight| descending
    lead_weights: dict[int, np.ndarray]        # event index -> (n_leads,)
    model_evaluations: int


def event_time_index(events: Sequence[Event], length: int) -> np.ndarray:
    """For each sample, the index of the event covering it (-1 where none does)."""
    index = np.full(length, -1, dtype=np.int64)
    for j, (start, end) in enumerate(events):
        index[start:end] = j
    return index


def mask_events(x: np.ndarray, events: Sequence[Event], masks: np.ndarray) -> np.ndarray:
    """(M, T, L) copies of ``x`` (T, L) with the events whose mask is False zeroed in all leads."""
    return mask_cells(x, events, masks[:, :, None])


def mask_cells(x: np.ndarray, events: Sequence[Event], masks: np.ndarray) -> np.ndarray:
    """(M, T, L) copies of ``x`` with each (event, lead) cell whose mask is False zeroed.

    ``masks`` is (M, n_events, L), or (M, n_events, 1) to mask whole events in all leads.
    Samples outside every event are always kept.
    """
    index = event_time_index(events, len(x))
    padded = np.concatenate([masks, np.ones((len(masks), 1, masks.shape[2]), dtype=bool)], axis=1)
    keep = padded[:, index]  # index -1 picks the always-on row
    return np.where(keep, x[None, :, :], x.dtype.type(0))  # one pass over the copies, not three


def changed_windows(events: Sequence[Event], masks: np.ndarray) -> np.ndarray:
    """(M, 2) sample windows ``[start, end)`` outside which :func:`mask_cells` of ``masks`` (M,
    n_events, L or 1) leaves the input unchanged: from the first to the last event a mask touches
    ((0, 0) for the all-on mask)."""
    touched = ~masks.all(axis=2)                                        # (M, n_events)
    any_touched = touched.any(axis=1)
    first = np.argmax(touched, axis=1)
    last = touched.shape[1] - 1 - np.argmax(touched[:, ::-1], axis=1)
    bounds = np.asarray(events, dtype=np.int64).reshape(-1, 2)
    windows = np.stack([bounds[first, 0], bounds[last, 1]], axis=1)
    return np.where(any_touched[:, None], windows, 0)


Windows = Callable[[np.ndarray], np.ndarray]


def _same_window(window: Event, masks: np.ndarray) -> np.ndarray:
    """(M, 2): every mask's input changes inside ``window`` only."""
    return np.tile(np.asarray(window, dtype=np.int64)[None], (len(masks), 1))


def masked_outputs(classifier: Classifier, x: np.ndarray, build: Callable[[np.ndarray], np.ndarray],
                   masks: np.ndarray, target: int, windows: Windows | None = None) -> np.ndarray:
    """The model's ``target`` column for the inputs ``build`` makes from ``masks``, in chunks.

    ``windows`` maps masks to the (M, 2) sample windows outside which their inputs equal ``x``
    (then ``classifier.predict_local`` computes only what changes); None runs the full pass. At most
    :data:`MASK_CHUNK` masked inputs exist at once.
    """
    def outputs(chunk: np.ndarray) -> np.ndarray:
        batch = build(chunk)
        if windows is None:
            return classifier.predict(batch)[:, target]
        return classifier.predict_local(x, batch, windows(chunk))[:, target]

    chunks = [masks[start:start + MASK_CHUNK] for start in range(0, len(masks), MASK_CHUNK)]
    return np.concatenate([outputs(chunk) for chunk in chunks])


def mask_leads_in_window(x: np.ndarray, window: Event, masks: np.ndarray, mode: LeadMode) -> np.ndarray:
    """(M, T, L) copies of ``x`` with leads whose mask is False zeroed inside ``window``.

    ``context`` keeps the signal outside the window; ``isolated`` zeroes it.
    """
    start, end = window
    if mode == "context":
        out = np.repeat(x[None], len(masks), axis=0)
    elif mode == "isolated":
        out = np.zeros((len(masks), *x.shape), dtype=x.dtype)
    else:
        raise ConfigurationError(f"lead mode must be 'context' or 'isolated', got {mode!r}")
    out[:, start:end, :] = x[None, start:end, :] * masks[:, None, :].astype(x.dtype)
    return out


def explain_two_level(
    classifier: Classifier,
    x: np.ndarray,
    target: int,
    events: Sequence[Event],
    surrogate: Surrogate,
    rng: np.random.Generator,
    *,
    m_event: int = 100,
    m_feat: int = 100,
    topk_events: int = 5,
    lead_mode: LeadMode = "context",
    lead_keep_prob: np.ndarray | None = None,
) -> TwoLevelResult:
    """Run both levels for one input (T, L) and one class column ``target``."""
    if not events:
        raise ConfigurationError("no events to explain (empty segmentation)")
    masks, weights = surrogate.sample(len(events), m_event, rng)
    outputs = masked_outputs(classifier, x, lambda m: mask_events(x, events, m), masks, target,
                             lambda m: changed_windows(events, m[:, :, None]))
    event_weights = surrogate.fit(masks, outputs, weights)
    evaluations = len(masks)
    order = np.argsort(-np.abs(event_weights), kind="stable")[: max(0, topk_events)]
    lead_weights: dict[int, np.ndarray] = {}
    for j in order:
        lead_masks, lead_w = surrogate.sample(x.shape[1], m_feat, rng, keep_prob=lead_keep_prob)
        window = events[j]
        local = partial(_same_window, window) if lead_mode == "context" else None
        lead_outputs = masked_outputs(classifier, x, partial(mask_leads_in_window, x, window, mode=lead_mode),
                                      lead_masks, target, local)
        lead_weights[int(j)] = surrogate.fit(lead_masks, lead_outputs, lead_w)
        evaluations += len(lead_masks)
    return TwoLevelResult(event_weights, [int(j) for j in order], lead_weights, evaluations)


def lead_profile(result: TwoLevelResult, n_leads: int) -> np.ndarray:
    """(L,) the mean share of |lead weight| each lead holds in the top events (equal shares when no
    top event has a lead weight): how the record's evidence is spread over the leads."""
    shares = [np.abs(w) / np.abs(w).sum() for w in result.lead_weights.values() if np.abs(w).sum() > 0]
    return np.mean(shares, axis=0) if shares else np.full(n_leads, 1.0 / n_leads)


def two_level_grid(result: TwoLevelResult, n_leads: int) -> np.ndarray:
    """(n_events, L) weights of a hierarchical game: each top event's lead weights, and for every
    other event (which gets no lead game) its event weight spread over the leads in proportion to
    :func:`lead_profile`. Lead-level weights inside an event add up to about the event's weight, so
    the spread values are on their scale. Chosen by measurement over an equal share per lead
    (``benchmarks/two_level_fill.py``): on 10 reference records, LIME's mean MoRF 0.43 / 0.41 (AF /
    sinus rhythm) against 0.58 / 0.61, TimeSHAP's 0.32 / 0.42 against 0.52 / 0.60."""
    grid = result.event_weights[:, None] * lead_profile(result, n_leads)[None, :]
    for j, weights in result.lead_weights.items():
        grid[j] = weights
    return grid


def explain_flat(
    classifier: Classifier,
    x: np.ndarray,
    target: int,
    events: Sequence[Event],
    surrogate: Surrogate,
    rng: np.random.Generator,
    *,
    budget: int,
    lead_keep_prob: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """One game over every (event, lead) cell of one input (T, L) and class column ``target``.

    ``budget`` is the number of masks offered to the surrogate (occlusion and Shapley sampling
    set their own); ``lead_keep_prob`` (L,) applies to every event. Returns the (n_events, L)
    weight grid and the model evaluations it took.
    """
    if not events:
        raise ConfigurationError("no events to explain (empty segmentation)")
    n_events, n_leads = len(events), x.shape[1]
    keep_prob = None if lead_keep_prob is None else np.tile(lead_keep_prob, n_events)
    masks, weights = surrogate.sample(n_events * n_leads, budget, rng, keep_prob=keep_prob)
    outputs = masked_outputs(
        classifier, x, lambda m: mask_cells(x, events, m.reshape(len(m), n_events, n_leads)), masks, target,
        lambda m: changed_windows(events, m.reshape(len(m), n_events, n_leads)))
    grid = surrogate.fit(masks, outputs, weights).reshape(n_events, n_leads)
    return grid, len(masks)


def lead_keep_probabilities(lead_names: Sequence[str], prior: dict[str, float],
                            strength: float = 0.4) -> np.ndarray:
    """Mask keep-probabilities biased by a lead prior: 0.5 + strength * (prior - 0.5), in [0.1, 0.9]."""
    values = np.array([prior.get(name, 0.0) for name in lead_names], dtype=float)
    return np.clip(0.5 + strength * (values - 0.5), 0.1, 0.9)
