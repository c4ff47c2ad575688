"""An explanation read as relevance over leads and time, the one way every metric reads it.

:func:`relevance_of` gives the whole attribution map when the explanation has one and its
spans otherwise (the original toolkit's payloads, or ones written by hand). Both answer the
same questions:

* :meth:`dense`: a signed (T, L) value per model-input sample and lead;
* :meth:`window_mass`: per window ``[start, end)`` (record seconds) of one lead, the
  |relevance| inside it: for spans the sum over spans of overlap duration x |weight| (the
  original toolkit's token score, kept exactly), for a map the sum of |value| over the window's
  samples.

Spans become dense values span by span: each span's weight on every sample it covers
(:func:`span_relevance`); a map gives its own per-sample values
(:meth:`~ecgxai.explain.attribution.Attribution.to_samples`), leads in the order asked for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from ecgxai.explain.attribution import Attribution, cell_edges
from ecgxai.explain.payload import Explanation, Span

#: Length (s) of the lead x time cells the metrics rank, delete and compare explanations on.
CELL_SEC = 0.1


def interval_samples(start_sec: float, end_sec: float, fs: float, length: int,
                     offset_sec: float = 0.0) -> tuple[int, int]:
    """Sample range ``round((start - offset) * fs)`` to ``round((end - offset) * fs)`` (end exclusive),
    clipped to [0, length]."""
    start = min(max(round((float(start_sec) - offset_sec) * fs), 0), length)
    end = min(max(round((float(end_sec) - offset_sec) * fs), 0), length)
    return start, max(start, end)


def span_mass(spans: Sequence[Sequence[float]], starts: Sequence[float] | np.ndarray,
              ends: Sequence[float] | np.ndarray, *, signed: bool = False) -> np.ndarray:
    """Per window ``[starts[i], ends[i])``: the sum over spans of overlap duration x |weight|
    (x weight when ``signed``)."""
    starts = np.asarray(starts, dtype=float).ravel()
    ends = np.asarray(ends, dtype=float).ravel()
    table = np.asarray(spans, dtype=float).reshape(-1, 3)
    if not len(table):
        return np.zeros(len(starts))
    overlap = np.minimum(table[None, :, 1], ends[:, None]) - np.maximum(table[None, :, 0], starts[:, None])
    weights = table[:, 2] if signed else np.abs(table[:, 2])
    return np.clip(overlap, 0.0, None) @ weights


def span_relevance(perlead_spans: Mapping[str, Sequence[Sequence[float]]], lead_names: Sequence[str],
                   n_samples: int, fs: float, *, absolute: bool = False, offset_sec: float = 0.0
                   ) -> np.ndarray:
    """(T, L) dense relevance: per lead and sample, the summed weight of the spans covering it.

    Span edges (record seconds, the input starting at ``offset_sec``) become samples as in
    :func:`interval_samples`; weights are signed unless ``absolute``. Spans on leads not in
    ``lead_names`` are ignored. Built span by span, so equal spans give exactly equal values.
    """
    dense = np.zeros((int(n_samples), len(lead_names)))
    for column, lead in enumerate(lead_names):
        for start, end, weight in perlead_spans.get(str(lead), []):
            first, last = interval_samples(start, end, fs, int(n_samples), offset_sec)
            dense[first:last, column] += abs(weight) if absolute else weight
    return dense


@dataclass(frozen=True)
class SpanRelevance:
    """An explanation known by its spans only."""

    perlead_spans: Mapping[str, Sequence[Span]]
    lead_names: tuple[str, ...]
    n_samples: int
    fs: float
    start_sec: float = 0.0
    resolution: str = "spans"

    def dense(self, absolute: bool = False) -> np.ndarray:
        """(T, L) relevance: each span's weight (|weight| if ``absolute``) on the samples it covers."""
        return span_relevance(self.perlead_spans, self.lead_names, self.n_samples, self.fs,
                              absolute=absolute, offset_sec=self.start_sec)

    def window_mass(self, lead: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Overlap duration x |weight| of the lead's spans inside each window."""
        return span_mass(self.perlead_spans.get(str(lead), []), starts, ends)


@dataclass(frozen=True)
class MapRelevance:
    """An explanation with its whole attribution map."""

    attribution: Attribution
    lead_names: tuple[str, ...]
    n_samples: int
    fs: float
    start_sec: float = 0.0

    @property
    def resolution(self) -> str:
        """The map's resolution (``sample`` or ``segment``)."""
        return self.attribution.resolution

    @cached_property
    def _dense(self) -> np.ndarray:
        return _columns(self.attribution.to_samples(), self.attribution.lead_names, self.lead_names,
                        self.n_samples)

    @cached_property
    def _mass_so_far(self) -> np.ndarray:
        """(T + 1, L) running sums of |value| per lead, from the input's start."""
        return np.concatenate([np.zeros((1, len(self.lead_names))), np.cumsum(np.abs(self._dense), axis=0)])

    def dense(self, absolute: bool = False) -> np.ndarray:
        """(T, L) per-sample values of the map (|values| if ``absolute``), columns in ``lead_names``
        order (0 for a lead it lacks)."""
        return np.abs(self._dense) if absolute else self._dense.copy()

    def window_mass(self, lead: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Sum of |value| over each window's samples on one lead (0 for a lead not in ``lead_names``)."""
        starts, ends = np.atleast_1d(starts), np.atleast_1d(ends)
        if str(lead) not in self.lead_names:
            return np.zeros(len(starts))
        running = self._mass_so_far[:, self.lead_names.index(str(lead))]
        bounds = [interval_samples(s, e, self.fs, self.n_samples, self.start_sec)
                  for s, e in zip(starts, ends, strict=True)]
        return np.array([running[b] - running[a] for a, b in bounds], dtype=float)


Relevance = SpanRelevance | MapRelevance


def relevance_of(explanation: Explanation, lead_names: Sequence[str], n_samples: int | None = None,
                 fs: float | None = None) -> Relevance:
    """The explanation's map when it has one, else its spans, over ``n_samples`` input samples at
    ``fs`` from the explanation's start (both default to the map's own; spans need them for ``dense``)."""
    leads = tuple(str(lead) for lead in lead_names)
    attribution, start = explanation.attribution, float(explanation.start_sec or 0.0)
    if attribution is not None:
        return MapRelevance(attribution, leads, int(n_samples or attribution.n_samples),
                            float(fs or attribution.model_fs), start)
    return SpanRelevance(explanation.perlead_spans, leads, int(n_samples or 0), float(fs or 1.0), start)


def _columns(values: np.ndarray, have: Sequence[str], want: Sequence[str], n_samples: int) -> np.ndarray:
    """``values`` (T', L') with columns from ``have`` reordered to ``want``, rows cut or padded to T."""
    out = np.zeros((n_samples, len(want)))
    rows = min(n_samples, len(values))
    for column, lead in enumerate(want):
        if lead in have:
            out[:rows, column] = values[:rows, list(have).index(lead)]
    return out


def random_spans(lead_names: Sequence[str], duration_sec: float, cell_sec: float,
                 rng: np.random.Generator) -> dict[str, list[Span]]:
    """perlead_spans with one span per ``cell_sec`` cell and a standard-normal signed weight."""
    edges = cell_edges(float(duration_sec), cell_sec)
    weights = rng.standard_normal((len(lead_names), len(edges)))
    return {str(lead): [(float(s), float(e), float(w)) for (s, e), w in zip(edges, weights[i], strict=True)]
            for i, lead in enumerate(lead_names)}


def random_like(relevance: Relevance, rng: np.random.Generator, duration_sec: float,
                cell_sec: float = CELL_SEC) -> Relevance:
    """A random map of the same resolution as ``relevance``, the chance level it is read against: a
    standard-normal value per sample or segment and lead of its map, or, for spans, per lead x
    ``cell_sec`` cell over the shown ``duration_sec``."""
    if isinstance(relevance, MapRelevance):
        attribution = relevance.attribution
        noise = rng.standard_normal(attribution.values.shape)
        return replace(relevance, attribution=attribution.with_values(noise, segment_weights=None,
                                                                       method="random", meta={}))
    spans = random_spans(relevance.lead_names, duration_sec, cell_sec, rng)
    return replace(relevance, perlead_spans=spans)


def resolution_key(relevance: Relevance) -> str:
    """What a random map of the same resolution depends on: sample level, the segments, or spans."""
    if isinstance(relevance, MapRelevance):
        attribution = relevance.attribution
        if attribution.resolution == "sample":
            return "sample"
        digest = hashlib.sha256(attribution.segments.tobytes()).hexdigest()[:16]
        return f"segments:{digest}"
    return "spans"
