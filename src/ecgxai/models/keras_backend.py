"""Keras 3 (TensorFlow backend) models: safe loading and a fast, compiled forward pass.

``model.predict`` costs a few hundred milliseconds of set-up per call; for the
small batches explainers send, the model is instead called through one
``tf.function`` traced once for any batch size.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ecgxai.errors import ConfigurationError, ModelLoadError, UnsafeModelError
from ecgxai.models.base import Classifier, Score
from ecgxai.models.incremental import SplitModel
from ecgxai.models.keras_import import import_keras
from ecgxai.models.zoo import Architecture

keras, tf = import_keras()  # MissingDependencyError without the keras extra

_ACTIVATIONS_WITH_LOGITS = ("sigmoid", "softmax")
_CONV1D_LAYERS = tuple(getattr(keras.layers, name) for name in ("Conv1D", "SeparableConv1D",
                                                                 "DepthwiseConv1D")
                       if hasattr(keras.layers, name))


class KerasClassifier(Classifier):
    """A Keras model called through a compiled TensorFlow function; differentiable."""

    backend = "keras"
    differentiable = True

    def __init__(self, model: keras.Model, **kwargs: Any) -> None:
        kwargs.setdefault("source", model.name)
        super().__init__(**kwargs)
        self.model = model
        spec = tf.TensorSpec((None, self.input_length, self.n_leads), tf.float32)
        single_list_input = isinstance(getattr(model, "_inputs_struct", None), list)
        self._call = (lambda x: model([x], training=False)) if single_list_input else (
            lambda x: model(x, training=False))
        self._score_model = _pre_activation_model(model)
        self._cam_functions: dict[str, Any] = {}
        self._compiled_forward = tf.function(self._call, input_signature=[spec])
        self._compiled_gradient = tf.function(
            self._gradient_graph,
            input_signature=[spec, tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.bool)],
        )

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return self._compiled_forward(tf.constant(x)).numpy()

    def _score_gradient(self, x: np.ndarray, index: int, score: Score) -> np.ndarray:
        as_logit = score == "logit"
        return self._compiled_gradient(tf.constant(x), tf.constant(index), tf.constant(as_logit)).numpy()

    def _gradient_graph(self, x: tf.Tensor, index: tf.Tensor, as_logit: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            target = tf.cond(as_logit, lambda: self._logit(x), lambda: self._call(x))[:, index]
        return tape.gradient(target, x)

    def _split_model(self) -> SplitModel:
        from ecgxai.models.incremental_keras import keras_split

        return keras_split(self)

    def _resolve_conv_layer(self, layer: str | None) -> str:
        """``layer`` checked to be a top-level layer with a (N, T', C) output, or the last Conv1D."""
        if layer is None:
            convs = conv1d_layer_names(self.model)
            if not convs:
                raise ConfigurationError(f"{self.source}: no Conv1D layer for Grad-CAM; pass a layer "
                                         "name (gradcam_layer) whose output is (N, T', C)")
            return convs[-1]
        names = [found.name for found in self.model.layers]
        if layer not in names:
            raise ConfigurationError(f"{self.source}: no layer named {layer!r}; its Conv1D layers are "
                                     f"{conv1d_layer_names(self.model)}")
        try:
            rank = len(self.model.get_layer(layer).output.shape)
        except (AttributeError, ValueError) as exc:  # e.g. a layer called more than once
            raise ConfigurationError(f"{self.source}: layer {layer!r} has no single output ({exc})") from None
        if rank != 3:
            raise ConfigurationError(f"{self.source}: layer {layer!r} has a rank-{rank} output; Grad-CAM "
                                     "needs a (N, T', C) time x channel output")
        return layer

    def _activation_gradient(self, x: np.ndarray, index: int, layer: str) -> tuple[np.ndarray, np.ndarray]:
        if layer not in self._cam_functions:
            self._cam_functions[layer] = self._compile_cam(layer)
        activations, gradients = self._cam_functions[layer](tf.constant(x), tf.constant(index))
        return activations.numpy(), gradients.numpy()

    def _compile_cam(self, layer: str) -> Any:
        """A compiled (x, class index) -> (activations, d logit / d activations) for ``layer``.

        One sub-model shares the weights and returns the layer's output and the class logit
        (the pre-activation model's output when there is one, else the model output, inverted
        through the logit when it is a probability without a separate activation).
        """
        has_logits = self.output_activation is not None
        score_model = None if has_logits else self._score_model
        score = (score_model or self.model).outputs[0]
        invert = not has_logits and score_model is None
        inputs = self.model.inputs[0] if len(self.model.inputs) == 1 else self.model.inputs
        sub = keras.Model(inputs, [self.model.get_layer(layer).output, score])

        def graph(x: tf.Tensor, index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(x)
                activations, out = sub(x, training=False)
                if invert:
                    out = _inverse_sigmoid(out)
                target = out[:, index]
            return activations, tape.gradient(target, activations)

        spec = tf.TensorSpec((None, self.input_length, self.n_leads), tf.float32)
        return tf.function(graph, input_signature=[spec, tf.TensorSpec((), tf.int32)])

    def _weighted_layers(self) -> list[str]:
        return [layer.name for layer in reversed(self.model.layers) if layer.trainable_weights]

    def _randomised(self, layer_seeds: dict[str, int]) -> KerasClassifier:
        """A clone (``keras.models.clone_model`` + ``set_weights``) with the layers re-initialised."""
        clone = keras.models.clone_model(self.model)
        clone.set_weights(self.model.get_weights())
        for name, seed in layer_seeds.items():
            rng = np.random.default_rng(seed)
            for variable in clone.get_layer(name).trainable_weights:
                values = _random_like(np.asarray(variable.numpy()), rng)
                if values is not None:
                    variable.assign(values)
        copy = KerasClassifier(
            clone, class_names=self.class_names, input_length=self.input_length, n_leads=self.n_leads,
            units=self.units, lead_names=self.lead_names, batch_size=self.batch_size,
            output_activation=self.output_activation, fs=self.fs,
            source=f"{self.source}[randomised top {len(layer_seeds)}]",
        )
        copy.randomised_layers = tuple(layer_seeds)
        return copy

    def _logit(self, x: tf.Tensor) -> tf.Tensor:
        """Pre-activation class scores; the clipped inverse of the output when there is no
        sigmoid/softmax layer to look behind."""
        if self.output_activation is not None:
            return self._call(x)
        if self._score_model is not None:
            return self._score_model(x, training=False)
        return _inverse_sigmoid(self._call(x))


def _random_like(values: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Normal values with the weight's own std (zero mean); Glorot-normal std for a constant
    kernel; None (keep) for a constant vector, which holds nothing learned."""
    std = float(values.std()) if values.size else 0.0
    if not (math.isfinite(std) and std > 0):
        if values.ndim < 2:
            return None
        receptive = int(np.prod(values.shape[:-2])) if values.ndim > 2 else 1
        fan_in, fan_out = receptive * values.shape[-2], receptive * values.shape[-1]
        std = math.sqrt(2.0 / (fan_in + fan_out))
    return rng.normal(0.0, std, values.shape).astype(values.dtype)


def _inverse_sigmoid(probabilities: tf.Tensor) -> tf.Tensor:
    """Logits of probabilities, clipped away from 0 and 1 so they stay finite."""
    p = tf.clip_by_value(probabilities, 1e-7, 1 - 1e-7)
    return tf.math.log(p) - tf.math.log1p(-p)


def conv1d_layer_names(model: keras.Model) -> list[str]:
    """Names of the model's top-level 1-D convolution layers, in the model's layer order."""
    return [layer.name for layer in model.layers if isinstance(layer, _CONV1D_LAYERS)]


def _pre_activation_model(model: keras.Model) -> keras.Model | None:
    """A model computing the last layer without its sigmoid/softmax, sharing all weights."""
    last = model.layers[-1] if model.layers else None
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    if activation not in _ACTIVATIONS_WITH_LOGITS:
        return None
    body = keras.Model(model.inputs, last.input)
    if isinstance(last, keras.layers.Activation):
        return body
    if isinstance(last, keras.layers.Dense):  # use the live variables: later weight edits are seen
        outputs = keras.ops.matmul(body.output, last.kernel)
        return keras.Model(model.inputs, outputs + last.bias if last.use_bias else outputs)
    config = {**last.get_config(), "activation": "linear", "name": f"{last.name}_logit"}
    linear = type(last).from_config(config)
    linear.build(last.input.shape)
    linear.set_weights(last.get_weights())
    return keras.Model(model.inputs, linear(body.output))


# --- loading -----------------------------------------------------------------------------------


def load_keras_model(path: Path, architecture: Architecture | None, safe_mode: bool = True) -> keras.Model:
    """Load a ``.keras`` file, a full Keras 2 ``.h5`` model, or ``.h5`` weights into a zoo network."""
    suffix = path.suffix.lower()
    if suffix == ".keras":
        if architecture is not None:
            raise ModelLoadError(f"{path}: a .keras file holds its own architecture; "
                                 "do not pass architecture=")
        return _load_saved_model(path, safe_mode)
    if suffix not in (".h5", ".hdf5"):
        raise ModelLoadError(f"{path}: not a Keras file (.keras, .h5, .hdf5)")
    config = _h5_model_config(path)
    if architecture is not None:
        return _load_weights_into(path, architecture)
    if config is None:
        raise ModelLoadError(f"{path}: weights-only HDF5 file; pass architecture=NAME "
                             "(see ecgxai.models.ARCHITECTURES)")
    if safe_mode:
        _refuse_lambda_layers(path, config)
    return _load_saved_model(path, safe_mode)


def _load_saved_model(path: Path, safe_mode: bool) -> keras.Model:
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    except ValueError as exc:
        if "lambda" in str(exc).lower() or "unsafe" in str(exc).lower():
            raise UnsafeModelError(f"{path}: refused in safe mode: {exc}") from None
        raise ModelLoadError(f"{path}: cannot load Keras model ({exc})") from None
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot load Keras model ({type(exc).__name__}: {exc})") from None


def _h5_model_config(path: Path) -> dict[str, Any] | None:
    """The architecture stored in a Keras 2 HDF5 file, or None for a weights-only file."""
    try:
        with h5py.File(path, "r") as fh:
            raw = fh.attrs.get("model_config")
    except OSError as exc:
        raise ModelLoadError(f"{path}: not a readable HDF5 file ({exc})") from None
    if raw is None:
        return None
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _refuse_lambda_layers(path: Path, config: dict[str, Any]) -> None:
    """Lambda layers in a legacy HDF5 config carry marshalled Python code: refuse them."""
    if '"class_name": "Lambda"' in json.dumps(config):
        raise UnsafeModelError(f"{path}: the model contains a Lambda layer (arbitrary code); "
                               "load it with safe_mode=False only if you trust the file")


def _load_weights_into(path: Path, architecture: Architecture) -> keras.Model:
    """Build a zoo network and load HDF5 weights by layer name, checking every layer got some."""
    model = architecture.build(architecture.input_length, architecture.n_leads,
                               len(architecture.class_names))
    with h5py.File(path, "r") as fh:
        root = fh.get("model_weights", fh)
        in_file = {n.decode() if isinstance(n, bytes) else n for n in root.attrs.get("layer_names", [])}
    missing = [layer.name for layer in model.layers if layer.weights and layer.name not in in_file]
    if missing:
        raise ModelLoadError(f"{path}: no weights for layers {missing} of {architecture.name}")
    try:
        model.load_weights(path, by_name=True)
    except ValueError as exc:
        raise ModelLoadError(f"{path}: weights do not fit {architecture.name} ({exc})") from None
    return model


def is_keras_model(obj: Any) -> bool:
    """True for a Keras model instance."""
    return isinstance(obj, keras.Model)


def static_input_shape(model: keras.Model) -> tuple[int | None, int | None]:
    """(T, L) from the model's declared input, None where dynamic."""
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 3:
        raise ModelLoadError(f"{model.name}: expects input of rank {len(shape)}, not (N, T, L)")
    return shape[1], shape[2]


def output_width(model: keras.Model) -> int | None:
    """Number of output columns the model declares."""
    return tuple(model.outputs[0].shape)[-1]
