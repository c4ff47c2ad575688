"""Explain one record for one class with any registered method (see :mod:`ecgxai.explain.methods`).

:func:`explain_input` segments the model input into events, runs the method's ``attribute``
(the whole attribution map) and derives the original payload's spans from the map; the
:class:`~ecgxai.explain.payload.Explanation` carries both. Every method counts its model
evaluations and is seeded per record (the seed is derived from the run seed, the record's
name, the class and the method, never from execution order).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ecgxai import config
from ecgxai.classes import SCORED_CODES, class_name
from ecgxai.explain.attribution import Attribution
from ecgxai.explain.methods import Explainer, ExplainInput, check_settings, get_explainer
from ecgxai.explain.payload import Explanation
from ecgxai.explain.settings import ExplainParams, derive_seed, make_params
from ecgxai.explain.spans import spans_from_attribution
from ecgxai.io.preprocessing import ModelInput
from ecgxai.io.records import Record, read_record, signal_file_of
from ecgxai.models.base import Classifier
from ecgxai.models.inputs import classifier_input
from ecgxai.signal.events import make_event_segments


def _label(code: str) -> str:
    return class_name(code) if code in SCORED_CODES else code


def make_explainer(method: str, classifier: Classifier, settings: ExplainParams) -> Explainer:
    """The registered explainer ``method`` with ``settings`` (a ConfigurationError if unknown)."""
    return get_explainer(method)(classifier, check_settings(settings))


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
    record_fs: float | None = None,
    start_sec: float = 0.0,
    end_sec: float | None = None,
) -> Explanation:
    """Explain one model input (T, L) at rate ``fs`` for class code ``target`` with ``method``.

    ``record_fs``, ``start_sec`` and ``end_sec`` say which stretch of which record ``x`` is
    (default: the input itself from 0 s); spans and the map are in record seconds.
    """
    settings = make_params(params).for_class(str(target))
    explainer = make_explainer(method, classifier, settings)
    leads = tuple(lead_names or classifier.lead_names or config.STANDARD_LEADS[: x.shape[1]])
    index = classifier.class_index(target)
    signal = segmented_input(x, fs, settings, leads, record_fs, start_sec, end_sec)
    record_seed = derive_seed(seed, identity, str(target), method)
    before = classifier.counter.evaluations
    started = time.perf_counter()
    probability = float(classifier.predict(x[None])[0, index])
    attribution = explainer.attribute(signal, index, seed=record_seed)
    attribution.settings = {"method": method, **asdict(settings)}
    return explanation_from_map(
        attribution, settings, str(target), explainer.label, probability=probability,
        model_evaluations=int(classifier.counter.evaluations - before),
        seconds=time.perf_counter() - started, seed=record_seed)


def segmented_input(x: np.ndarray, fs: float, settings: ExplainParams, lead_names: Sequence[str],
                    record_fs: float | None = None, start_sec: float = 0.0, end_sec: float | None = None
                    ) -> ExplainInput:
    """``x`` (T, L) at ``fs`` with the events ``settings`` segment it into: what every method explains."""
    leads = tuple(lead_names)
    events = make_event_segments(x, fs, settings.segmentation(), leads)
    return ExplainInput(np.asarray(x, dtype=np.float32), float(fs), leads, tuple(events), record_fs,
                        start_sec, end_sec)


def explanation_from_map(attribution: Attribution, settings: ExplainParams, target: str, method_label: str,
                         **fields: Any) -> Explanation:
    """The payload of a whole map: the original's spans, lead scores and top leads derived from it
    (``settings``' ``keep_leads`` and ``topk_events``), in record seconds, with ``fields`` (cost, seed...)."""
    spans, scores, kept, event_spans = spans_from_attribution(attribution, settings.keep_leads,
                                                              settings.topk_events)
    return Explanation(
        mat_path="", target_label=_label(target), method_label=method_label,
        page_seconds=attribution.end_sec - attribution.start_sec, perlead_spans=spans, lead_scores=scores,
        top5_leads=kept[:5], target_code=target, event_spans=event_spans,
        params=dict(attribution.settings), meta={**attribution.meta, "n_events": len(attribution.segments)},
        attribution=attribution, start_sec=attribution.start_sec, end_sec=attribution.end_sec,
        fs=attribution.fs, model_fs=attribution.model_fs, **fields,
    )


def explain_model_input(classifier: Classifier, signal: ModelInput, target: str, method: str = "lime",
                        params: ExplainParams | Mapping[str, Any] | None = None, seed: int | None = None
                        ) -> Explanation:
    """Explain a stretch of a record as the classifier takes it (see ``models.inputs.classifier_input``)."""
    return explain_input(classifier, signal.x, str(target), fs=signal.fs, method=method, params=params,
                         seed=seed, lead_names=signal.lead_names, identity=signal.record,
                         record_fs=signal.record_fs, start_sec=signal.start_sec, end_sec=signal.end_sec)


def explain_record(
    classifier: Classifier,
    record: str | Path | Record,
    target: str,
    method: str = "lime",
    params: ExplainParams | Mapping[str, Any] | None = None,
    seed: int | None = None,
    *,
    start_sec: float = 0.0,
    **read_kwargs: Any,
) -> Explanation:
    """Read a record (or take a Record) and explain the stretch from ``start_sec`` that the model
    takes (resampled to the model's rate when it states one) for ``target``."""
    rec = record if isinstance(record, Record) else read_record(record, **read_kwargs)
    explanation = explain_model_input(classifier, classifier_input(classifier, rec, start_sec=start_sec),
                                      str(target), method, params, seed)
    return located(explanation, rec)


def located(explanation: Explanation, record: Record) -> Explanation:
    """``explanation`` naming ``record`` and its signal file (the evaluator reads the record from there)."""
    explanation.mat_path = "" if record.path is None else str(signal_file_of(record.path))
    explanation.record = record.name
    return explanation
