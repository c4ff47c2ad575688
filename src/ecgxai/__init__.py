"""ecgxai: explain 12-lead ECG classifiers.

The public API keeps the original ECG-XAI toolkit's names (``preprocess_for_model``,
``batched_predict_all``, ``build_selection_df_with_aliases``, ``TARGET_META``, ...)
on top of typed records and one classifier interface for every model backend.
TensorFlow is imported only when a Keras model is loaded; the explanation, evaluation
and plotting names below are imported on first use (they pull in neurokit2, ecg_plot).
"""

import importlib
from typing import Any

from ecgxai import errors
from ecgxai.classes import SCORED_CLASSES, SCORED_CODES, TARGET_META, make_target_meta, validate_target_meta
from ecgxai.config import MAXLEN, RANDOM_SEED
from ecgxai.io import (
    Record,
    build_y_true_from_labels,
    find_records,
    import_key_data,
    index_records,
    load_class_names,
    load_mat_TF,
    preprocess_for_model,
    read_record,
    to_model_input,
)
from ecgxai.models import (
    ARCHITECTURES,
    Classifier,
    Predictions,
    batched_predict_all,
    load_model,
    predict_records,
)
from ecgxai.selection import build_selection_df_with_aliases

__version__ = "0.1.0"

#: Original toolkit names that live in the explain and evaluate layers, loaded on first access.
_LAZY = {
    "run_pipeline_for_class": "ecgxai.explain", "run_pipeline_for_classes": "ecgxai.explain",
    "run_fused_pipeline_for_class": "ecgxai.explain", "run_fused_pipeline_for_classes": "ecgxai.explain",
    "fuse_lime_timeshap_payload": "ecgxai.explain", "make_event_segments": "ecgxai.explain",
    "payload_from_lime_row": "ecgxai.explain", "payload_from_timeshap_row": "ecgxai.explain",
    "Explanation": "ecgxai.explain", "evaluate_all_payloads": "ecgxai.evaluate",
    "evaluate_attribution": "ecgxai.evaluate",
    "plot_from_payload": "ecgxai.report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ecgxai' has no attribute {name!r}")

__all__ = [
    "ARCHITECTURES",
    "MAXLEN",
    "RANDOM_SEED",
    "SCORED_CLASSES",
    "SCORED_CODES",
    "TARGET_META",
    "Classifier",
    "Predictions",
    "Record",
    "batched_predict_all",
    "build_selection_df_with_aliases",
    "build_y_true_from_labels",
    "errors",
    "find_records",
    "import_key_data",
    "index_records",
    "load_class_names",
    "load_mat_TF",
    "load_model",
    "make_target_meta",
    "predict_records",
    "preprocess_for_model",
    "read_record",
    "to_model_input",
    "validate_target_meta",
    *_LAZY,
]
