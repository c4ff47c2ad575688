"""A classifier's model input: stretches of a record in the classifier's length, units, leads and rate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ecgxai.errors import ConfigurationError
from ecgxai.io.preprocessing import ModelInput, model_input, model_input_windows
from ecgxai.io.records import Record, Units
from ecgxai.models.base import Classifier


def input_settings(classifier: Classifier, *, maxlen: int | None = None, units: Units | None = None
                   ) -> dict[str, Any]:
    """``classifier``'s length, units, lead order and rate as :func:`ecgxai.io.preprocessing.model_input`
    takes them (``maxlen`` and ``units`` override its own)."""
    return {"maxlen": maxlen or classifier.input_length, "units": units or classifier.units,
            "lead_names": classifier.lead_names, "fs": classifier.fs}


def classifier_input(classifier: Classifier, record: Record, *, start_sec: float = 0.0) -> ModelInput:
    """The stretch of ``record`` from ``start_sec`` (record seconds) as ``classifier`` takes it."""
    return model_input(record, start_sec=start_sec, **input_settings(classifier))


@dataclass(frozen=True)
class Stretches:
    """Which stretches of each record a run feeds the model: one from ``start`` (record seconds), or,
    with ``windows``, consecutive ones ``stride`` seconds apart (default: the model's length)."""

    start: float = 0.0
    windows: bool = False
    stride: float | None = None

    @classmethod
    def choose(cls, start: float | None, windows: bool, stride: float | None) -> Stretches:
        """The plan of ``predict_records(start=..., windows=..., window_stride=...)``, checked."""
        if start is not None and windows:
            raise ConfigurationError("give a start or windows, not both")
        if stride is not None and not windows:
            raise ConfigurationError("a window stride needs windows")
        if stride is not None and not (math.isfinite(stride) and stride > 0):
            raise ConfigurationError(f"window stride must be a positive number of seconds, got {stride!r}")
        return cls(start=0.0 if start is None else float(start), windows=windows, stride=stride)

    def inputs(self, classifier: Classifier, record: Record, *, maxlen: int | None = None,
               units: Units | None = None) -> list[ModelInput]:
        """The stretches of ``record`` this plan takes, as ``classifier`` takes them."""
        settings = input_settings(classifier, maxlen=maxlen, units=units)
        if self.windows:
            return model_input_windows(record, stride_sec=self.stride, **settings)
        return [model_input(record, start_sec=self.start, **settings)]

    def describe(self) -> dict[str, Any]:
        """The plan for a run manifest."""
        if self.windows:
            return {"windows": True, "window_stride": self.stride}
        return {"start": self.start}
