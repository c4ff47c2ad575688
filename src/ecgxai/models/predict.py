"""Predict over many record files in batches, with a progress bar and per-record error reports."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgxai.errors import ECGXAIError
from ecgxai.io.preprocessing import to_model_input
from ecgxai.io.records import Record, Units, read_record, record_base
from ecgxai.models.base import Classifier
from ecgxai.models.loader import load_model
from ecgxai.models.spec import ModelRef, shippable, worker_classifier
from ecgxai.parallel import Execution, TaskFailure, as_execution, run_tasks

log = logging.getLogger(__name__)

ERROR_COLUMNS = ["record", "path", "error_type", "message"]
#: Batches per task sent to a worker: big enough to amortise sending, small enough to resume often.
CHUNK_BATCHES = 4


@dataclass
class Predictions:
    """Probabilities per record (``probs``: record, path, one column per class) and failures."""

    probs: pd.DataFrame
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ERROR_COLUMNS))

    @property
    def class_names(self) -> list[str]:
        """Class columns of ``probs``."""
        return [c for c in self.probs.columns if c not in ("record", "path")]


def error_row(source: str | Path | Record, error: BaseException | TaskFailure) -> dict[str, str]:
    """One row of an errors table: which record failed, with what exception."""
    path = source.path if isinstance(source, Record) else source
    name = source.name if isinstance(source, Record) else record_base(path).name
    failure = error if isinstance(error, TaskFailure) else TaskFailure.from_exception(error)
    return {"record": name, "path": str(path), "error_type": failure.error_type, "message": failure.message}


def _model_inputs(
    sources: Sequence[str | Path | Record], classifier: Classifier, maxlen: int | None,
    units: Units | None, errors: list[dict[str, str]] | None, read_kwargs: dict[str, Any],
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (position, model input) per readable source; log the others into ``errors``
    (or raise the first failure when ``errors`` is None)."""
    for i, source in enumerate(sources):
        try:
            record = source if isinstance(source, Record) else read_record(source, **read_kwargs)
            x = to_model_input(record, maxlen=maxlen or classifier.input_length,
                               units=units or classifier.units, lead_names=classifier.lead_names)
        except ECGXAIError as exc:
            if errors is None:
                raise
            log.warning("skipping record: %s", exc)
            errors.append(error_row(source, exc))
            continue
        yield i, x


def _batches(items: Iterable[tuple[int, np.ndarray]], size: int
             ) -> Iterator[tuple[list[int], np.ndarray]]:
    positions: list[int] = []
    arrays: list[np.ndarray] = []
    for position, x in items:
        positions.append(position)
        arrays.append(x)
        if len(arrays) == size:
            yield positions, np.stack(arrays)
            positions, arrays = [], []
    if arrays:
        yield positions, np.stack(arrays)


@dataclass(frozen=True)
class _PredictChunk:
    """Task: (len(chunk), C) probabilities for a chunk of records, NaN rows and error rows for bad ones.

    ``errors_out`` False means a bad record's error is raised instead (``on_error="raise"``).
    """

    model: ModelRef
    batch_size: int
    maxlen: int | None
    units: Units | None
    read_kwargs: dict[str, Any]
    errors_out: bool = True

    def __call__(self, chunk: Sequence[str | Path | Record]) -> tuple[np.ndarray, list[dict[str, str]]]:
        classifier = worker_classifier(self.model)
        probs = np.full((len(chunk), classifier.n_classes), np.nan, dtype=np.float32)
        errors: list[dict[str, str]] | None = [] if self.errors_out else None
        inputs = _model_inputs(chunk, classifier, self.maxlen, self.units, errors, self.read_kwargs)
        for positions, batch in _batches(inputs, self.batch_size):
            probs[positions] = classifier.predict(batch, batch_size=self.batch_size)
        return probs, errors or []


def _predict_aligned(
    classifier: Classifier, records: Sequence[str | Path | Record], batch_size: int,
    maxlen: int | None, units: Units | None, progress: bool,
    errors: list[dict[str, str]] | None, read_kwargs: dict[str, Any],
    execution: Execution | int | None = None,
) -> np.ndarray:
    """(N, C) probabilities aligned with ``records``, NaN rows where a record failed.

    Records go to the workers in chunks of :data:`CHUNK_BATCHES` batches; a chunk
    whose worker died gives an error row per record.
    """
    execution = as_execution(execution)
    records = list(records)
    task = _PredictChunk(shippable(classifier, execution.in_process), batch_size, maxlen, units,
                         dict(read_kwargs), errors_out=errors is not None)
    size = batch_size * CHUNK_BATCHES
    starts = range(0, len(records), size)
    chunks = [records[start:start + size] for start in starts]
    probs = np.full((len(records), classifier.n_classes), np.nan, dtype=np.float32)
    chunk_errors: dict[int, list[dict[str, str]]] = {}
    with tqdm(total=len(records), desc="predict", unit="rec", disable=not progress) as bar:
        for k, result in run_tasks(task, chunks, execution, progress=False, catch=()):
            if isinstance(result, TaskFailure):
                if errors is None:
                    raise ECGXAIError(f"{result.error_type}: {result.message}")
                chunk_errors[k] = [error_row(source, result) for source in chunks[k]]
            else:
                probs[starts[k]:starts[k] + len(chunks[k])], chunk_errors[k] = result
            bar.update(len(chunks[k]))
    if errors is not None:  # in record order, whichever chunk finished first
        errors.extend(row for k in sorted(chunk_errors) for row in chunk_errors[k])
    return probs


def predict_records(
    model: Any,
    records: Sequence[str | Path | Record],
    *,
    batch_size: int = 16,
    maxlen: int | None = None,
    units: Units | None = None,
    progress: bool = True,
    execution: Execution | int | None = None,
    **read_kwargs: Any,
) -> Predictions:
    """Probabilities for every readable record; unreadable ones go to ``errors`` and are skipped.

    ``model`` is anything :func:`ecgxai.load_model` accepts. ``maxlen`` and ``units``
    default to the classifier's input length and units. ``execution`` runs on that many
    local worker processes, or as an :class:`ecgxai.parallel.Execution` says (Dask);
    the model must then come from a file, and each worker loads it once.
    """
    classifier = load_model(model)
    errors: list[dict[str, str]] = []
    probs = _predict_aligned(classifier, records, batch_size, maxlen, units, progress, errors,
                             read_kwargs, execution)
    done = ~np.isnan(probs[:, 0])
    table = pd.DataFrame(probs[done], columns=list(classifier.class_names))
    kept = [r for r, ok in zip(records, done, strict=False) if ok]
    table.insert(0, "path", [str(r.path) if isinstance(r, Record) else str(r) for r in kept])
    table.insert(0, "record", [r.name if isinstance(r, Record) else record_base(r).name for r in kept])
    return Predictions(table, pd.DataFrame(errors, columns=ERROR_COLUMNS))


def batched_predict_all(
    model: Any,
    ecg_files: Sequence[str | Path | Record],
    batch_size: int = 16,
    maxlen: int | None = None,
    *,
    units: Units | None = None,
    progress: bool = True,
    on_error: str = "nan",
    execution: Execution | int | None = None,
    **read_kwargs: Any,
) -> np.ndarray:
    """The original's batched prediction: (N, C) float32 aligned with ``ecg_files``.

    A record that cannot be read gets a row of NaN and a logged warning
    (``on_error="nan"``), or its error is raised (``on_error="raise"``). ``execution``
    is as in :func:`predict_records`.
    """
    if on_error not in ("nan", "raise"):
        raise ValueError(f"on_error must be 'nan' or 'raise', got {on_error!r}")
    errors: list[dict[str, str]] | None = [] if on_error == "nan" else None
    return _predict_aligned(load_model(model), ecg_files, batch_size, maxlen, units, progress,
                            errors, read_kwargs, execution)
