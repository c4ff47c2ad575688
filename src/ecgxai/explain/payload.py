"""Explanations as typed objects and as the original toolkit's payload dicts.

A payload (the original format, which plotting and evaluation read) is::

    {"mat_path": ..., "target_label": ..., "method_label": ..., "page_seconds": ...,
     "perlead_spans": {lead: [(start_sec, end_sec, weight), ...]},
     "lead_scores": {lead: score}, "top5_leads": [lead, ...], "meta": {...}}

:class:`Explanation` carries the same fields plus what a study needs to report
(target code, record, model probability, cost, seed, settings) and, for explanations made by
ecgxai, the whole attribution map (``attribution``: an
:class:`~ecgxai.explain.attribution.Attribution`, written into the payload JSON at its stated
precision) from which the spans are derived. It round-trips through JSON (the map to its
storage precision, the rest losslessly). Plain dicts are accepted wherever a payload is; a
payload without a map (the original toolkit's, or one written by hand) is read from its spans.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ecgxai.explain.attribution import Attribution

Span = tuple[float, float, float]


@dataclass
class Explanation:
    """One explanation of one record for one target class.

    Times (spans, the map) are record seconds. ``start_sec``/``end_sec`` give the stretch of the
    record the model saw (``page_seconds`` long), ``fs`` the record's sampling rate and ``model_fs``
    the model input's; a payload without them (the original toolkit's) means the stretch from 0 s.
    """

    mat_path: str
    target_label: str
    method_label: str
    page_seconds: float
    perlead_spans: dict[str, list[Span]]
    lead_scores: dict[str, float] = field(default_factory=dict)
    top5_leads: list[str] = field(default_factory=list)
    target_code: str | None = None
    record: str | None = None
    sel_idx: int | None = None
    probability: float | None = None
    event_spans: list[Span] = field(default_factory=list)
    model_evaluations: int = 0
    seconds: float = 0.0
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    attribution: Attribution | None = None
    start_sec: float = 0.0
    end_sec: float | None = None
    fs: float | None = None
    model_fs: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.attribution, Mapping):
            self.attribution = Attribution.from_json_dict(self.attribution)
        self.perlead_spans = normalise_spans(self.perlead_spans)
        self.event_spans = [_span(s) for s in self.event_spans]
        self.lead_scores = {str(k): float(v) for k, v in self.lead_scores.items()}
        self.top5_leads = [str(lead) for lead in self.top5_leads]

    @property
    def leads(self) -> list[str]:
        """Leads that carry at least one span."""
        return [lead for lead, spans in self.perlead_spans.items() if spans]

    def to_payload(self) -> dict[str, Any]:
        """The original payload dict (extra fields included, which old readers ignore); the map,
        when there is one, under ``attribution`` as JSON values."""
        payload = asdict(replace(self, attribution=None))
        del payload["attribution"]
        if self.attribution is not None:
            payload["attribution"] = self.attribution.to_json_dict()
        return payload

    def to_json(self) -> str:
        """JSON text; :meth:`from_json` gives back an equal Explanation."""
        return json.dumps(self.to_payload(), allow_nan=False)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any] | Explanation) -> Explanation:
        """Accept an Explanation, one of its dicts, or an original toolkit payload dict."""
        if isinstance(payload, Explanation):
            return payload
        if "perlead_spans" not in payload:
            raise ValueError(f"payload lacks 'perlead_spans'; has {sorted(payload)}")
        fields = {k: v for k, v in payload.items() if k in cls.__dataclass_fields__}
        fields.setdefault("mat_path", "")
        fields.setdefault("target_label", str(payload.get("target_code", "")))
        fields.setdefault("method_label", "")
        fields.setdefault("page_seconds", _page_seconds(fields["perlead_spans"]))
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> Explanation:
        """Parse :meth:`to_json` output (or any payload JSON)."""
        return cls.from_payload(json.loads(text))


def _span(span: Sequence[float]) -> Span:
    start, end, weight = span
    return (float(start), float(end), float(weight))


def normalise_spans(perlead_spans: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, list[Span]]:
    """Spans as ``{lead: [(start, end, weight), ...]}`` with float tuples sorted by start."""
    return {str(lead): sorted(_span(s) for s in spans) for lead, spans in perlead_spans.items()}


def _page_seconds(perlead_spans: Mapping[str, Sequence[Sequence[float]]]) -> float:
    ends = [float(s[1]) for spans in perlead_spans.values() for s in spans]
    return max(ends, default=0.0)


def lead_masses(perlead_spans: Mapping[str, Sequence[Span]]) -> dict[str, float]:
    """Per lead, the sum over spans of duration x |weight|."""
    return {lead: float(sum((e - s) * abs(w) for s, e, w in spans))
            for lead, spans in perlead_spans.items()}


def top_leads(scores: Mapping[str, float], k: int = 5) -> list[str]:
    """The ``k`` leads with the largest score (ties broken by lead name for determinism)."""
    ranked = sorted(((-v, lead) for lead, v in scores.items() if math.isfinite(v) and v > 0))
    return [lead for _, lead in ranked[:k]]

