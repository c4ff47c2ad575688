"""The two-level perturbation engine shared by LIME and TimeSHAP-style KernelSHAP.

Level 1 (events): players are time windows; a masked event is zeroed in all leads.
Level 2 (leads): inside each of the top-k events by |weight|, players are the leads;
a masked lead is zeroed inside that window, and the rest of the signal is kept
(``context``) or zeroed (``isolated``). Masked inputs are built with one vectorised
multiply per batch, and all model calls go through the classifier's batched predict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.explain.surrogates import Surrogate
from ecgxai.models.base import Classifier

LeadMode = Literal["context", "isolated"]
Event = tuple[int, int]


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
    index = event_time_index(events, len(x))
    padded = np.concatenate([masks, np.ones((len(masks), 1), dtype=bool)], axis=1)
    keep_time = padded[:, index]  # index -1 picks the always-on column
    return x[None, :, :] * keep_time[:, :, None].astype(x.dtype)


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
    outputs = classifier.predict(mask_events(x, events, masks))[:, target]
    event_weights = surrogate.fit(masks, outputs, weights)
    evaluations = len(masks)
    order = np.argsort(-np.abs(event_weights), kind="stable")[: max(0, topk_events)]
    lead_weights: dict[int, np.ndarray] = {}
    for j in order:
        lead_masks, lead_w = surrogate.sample(x.shape[1], m_feat, rng, keep_prob=lead_keep_prob)
        batch = mask_leads_in_window(x, events[j], lead_masks, lead_mode)
        lead_weights[int(j)] = surrogate.fit(lead_masks, classifier.predict(batch)[:, target], lead_w)
        evaluations += len(lead_masks)
    return TwoLevelResult(event_weights, [int(j) for j in order], lead_weights, evaluations)


def lead_keep_probabilities(lead_names: Sequence[str], prior: dict[str, float],
                            strength: float = 0.4) -> np.ndarray:
    """Mask keep-probabilities biased by a lead prior: 0.5 + strength * (prior - 0.5), in [0.1, 0.9]."""
    values = np.array([prior.get(name, 0.0) for name in lead_names], dtype=float)
    return np.clip(0.5 + strength * (values - 0.5), 0.1, 0.9)
