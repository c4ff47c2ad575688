"""Data in: records, their collections, class lists from files and model input."""

from ecgxai.io.class_lists import load_class_names
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
    "ModelInput",
    "Record",
    "build_y_true_from_labels",
    "find_records",
    "import_key_data",
    "index_records",
    "load_class_names",
    "load_mat_TF",
    "model_input",
    "model_input_windows",
    "model_inputs",
    "preprocess_for_model",
    "read_record",
    "record_windows",
    "to_model_input",
]
