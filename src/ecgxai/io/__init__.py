"""Data in: records, their collections, class lists and model input."""

from ecgxai.io.classes import (
    SCORED_CLASSES,
    SCORED_CODES,
    TARGET_META,
    DiagnosisClass,
    load_class_names,
    make_target_meta,
    validate_target_meta,
)
from ecgxai.io.dataset import build_y_true_from_labels, find_records, import_key_data, index_records
from ecgxai.io.preprocessing import (
    ModelInput,
    load_mat_TF,
    model_input,
    model_input_windows,
    model_inputs,
    preprocess_for_model,
    record_windows,
    to_model_input,
)
from ecgxai.io.records import Record, read_record

__all__ = [
    "SCORED_CLASSES",
    "SCORED_CODES",
    "TARGET_META",
    "DiagnosisClass",
    "ModelInput",
    "Record",
    "build_y_true_from_labels",
    "find_records",
    "import_key_data",
    "index_records",
    "load_class_names",
    "load_mat_TF",
    "make_target_meta",
    "model_input",
    "model_input_windows",
    "model_inputs",
    "preprocess_for_model",
    "read_record",
    "record_windows",
    "to_model_input",
    "validate_target_meta",
]
