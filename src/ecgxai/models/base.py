"""The one classifier interface every backend is wrapped into.

A :class:`Classifier` maps a batch (N, T, L) float32 to probabilities (N, C)
float32, knows its class codes, input length, lead order and input units, batches
internally, and counts how many samples it has evaluated so explanation costs
can be reported in forward-pass equivalents. :meth:`Classifier.predict_local` evaluates
inputs that differ from one base input inside known time windows, through the incremental
engine (:mod:`ecgxai.models.incremental`) when the model fits it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy.special import expit, softmax

from ecgxai.errors import (
    ConfigurationError,
    InputShapeError,
    ModelOutputError,
    NotDifferentiableError,
    NotIncrementalError,
    UnknownClassError,
)
from ecgxai.io.records import Units, check_fs, check_units
from ecgxai.models.batching import even_batches

if TYPE_CHECKING:
    from ecgxai.models.incremental import IncrementalForward, SplitModel

OutputActivation = Literal["sigmoid", "softmax"] | None
Score = Literal["logit", "probability"]
DEFAULT_BATCH_SIZE = 16
_PROBABILITY_TOLERANCE = 1e-4


@dataclass
class CallCounter:
    """How much model work has been done: samples evaluated, batches sent, seconds inside the model.

    ``forward_samples`` counts model inputs evaluated (one per input, however it was computed), so
    :attr:`evaluations` means the same with or without the incremental engine. ``forward_fraction``
    counts the share of full forward passes actually computed: +1 per input of a full pass; through
    the incremental engine, +crop length / T per input run on a crop (+1 for one it runs whole) and
    +1 per base input whose feature map was not cached yet. Without the engine it equals
    ``forward_samples``.
    """

    forward_samples: int = 0
    forward_batches: int = 0
    gradient_samples: int = 0
    model_seconds: float = 0.0
    forward_fraction: float = 0.0

    @property
    def evaluations(self) -> int:
        """Model inputs evaluated so far, forward passes and gradients together."""
        return self.forward_samples + self.gradient_samples

    def reset(self) -> None:
        """Set every count back to zero."""
        self.forward_samples = self.forward_batches = self.gradient_samples = 0
        self.model_seconds = self.forward_fraction = 0.0


class Classifier:
    """A probabilistic ECG classifier behind a uniform, batched ``predict``.

    Subclasses implement :meth:`_forward` (raw model output for one batch) and,
    when differentiable, :meth:`_score_gradient`. ``output_activation`` is applied
    to the raw output when the model emits logits; ``None`` means it already
    emits probabilities.
    """

    backend = "callable"
    differentiable = False

    def __init__(
        self,
        *,
        class_names: Sequence[str],
        input_length: int,
        n_leads: int,
        units: Units,
        lead_names: Sequence[str] | None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        output_activation: OutputActivation = None,
        source: str = "",
        fs: float | None = None,
    ) -> None:
        check_units(units)
        if output_activation not in (None, "sigmoid", "softmax"):
            raise ConfigurationError(f"output_activation must be None, 'sigmoid' or 'softmax', "
                                     f"got {output_activation!r}")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}")
        if lead_names is not None and len(lead_names) != n_leads:
            raise ConfigurationError(f"{len(lead_names)} lead names for a {n_leads}-lead model")
        self.class_names = tuple(str(c) for c in class_names)
        self.input_length = int(input_length)
        self.n_leads = int(n_leads)
        self.units: Units = units
        self.lead_names = None if lead_names is None else tuple(lead_names)
        self.batch_size = int(batch_size)
        self.output_activation = output_activation
        self.source = source or type(self).__name__
        self.fs = None if fs is None else check_fs(fs)  # input sampling rate in Hz; None = unknown
        self.counter = CallCounter()
        self.spec: Any = None  # a models.loader.ModelSpec when loaded from a file (parallel runs need one)
        self.randomised_layers: tuple[str, ...] = ()  # set on the copies :meth:`randomised` makes
        self._engine: IncrementalForward | Literal[False] | None = False  # False: not built yet
        #: False makes :meth:`predict_local` run the full forward pass (to measure what the engine saves).
        self.use_incremental = True

    # --- public API ---------------------------------------------------------------------------

    @property
    def n_classes(self) -> int:
        """Number of output classes."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int]:
        """Expected shape of one input, (T, L)."""
        return (self.input_length, self.n_leads)

    def predict(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Probabilities (N, C) float32 for a batch (N, T, L), or (1, C) for one (T, L) input."""
        x = self.check_input(x)
        out = np.empty((len(x), self.n_classes), dtype=np.float32)
        for start, stop in even_batches(len(x), batch_size or self.batch_size):
            started = time.perf_counter()
            raw = self._forward(x[start:stop])
            self.counter.model_seconds += time.perf_counter() - started
            out[start:stop] = self._probabilities(raw, stop - start)
            self.counter.forward_batches += 1
        self.counter.forward_samples += len(x)
        self.counter.forward_fraction += len(x)
        return out

    __call__ = predict

    def incremental(self) -> IncrementalForward | None:
        """The incremental engine for inputs that differ from a base only inside a time window, built
        and self-checked on first use; None (the reason logged once) when the model does not fit."""
        if self._engine is False:
            from ecgxai.models.incremental import build_engine

            self._engine = build_engine(self)
        return self._engine

    def predict_local(self, base: np.ndarray, batch: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """Probabilities (M, C) float32 of ``batch`` (M, T, L), where ``batch[m]`` equals ``base`` (T, L)
        outside ``windows[m]`` = (start, end) samples: through the incremental engine when the model
        has one (same results within 1e-5), else :meth:`predict`. Counted either way."""
        engine = self.incremental() if self.use_incremental else None
        if engine is not None:
            return engine.predict(base, batch, windows)
        from ecgxai.models.incremental import check_local

        _, batch, _ = check_local(self, base, batch, windows)
        return self.predict(batch)

    def class_index(self, code: str | int) -> int:
        """Column of a class code (or pass-through of an integer column index)."""
        if isinstance(code, (int, np.integer)) and not isinstance(code, bool):
            if not 0 <= code < self.n_classes:
                raise ConfigurationError(f"class index {code} out of range 0..{self.n_classes - 1}")
            return int(code)
        try:
            return self.class_names.index(str(code))
        except ValueError:
            raise UnknownClassError(f"{self.source}: class {code!r} is not among the model's "
                                    f"{self.n_classes} classes") from None

    def gradient(
        self,
        x: np.ndarray,
        target: str | int,
        score: Score = "logit",
        batch_size: int | None = None,
    ) -> np.ndarray:
        """d score / d input, (N, T, L) float32, for class ``target`` (code or column index).

        ``score="logit"`` differentiates the pre-activation output (recommended:
        it does not saturate); ``"probability"`` the probability itself.
        """
        self._require_gradients()
        if score not in ("logit", "probability"):
            raise ConfigurationError(f"score must be 'logit' or 'probability', got {score!r}")
        x = self.check_input(x)
        index = self.class_index(target)
        grads = np.empty(x.shape, dtype=np.float32)
        for start, stop in even_batches(len(x), batch_size or self.batch_size):
            started = time.perf_counter()
            grads[start:stop] = self._score_gradient(x[start:stop], index, score)
            self.counter.model_seconds += time.perf_counter() - started
        self.counter.gradient_samples += len(x)
        return grads

    def conv_layer(self, layer: str | None = None) -> str:
        """Name of the layer Grad-CAM reads: ``layer`` when given (checked to exist and give a
        (N, T', C) output), else the model's last 1-D convolution."""
        self._require_gradients()
        return self._resolve_conv_layer(layer)

    def conv_activation_gradient(
        self,
        x: np.ndarray,
        target: str | int,
        layer: str | None = None,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Activations of a 1-D convolution layer and d logit / d activations, both (N, T', C).

        The layer is :meth:`conv_layer` of ``layer``; channels come last whatever the backend's
        layout. This is what Grad-CAM needs; it costs one gradient evaluation per sample and is
        counted as such. Backends without gradients raise :class:`NotDifferentiableError`;
        differentiable backends that cannot expose a layer raise :class:`ConfigurationError`.
        """
        name = self.conv_layer(layer)
        x = self.check_input(x)
        index = self.class_index(target)
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        for start, stop in even_batches(len(x), batch_size or self.batch_size):
            started = time.perf_counter()
            parts.append(self._activation_gradient(x[start:stop], index, name))
            self.counter.model_seconds += time.perf_counter() - started
        self.counter.gradient_samples += len(x)
        activations = np.concatenate([a for a, _ in parts]).astype(np.float32, copy=False)
        gradients = np.concatenate([g for _, g in parts]).astype(np.float32, copy=False)
        return activations, gradients

    def weighted_layers(self) -> list[str]:
        """Names of the layers with trainable weights, from the output backwards (what
        :meth:`randomised` re-initialises, for the model-randomisation sanity check)."""
        if not self.differentiable:
            raise NotDifferentiableError(f"{self.source}: the {self.backend} backend has no "
                                         "parameters to randomise; use a Keras model")
        return self._weighted_layers()

    def randomised(self, layer_seeds: Mapping[str, int]) -> Classifier:
        """A copy whose named layers (:meth:`weighted_layers`) have re-initialised trainable weights.

        Each weight gets zero-mean normal values with its own standard deviation (Glorot-normal for a
        constant kernel; a constant vector such as an all-zero bias is kept), drawn from a generator
        seeded by its layer's seed; non-trainable state (batch-normalisation statistics) is kept.
        The copy has the same classes and input convention, ``randomised_layers`` naming the layers;
        this classifier is untouched. Backends without weights raise :class:`NotDifferentiableError`;
        differentiable ones that do not implement it (torch, for now) ``NotImplementedError``.
        """
        unknown = sorted(set(layer_seeds) - set(self.weighted_layers()))
        if unknown:
            raise ConfigurationError(f"{self.source}: no layers with weights named {unknown}")
        return self._randomised(dict(layer_seeds))

    def describe(self) -> dict[str, Any]:
        """Settings worth recording in a run manifest."""
        return {
            "backend": self.backend,
            "source": self.source,
            "n_classes": self.n_classes,
            "class_names": list(self.class_names),
            "input_length": self.input_length,
            "n_leads": self.n_leads,
            "lead_names": None if self.lead_names is None else list(self.lead_names),
            "units": self.units,
            "output_activation": self.output_activation,
            "fs": self.fs,
        }

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(source={self.source!r}, classes={self.n_classes}, "
                f"input={self.input_shape}, units={self.units!r})")

    # --- checks -------------------------------------------------------------------------------

    def _require_gradients(self) -> None:
        """Refuse gradient work on a backend that cannot differentiate its model."""
        if not self.differentiable:
            raise NotDifferentiableError(f"{self.source}: the {self.backend} backend provides no "
                                         "gradients; use a Keras or torch model")

    def check_input(self, x: np.ndarray) -> np.ndarray:
        """Return ``x`` as C-contiguous float32 (N, T, L), refusing wrong shapes and non-finite values."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != self.input_shape:
            raise InputShapeError(f"{self.source}: input has shape {x.shape}, "
                                  f"model expects (N, {self.input_length}, {self.n_leads})")
        if len(x) == 0:
            raise InputShapeError(f"{self.source}: input batch is empty")
        if not np.all(np.isfinite(x)):
            raise InputShapeError(f"{self.source}: input holds NaN or infinite values")
        return np.ascontiguousarray(x)

    def check_output_width(self) -> None:
        """Run one zero input through the model and check it returns one column per class."""
        probe = np.zeros((1, *self.input_shape), dtype=np.float32)
        self._probabilities(self._forward(probe), 1)

    def _probabilities(self, raw: Any, n: int) -> np.ndarray:
        """Apply the output activation and check the result is an (n, C) probability table."""
        out = np.asarray(raw, dtype=np.float32)
        if out.ndim != 2 or out.shape != (n, self.n_classes):
            raise ModelOutputError(f"{self.source}: model output has shape {out.shape}, expected "
                                   f"({n}, {self.n_classes}) for {self.n_classes} class names")
        if self.output_activation is not None:
            out = apply_activation(out, self.output_activation)
        if not np.all(np.isfinite(out)):
            raise ModelOutputError(f"{self.source}: model output holds NaN or infinite values")
        if out.min() < -_PROBABILITY_TOLERANCE or out.max() > 1 + _PROBABILITY_TOLERANCE:
            raise ModelOutputError(
                f"{self.source}: outputs outside [0, 1] (min {out.min():.3g}, max {out.max():.3g}); "
                "if the model emits logits, load it with output_activation='sigmoid' or 'softmax'"
            )
        return out

    # --- backend hooks ------------------------------------------------------------------------

    def _forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score_gradient(self, x: np.ndarray, index: int, score: Score) -> np.ndarray:
        raise NotImplementedError

    def _split_model(self) -> SplitModel:
        """The model cut into trunk, global pooling and head for the incremental engine."""
        raise NotIncrementalError(f"the {self.backend} backend runs its model as a whole; only Keras "
                                  "functional models and torch.fx-traceable modules can be split")

    def _resolve_conv_layer(self, layer: str | None) -> str:
        raise ConfigurationError(f"{self.source}: the {self.backend} backend cannot expose layer "
                                 "activations (Grad-CAM needs a Keras or torch model)")

    def _weighted_layers(self) -> list[str]:
        raise NotImplementedError(f"{self.source}: layer randomisation is implemented for Keras "
                                  f"models only, not the {self.backend} backend")

    def _randomised(self, layer_seeds: dict[str, int]) -> Classifier:
        raise NotImplementedError

    def _activation_gradient(self, x: np.ndarray, index: int, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """(activations, d logit / d activations), each (n, T', C), for one batch."""
        raise NotImplementedError


def apply_activation(raw: np.ndarray, activation: str) -> np.ndarray:
    """Sigmoid or softmax over the last axis, computed stably in float64."""
    z = raw.astype(np.float64)
    out = expit(z) if activation == "sigmoid" else softmax(z, axis=-1)
    return out.astype(np.float32)


class CallableClassifier(Classifier):
    """Any Python callable mapping (N, T, L) float32 to (N, C) probabilities (or logits)."""

    backend = "callable"

    def __init__(self, fn: Any, **kwargs: Any) -> None:
        if not callable(fn):
            raise ConfigurationError(f"{fn!r} is not callable")
        self.fn = fn
        kwargs.setdefault("source", getattr(fn, "__name__", type(fn).__name__))
        super().__init__(**kwargs)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(x))
