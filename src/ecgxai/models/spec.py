"""Each worker's one loaded copy of a classifier.

A classifier loaded from a file carries a :class:`~ecgxai.models.loader.ModelSpec`
(``classifier.spec``): the file and every setting ``load_model`` resolved. Parallel runs send the
spec, not the model, and :func:`worker_classifier` loads it once per worker process.
"""

from __future__ import annotations

from functools import lru_cache

from ecgxai.errors import ConfigurationError
from ecgxai.models.base import Classifier
from ecgxai.models.loader import ModelSpec

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
