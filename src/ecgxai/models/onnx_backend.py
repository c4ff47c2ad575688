"""ONNX models through onnxruntime (optional extra ``ecgxai[onnx]``); not differentiable."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from ecgxai.errors import MissingDependencyError, ModelLoadError
from ecgxai.models.base import Classifier

InputLayout = Literal["NTL", "NLT"]


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError("ONNX models need onnxruntime: pip install 'ecgxai[onnx]'") from None
    return onnxruntime


class OnnxClassifier(Classifier):
    """An ``.onnx`` file run on the CPU by onnxruntime."""

    backend = "onnx"

    def __init__(self, session: Any, input_layout: InputLayout = "NTL", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.input_layout = input_layout
        self._input_name = session.get_inputs()[0].name
        self._output_name = session.get_outputs()[0].name

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if self.input_layout == "NLT":
            x = np.ascontiguousarray(x.transpose(0, 2, 1))
        return self.session.run([self._output_name], {self._input_name: x})[0]


def open_onnx_session(path: Path) -> Any:
    """An onnxruntime CPU session for ``path``, with a named error when it is not a valid model."""
    ort = _onnxruntime()
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot load ONNX model ({type(exc).__name__}: {exc})") from None


def onnx_static_shapes(session: Any, input_layout: InputLayout) -> tuple[Any, Any, Any]:
    """(T, L, C) declared by the session, ``None`` where a dimension is dynamic."""
    shape = session.get_inputs()[0].shape
    if len(shape) != 3:
        raise ModelLoadError(f"ONNX model input has rank {len(shape)}, expected 3")
    t, leads = (shape[1], shape[2]) if input_layout == "NTL" else (shape[2], shape[1])
    out_shape = session.get_outputs()[0].shape
    c = out_shape[-1] if out_shape else None
    return tuple(d if isinstance(d, int) else None for d in (t, leads, c))
