"""How to load a classifier again in another process, and each worker's one loaded copy.

A classifier loaded from a file carries a :class:`ModelSpec` (``classifier.spec``): the
file and every setting ``load_model`` resolved. Parallel runs send the spec, not the
model, and :func:`worker_classifier` loads it once per worker process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from ecgxai.errors import ConfigurationError
from ecgxai.models.base import Classifier


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
        from ecgxai.models.loader import load_model

        settings = asdict(self)
        return load_model(settings.pop("path"), **settings)

    def describe(self) -> dict[str, Any]:
        """The spec as plain values (for manifests)."""
        return asdict(self)


ModelRef = Classifier | ModelSpec


@lru_cache(maxsize=2)
def _loaded(spec: ModelSpec) -> Classifier:
    return spec.load()


def worker_classifier(model: ModelRef) -> Classifier:
    """The classifier itself, or this process's copy of the one a spec describes (loaded once)."""
    return _loaded(model) if isinstance(model, ModelSpec) else model


def shippable(classifier: Classifier, in_process: bool) -> ModelRef:
    """What to send to tasks: the classifier when they run here, else the spec to load it from."""
    if in_process:
        return classifier
    spec = getattr(classifier, "spec", None)
    if spec is None:
        raise ConfigurationError(f"{classifier.source}: parallel runs need a model loaded from a file "
                                 "(load_model(PATH, ...)), so each worker can load it")
    return spec
