"""Turn attributions into the payload's per-lead spans and lead rankings (the original format).

Spans are what the original toolkit kept of an explanation: the top events by |weight|, on the
top leads by span mass. :func:`spans_from_attribution` derives them from a whole map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ecgxai.explain.attribution import Attribution
from ecgxai.explain.payload import Span

Event = tuple[int, int]


def event_span(event: Event, fs: float, weight: float, start_sec: float = 0.0) -> Span:
    """(start_sec, end_sec, weight) of an event in samples at ``fs``, on a time axis from ``start_sec``."""
    return (start_sec + event[0] / fs, start_sec + event[1] / fs, float(weight))


def dense_to_event_lead(attribution: np.ndarray, events: Sequence[Event]) -> np.ndarray:
    """Sum a dense (T, L) attribution inside each event: (n_events, L)."""
    return np.stack([attribution[start:end].sum(axis=0) for start, end in events])


def lead_ranking(weights: Mapping[str, Sequence[Span]]) -> dict[str, float]:
    """Lead score = sum of |weight| of its spans (the original's ranking)."""
    return {lead: float(sum(abs(w) for _, _, w in spans)) for lead, spans in weights.items()}


def spans_from_grid(
    grid: np.ndarray, events: Sequence[Event], fs: float, lead_names: Sequence[str],
    keep_leads: int | None = 5, event_subset: Sequence[int] | None = None, start_sec: float = 0.0,
) -> tuple[dict[str, list[Span]], dict[str, float], list[str]]:
    """Per-lead spans, lead scores and top leads from an (n_events, L) weight grid.

    Only events in ``event_subset`` (all when None) give spans; only the ``keep_leads``
    leads with the largest sum of |weight| keep them (all when None). Lead scores are
    reported for every lead.
    """
    rows = range(len(events)) if event_subset is None else event_subset
    spans = {lead: [event_span(events[j], fs, grid[j, i], start_sec) for j in rows]
             for i, lead in enumerate(lead_names)}
    scores = lead_ranking(spans)
    ranked = sorted(lead_names, key=lambda lead: (-scores[lead], list(lead_names).index(lead)))
    kept = ranked if keep_leads is None else ranked[:keep_leads]
    return {lead: sorted(spans[lead]) for lead in kept}, scores, kept


def spans_from_dense(
    attribution: np.ndarray, events: Sequence[Event], fs: float, lead_names: Sequence[str],
    keep_leads: int | None = 5, topk_events: int | None = None,
) -> tuple[dict[str, list[Span]], dict[str, float], list[str], list[Span]]:
    """Spans for any dense (T, L) attribution on any segmentation.

    Event weights are the attribution summed over the event and all leads; with
    ``topk_events`` only the events with the largest |weight| give spans, as the
    perturbation explainers do. Returns (spans, lead scores, top leads, event spans).
    """
    grid = dense_to_event_lead(attribution, events)
    return spans_from_event_grid(grid, grid.sum(axis=1), events, fs, lead_names, keep_leads, topk_events)


def spans_from_event_grid(
    grid: np.ndarray, event_weights: np.ndarray, events: Sequence[Event], fs: float,
    lead_names: Sequence[str], keep_leads: int | None = 5, topk_events: int | None = None,
    start_sec: float = 0.0,
) -> tuple[dict[str, list[Span]], dict[str, float], list[str], list[Span]]:
    """Spans for a full (n_events, L) weight grid with one weight per event: with ``topk_events``
    only the events with the largest |event weight| give spans (all when None).
    Returns (spans, lead scores, top leads, event spans).
    """
    subset = None
    if topk_events is not None:
        subset = np.argsort(-np.abs(event_weights), kind="stable")[:topk_events].tolist()
    spans, scores, kept = spans_from_grid(grid, events, fs, lead_names, keep_leads, subset, start_sec)
    events_out = [event_span(e, fs, w, start_sec) for e, w in zip(events, event_weights, strict=True)]
    return spans, scores, kept, events_out


def spans_from_attribution(
    attribution: Attribution, keep_leads: int | None = 5, topk_events: int | None = 5,
) -> tuple[dict[str, list[Span]], dict[str, float], list[str], list[Span]]:
    """The original payload's spans, lead scores, top leads and event spans of a whole map: its
    segments summed per lead, the top ``topk_events`` segments by the method's event weight
    (:meth:`Attribution.event_weights`), on the top ``keep_leads`` leads, in record seconds."""
    return spans_from_event_grid(attribution.segment_values(), attribution.event_weights(),
                                 [tuple(e) for e in attribution.segments.tolist()], attribution.model_fs,
                                 attribution.lead_names, keep_leads, topk_events, attribution.start_sec)
