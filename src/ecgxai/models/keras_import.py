"""Import Keras and TensorFlow (the ``keras`` extra) without their start-up logs on stderr.

TensorFlow's C++ libraries write to file descriptor 2 while they load (oneDNN, CUDA stubs) and when
devices are first listed (``cuInit``), partly before ``TF_CPP_MIN_LOG_LEVEL`` applies; so the import
and the device probe run with descriptor 2 sent to a temporary file, which is dropped (replayed when
the import fails). When ecgxai logs at DEBUG (``--verbose``) nothing is hidden. Python warnings
raised meanwhile are re-issued once the descriptor is back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from types import ModuleType

from ecgxai.errors import MissingDependencyError

log = logging.getLogger(__name__)
KERAS_EXTRA = "pip install 'ecgxai[keras]'"
_KERAS_MODULES = ("keras", "tensorflow")


def import_keras() -> tuple[ModuleType, ModuleType]:
    """(keras, tensorflow) on the TensorFlow backend; their start-up logs shown only when verbose."""
    verbose = log.isEnabledFor(logging.DEBUG)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
    with contextlib.nullcontext() if verbose else stderr_hidden():
        try:
            import keras
            import tensorflow as tf
        except ModuleNotFoundError as exc:
            if exc.name not in _KERAS_MODULES:
                raise
            raise MissingDependencyError(
                f"Keras models need TensorFlow and Keras ({exc.name} is not installed): {KERAS_EXTRA}"
            ) from None
        tf.config.list_physical_devices()  # the CUDA probe logs now, not at the first inference
    return keras, tf


@contextlib.contextmanager
def stderr_hidden() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file for the block; write it out if the block raises."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a daemon): nothing to hide
        yield
        return
    failed = True
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as caught:
        os.dup2(sink.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
