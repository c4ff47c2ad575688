"""Evaluation: tokens, plausibility, faithfulness, stability, sanity, the evaluator."""

from ecgxai.classes import EVALUATION_REGIONS as REGISTRY
from ecgxai.classes import EvaluationRegion as RegistryEntry
from ecgxai.classes import evaluation_region as registry_entry
from ecgxai.evaluate.compare import Comparison, compare_methods, comparison_table
from ecgxai.evaluate.evaluator import (
    METRIC_COLUMNS,
    evaluate_all_payloads,
    evaluate_payload,
    summarise_metrics,
)
from ecgxai.evaluate.external import evaluate_attribution
from ecgxai.evaluate.sanity import model_randomisation_check
from ecgxai.evaluate.stability import run_extra_beat_stability_experiment

__all__ = [
    "METRIC_COLUMNS",
    "REGISTRY",
    "Comparison",
    "RegistryEntry",
    "compare_methods",
    "comparison_table",
    "evaluate_all_payloads",
    "evaluate_attribution",
    "evaluate_payload",
    "model_randomisation_check",
    "registry_entry",
    "run_extra_beat_stability_experiment",
    "summarise_metrics",
]
