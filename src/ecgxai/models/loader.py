"""``load_model``: one entry point from a file, a zoo name or a Python object to a Classifier."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ecgxai import config
from ecgxai.classes import SCORED_CODES
from ecgxai.errors import ConfigurationError, ModelLoadError, ModelOutputError
from ecgxai.io.class_lists import load_class_names
from ecgxai.io.files import read_json_object
from ecgxai.io.records import Units, check_fs
from ecgxai.models.base import DEFAULT_BATCH_SIZE, CallableClassifier, Classifier, OutputActivation
from ecgxai.models.onnx_backend import InputLayout
from ecgxai.models.zoo import Architecture, get_architecture

log = logging.getLogger(__name__)

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
ONNX_SUFFIXES = (".onnx",)
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript")
#: Settings a model card (``MODEL_FILE.json`` beside the model) may supply when not passed in.
CARD_SETTINGS = ("class_names", "units", "input_length", "lead_names", "output_activation", "fs")


def load_model(
    path_or_callable: str | Path | Any,
    architecture: str | None = None,
    class_names: Sequence[str] | str | Path | np.ndarray | None = None,
    units: Units | None = None,
    input_length: int | None = None,
    *,
    lead_names: Sequence[str] | None = None,
    fs: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    output_activation: OutputActivation = None,
    input_layout: InputLayout = "NTL",
    safe_mode: bool = True,
) -> Classifier:
    """Wrap a model file or object into a :class:`Classifier`.

    Accepts a Keras 3 ``.keras`` file (safe mode), a full Keras 2 ``.h5`` model,
    ``.h5`` weights plus a zoo ``architecture`` (e.g. ``"physionet2020_resnet"``),
    an ``.onnx`` file, a TorchScript file, a Keras or torch model object, an existing
    Classifier, or any callable mapping (N, T, L) float32 to (N, C) probabilities.
    A model card ``MODEL_FILE.json`` beside a model file (e.g. ``demo_cnn.keras.json``)
    supplies any of :data:`CARD_SETTINGS` not passed in.

    ``class_names`` (list or ``.txt``/``.npy``/``.csv`` file) defaults to the
    architecture's classes, or the 27 scored Challenge codes for a 27-output model.
    ``units`` is the input convention (``adc`` raw digital values, or ``mV``);
    ``output_activation`` is ``"sigmoid"``/``"softmax"`` for models that emit logits.
    The output width is checked against the class list at load time.

    ``fs`` is the sampling rate (Hz) the model was trained at (the zoo knows it for its entries);
    records at another rate are resampled to it. When it is unknown records are taken as they are.
    A model whose input is not 12 leads wide must be told its leads (``lead_names=`` or the card).
    """
    if isinstance(path_or_callable, Classifier):
        return path_or_callable
    if isinstance(path_or_callable, (str, Path)):
        card = read_model_card(path_or_callable)
        class_names = _first_not_none(class_names, card.get("class_names"))
        units = _first_not_none(units, card.get("units"))
        input_length = _first_not_none(input_length, card.get("input_length"))
        lead_names = _first_not_none(lead_names, card.get("lead_names"))
        output_activation = _first_not_none(output_activation, card.get("output_activation"))
        fs = _first_not_none(fs, card.get("fs"))
    arch = get_architecture(architecture) if architecture else None
    if input_layout not in ("NTL", "NLT"):
        raise ConfigurationError(f"input_layout must be 'NTL' or 'NLT', got {input_layout!r}")
    build, declared, source = _open_backend(path_or_callable, arch, input_layout, safe_mode)
    length, n_leads, width = declared
    names = _resolve_class_names(class_names, arch, width, source)
    if width is not None and width != len(names):
        raise ModelOutputError(f"{source}: model has {width} outputs but {len(names)} class names")
    input_length = _first_not_none(input_length, length, arch and arch.input_length, config.MAXLEN)
    if length is not None and input_length != length:
        raise ConfigurationError(f"{source}: model input length is {length}, not {input_length}")
    n_leads = _first_not_none(n_leads, lead_names and len(lead_names), arch and arch.n_leads, 12)
    lead_names = _first_not_none(lead_names, arch and arch.lead_names,
                                 config.STANDARD_LEADS if n_leads == 12 else None)
    if lead_names is None:
        raise ConfigurationError(_unnamed_leads(source, int(n_leads), path_or_callable))
    classifier = build(
        class_names=names,
        input_length=int(input_length),
        n_leads=int(n_leads),
        units=_first_not_none(units, arch and arch.units, "adc"),
        lead_names=lead_names,
        batch_size=batch_size,
        output_activation=output_activation,
        source=source,
        fs=_first_not_none(fs, arch and arch.fs),
    )
    classifier.check_output_width()
    if isinstance(path_or_callable, (str, Path)):
        classifier.spec = ModelSpec(
            path=str(path_or_callable), architecture=architecture, class_names=classifier.class_names,
            units=classifier.units, input_length=classifier.input_length,
            lead_names=classifier.lead_names, batch_size=classifier.batch_size,
            output_activation=classifier.output_activation, input_layout=input_layout,
            safe_mode=safe_mode, fs=classifier.fs)
    return classifier


@dataclass(frozen=True)
class ModelSpec:
    """``load_model``'s arguments for a model file, with the class list and shapes it resolved."""

    path: str
    architecture: str | None
    class_names: tuple[str, ...]
    units: str
    input_length: int
    lead_names: tuple[str, ...] | None
    batch_size: int
    output_activation: str | None
    input_layout: str
    safe_mode: bool
    fs: float | None = None

    def load(self) -> Classifier:
        """Load the classifier this spec describes."""
        settings = asdict(self)
        return load_model(settings.pop("path"), **settings)

    def describe(self) -> dict[str, Any]:
        """The spec as plain values (for manifests)."""
        return asdict(self)


def model_card_path(model_path: str | Path) -> Path:
    """Where the model card of a model file lives: the file name plus ``.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


def read_model_card(model_path: str | Path) -> dict[str, Any]:
    """The model card's settings (empty when there is none); a card that cannot be read is an error."""
    path = model_card_path(model_path)
    card = read_json_object(path, ModelLoadError, "model card")
    settings = {key: card[key] for key in CARD_SETTINGS if card.get(key) is not None}
    if "fs" in settings:
        try:
            settings["fs"] = check_fs(settings["fs"])
        except ConfigurationError as exc:
            raise ModelLoadError(f"{path}: {exc}") from None
    return settings


def _unnamed_leads(source: str, n_leads: int, model: Any) -> str:
    """Why a model without lead names cannot take records, and how to tell it its leads."""
    where = "pass lead_names= to load_model"
    if isinstance(model, (str, Path)):
        where += f" or add \"lead_names\" to its model card {model_card_path(model)}"
    known = config.CHALLENGE_LEAD_SETS.get(n_leads)
    hint = f" (the Challenge 2021 {n_leads}-lead set is {', '.join(known)})" if known else ""
    return (f"{source}: the model takes {n_leads} leads but does not say which, so records cannot be "
            f"matched to it; {where}{hint}")


def _first_not_none(*values: Any) -> Any:
    return next((v for v in values if v is not None and v is not False), None)


def _resolve_class_names(
    class_names: Any, arch: Architecture | None, width: int | None, source: str
) -> tuple[str, ...]:
    if class_names is not None:
        return load_class_names(class_names)
    if arch is not None:
        return arch.class_names
    if width == len(SCORED_CODES):
        log.info("%s: no class_names given; assuming the 27 scored Challenge codes in their order",
                 source)
        return SCORED_CODES
    raise ConfigurationError(f"{source}: pass class_names= (a list or a .txt/.npy/.csv file); "
                             f"the model has {width or 'an unknown number of'} outputs")


def _open_backend(obj: Any, arch: Architecture | None, layout: InputLayout, safe_mode: bool
                  ) -> tuple[Any, tuple[int | None, int | None, int | None], str]:
    """(factory taking the Classifier settings, declared (T, L, C) shapes, source label)."""
    if isinstance(obj, (str, Path)):
        return _open_file(Path(obj), arch, layout, safe_mode)
    from ecgxai.models.torch_backend import TorchClassifier, is_torch_module

    if "keras" in sys.modules:  # a Keras model implies keras is loaded: don't import TensorFlow otherwise
        from ecgxai.models import keras_backend

        if keras_backend.is_keras_model(obj):
            return _keras_factory(obj)
    if is_torch_module(obj):
        return partial(TorchClassifier, obj, input_layout=layout), (None, None, None), type(obj).__name__
    if callable(obj):
        return partial(CallableClassifier, obj), (None, None, None), getattr(obj, "__name__", "callable")
    raise ConfigurationError(f"cannot make a classifier from {type(obj).__name__}")


def _open_file(path: Path, arch: Architecture | None, layout: InputLayout, safe_mode: bool
               ) -> tuple[Any, tuple[int | None, int | None, int | None], str]:
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix in KERAS_SUFFIXES:
        from ecgxai.models import keras_backend

        return _keras_factory(keras_backend.load_keras_model(path, arch, safe_mode), str(path))
    if arch is not None:
        raise ConfigurationError(f"{path}: architecture= only applies to Keras weight files")
    if suffix in ONNX_SUFFIXES:
        from ecgxai.models.onnx_backend import OnnxClassifier, onnx_static_shapes, open_onnx_session

        session = open_onnx_session(path)
        return (partial(OnnxClassifier, session, input_layout=layout),
                onnx_static_shapes(session, layout), str(path))
    if suffix in TORCHSCRIPT_SUFFIXES:
        from ecgxai.models.torch_backend import TorchClassifier, load_torchscript

        return (partial(TorchClassifier, load_torchscript(path), input_layout=layout),
                (None, None, None), str(path))
    raise ModelLoadError(f"{path}: unknown model file type {suffix!r}; expected one of "
                         f"{KERAS_SUFFIXES + ONNX_SUFFIXES + TORCHSCRIPT_SUFFIXES}")


def _keras_factory(model: Any, source: str | None = None
                   ) -> tuple[Any, tuple[int | None, int | None, int | None], str]:
    from ecgxai.models import keras_backend

    length, n_leads = keras_backend.static_input_shape(model)
    declared = (length, n_leads, keras_backend.output_width(model))
    return partial(keras_backend.KerasClassifier, model), declared, source or model.name

