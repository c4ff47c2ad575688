"""Explanation: explainers (one class per method), attribution maps, fusion, payloads, pipelines."""

from ecgxai.classes import (
    BASE_WINDOW_SEC,
    FUSION_WEIGHTS_BY_SNOMED,
    LEAD_PRIOR_BY_SNOMED,
    WINDOW_SEC_BY_SNOMED,
)
from ecgxai.explain.attribution import Attribution
from ecgxai.explain.explainers import explain_input, explain_record
from ecgxai.explain.fusion import fuse_lime_timeshap_payload
from ecgxai.explain.methods import EXPLAINERS, METHODS, Explainer, ExplainInput, get_explainer
from ecgxai.explain.payload import Explanation
from ecgxai.explain.pipeline import (
    payload_from_lime_row,
    payload_from_timeshap_row,
    run_fused_pipeline_for_class,
    run_fused_pipeline_for_classes,
    run_pipeline_for_class,
    run_pipeline_for_classes,
)
from ecgxai.explain.settings import ExplainParams
from ecgxai.signal.events import make_event_segments

__all__ = [
    "BASE_WINDOW_SEC",
    "EXPLAINERS",
    "FUSION_WEIGHTS_BY_SNOMED",
    "LEAD_PRIOR_BY_SNOMED",
    "METHODS",
    "WINDOW_SEC_BY_SNOMED",
    "Attribution",
    "ExplainInput",
    "ExplainParams",
    "Explainer",
    "Explanation",
    "explain_input",
    "explain_record",
    "fuse_lime_timeshap_payload",
    "get_explainer",
    "make_event_segments",
    "payload_from_lime_row",
    "payload_from_timeshap_row",
    "run_fused_pipeline_for_class",
    "run_fused_pipeline_for_classes",
    "run_pipeline_for_class",
    "run_pipeline_for_classes",
]
