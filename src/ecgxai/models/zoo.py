"""Built-in architectures, so weights-only files load with one call.

Each entry builds a Keras model whose layer names match the weight file it
was trained as, and carries the input convention that model expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecgxai import config
from ecgxai.classes import SCORED_CODES
from ecgxai.errors import ConfigurationError
from ecgxai.io.records import Units
from ecgxai.models.keras_import import import_keras


@dataclass(frozen=True)
class Architecture:
    """A named network plus the input convention its published weights expect."""

    name: str
    build: Callable[..., Any]
    description: str
    input_length: int
    n_leads: int
    units: Units
    class_names: tuple[str, ...]
    lead_names: tuple[str, ...] = config.STANDARD_LEADS
    fs: float | None = None  # input sampling rate in Hz the weights were trained at


def _keras_namer(prefix: str) -> Callable[[], str]:
    """Keras 2's automatic names in creation order: prefix, prefix_1, prefix_2, ..."""
    count = 0

    def next_name() -> str:
        nonlocal count
        name = prefix if count == 0 else f"{prefix}_{count}"
        count += 1
        return name

    return next_name


def build_physionet2020_resnet(
    input_length: int = 5000, n_leads: int = 12, n_classes: int = 27
) -> Any:
    """Residual network for time-series classification (Wang et al. 2017; Fawaz et al. 2019).

    Three blocks (64, 128, 128 filters) of Conv1D(8)-BN-ReLU-Conv1D(5)-BN-ReLU-Conv1D(3)-BN
    plus a shortcut (Conv1D(1)-BN when channels change, else BN), then global average pooling
    and a sigmoid Dense layer. Layers are named as Keras 2 named them when the reference weights
    were saved: the main branch of a block is created before its shortcut.
    """
    keras, _ = import_keras()

    layers = keras.layers
    conv_name, bn_name = _keras_namer("conv1d"), _keras_namer("batch_normalization")

    def conv(t: Any, filters: int, kernel: int) -> Any:
        return layers.Conv1D(filters, kernel, padding="same", name=conv_name())(t)

    def bn(t: Any) -> Any:
        return layers.BatchNormalization(name=bn_name())(t)

    inputs = keras.Input((input_length, n_leads), name="input_1")
    x = inputs
    for filters, projects in ((64, True), (128, True), (128, False)):
        y = layers.ReLU()(bn(conv(x, filters, 8)))
        y = layers.ReLU()(bn(conv(y, filters, 5)))
        y = bn(conv(y, filters, 3))
        shortcut = bn(conv(x, filters, 1)) if projects else bn(x)
        x = layers.ReLU()(layers.Add()([y, shortcut]))
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(n_classes, activation="sigmoid", name="dense")(x)
    return keras.Model(inputs, outputs, name="physionet2020_resnet")


#: The bundled demo classifier, trained on ``ecgxai.synth`` records by ``scripts/train_demo_model.py``;
#: its model card (same name plus ``.json``) holds its classes, input convention and held-out scores.
DEMO_MODEL_PATH = Path(__file__).parent / "data" / "demo_cnn.keras"
#: The localisation benchmark's classifier (same network), trained by ``scripts/train_benchmark_model.py``
#: on ``ecgxai.synth.benchmark`` records, where only the masked evidence separates the classes.
BENCHMARK_MODEL_PATH = Path(__file__).parent / "data" / "benchmark_cnn.keras"


def build_demo_cnn(input_length: int = 5000, n_leads: int = 12, n_classes: int = 8) -> Any:
    """Small 1-D CNN for the demo (about 60k weights): five strided Conv-BN-ReLU stages, then
    global average and max pooling (max pooling keeps rare beats such as PVCs visible) and a
    sigmoid Dense layer. Input is (time, leads) in mV. ``last_conv`` is the Grad-CAM layer."""
    keras, _ = import_keras()

    layers = keras.layers
    inputs = keras.Input((input_length, n_leads), name="ecg")
    x = inputs
    stages = ((16, 9, 2), (32, 9, 2), (48, 7, 2), (64, 7, 2), (64, 5, 2))
    for i, (filters, kernel, stride) in enumerate(stages):
        name = "last_conv" if i == len(stages) - 1 else f"conv{i + 1}"
        x = layers.Conv1D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
        x = layers.ReLU(name=f"relu{i + 1}")(layers.BatchNormalization(name=f"bn{i + 1}")(x))
    pooled = layers.Concatenate(name="pool")([layers.GlobalAveragePooling1D(name="gap")(x),
                                              layers.GlobalMaxPooling1D(name="gmp")(x)])
    pooled = layers.Dropout(0.2, name="dropout")(pooled)
    outputs = layers.Dense(n_classes, activation="sigmoid", name="dense")(pooled)
    return keras.Model(inputs, outputs, name="demo_cnn")


ARCHITECTURES: dict[str, Architecture] = {
    "physionet2020_resnet": Architecture(
        name="physionet2020_resnet",
        build=build_physionet2020_resnet,
        description="ResNet (64-128-128) of the PhysioNet/CinC 2020 reference model; raw ADC input",
        input_length=5000,
        n_leads=12,
        units="adc",
        class_names=SCORED_CODES,
        fs=500.0,
    ),
}


def get_architecture(name: str) -> Architecture:
    """Look up a zoo entry by name, listing the known names when it is not there."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
