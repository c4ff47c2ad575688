"""Model adapters: every backend behind one batched, counted Classifier interface."""

from ecgxai.models.base import CallableClassifier, Classifier
from ecgxai.models.incremental import IncrementalForward
from ecgxai.models.inputs import Stretches, classifier_input
from ecgxai.models.loader import load_model
from ecgxai.models.predict import Predictions, batched_predict_all, predict_records
from ecgxai.models.zoo import ARCHITECTURES, Architecture

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "CallableClassifier",
    "Classifier",
    "IncrementalForward",
    "Predictions",
    "Stretches",
    "batched_predict_all",
    "classifier_input",
    "load_model",
    "predict_records",
]
