"""One exception hierarchy for everything ecgxai refuses to do.

Every error names the file (or object) at fault and the problem, so a batch
run can log one line per bad record and carry on.
"""

from __future__ import annotations

from os import PathLike


class ECGXAIError(Exception):
    """Base class of every error raised on purpose by ecgxai."""


class ConfigurationError(ECGXAIError, ValueError):
    """A setting or argument is invalid (bad environment variable, unknown option)."""


# --- records -----------------------------------------------------------------


class RecordError(ECGXAIError):
    """A record cannot be read or used; ``path`` names it."""

    def __init__(self, path: str | PathLike[str] | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class RecordNotFoundError(RecordError, FileNotFoundError):
    """Neither a header nor a signal file exists for the given path."""


class MissingHeaderError(RecordError, FileNotFoundError):
    """The signal file exists but its ``.hea`` header does not."""


class MissingSignalFileError(RecordError, FileNotFoundError):
    """The header exists but the signal file it names does not."""


class HeaderError(RecordError, ValueError):
    """The ``.hea`` header cannot be parsed or declares impossible values."""


class CorruptRecordError(RecordError, ValueError):
    """The signal file is unreadable, truncated or lacks the ``val`` variable."""


class InvalidSignalError(RecordError, ValueError):
    """The signal is empty or holds NaN or infinite samples."""


class LeadMismatchError(RecordError, ValueError):
    """The record's leads do not match what the model expects."""


class GroundTruthError(RecordError, ValueError):
    """A ground-truth mask file (``NAME.mask.json``) is unreadable or inconsistent."""


class MissingGroundTruthError(GroundTruthError, FileNotFoundError):
    """A record has no ground-truth mask file beside it."""


# --- classes -----------------------------------------------------------------


class UnknownClassError(ECGXAIError, KeyError):
    """A diagnosis code is not in the class list it must belong to."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


# --- models ------------------------------------------------------------------


class ModelError(ECGXAIError):
    """A model cannot be loaded or used."""


class ModelLoadError(ModelError, ValueError):
    """The model file is missing, of an unknown kind, or its weights do not fit."""


class UnsafeModelError(ModelLoadError):
    """The model file would run arbitrary code when loaded (e.g. a Lambda layer)."""


class MissingDependencyError(ModelError, ImportError):
    """An optional backend (TensorFlow and Keras, onnxruntime, torch) is needed but not installed."""


class ModelOutputError(ModelError, ValueError):
    """The model's output does not match the class list or is not a probability table."""


class InputShapeError(ModelError, ValueError):
    """An input batch does not have the (N, T, L) shape the model expects."""


class NotDifferentiableError(ModelError, TypeError):
    """Gradients were asked of a backend that cannot provide them."""


class NotIncrementalError(ModelError):
    """The model does not fit the incremental engine (no time-local trunk before global pooling, or
    the engine's self-check failed); callers run the full forward pass instead."""


# --- run folders -------------------------------------------------------------


class ManifestError(ECGXAIError, ValueError):
    """A run folder's ``run.json`` manifest is unreadable or not a JSON object."""
