"""Predict over many record files in batches, with a progress bar and per-record error reports."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgxai.errors import ECGXAIError
from ecgxai.io.preprocessing import ModelInput, report_rates
from ecgxai.io.records import Record, Units, read_record, record_base
from ecgxai.models.base import Classifier
from ecgxai.models.inputs import Stretches
from ecgxai.models.loader import load_model
from ecgxai.models.spec import ModelRef, shippable, worker_classifier
from ecgxai.parallel import Execution, TaskFailure, as_execution, run_tasks

log = logging.getLogger(__name__)

ERROR_COLUMNS = ["record", "path", "error_type", "message"]
#: Batches per task sent to a worker: big enough to amortise sending, small enough to resume often.
CHUNK_BATCHES = 4


#: Columns of a predictions table that are not class probabilities.
ID_COLUMNS = ("record", "path", "start_sec", "end_sec")


@dataclass
class Predictions:
    """Probabilities (``probs``: record, path, with a chosen stretch its ``start_sec`` and ``end_sec``,
    then one column per class; one row per record and stretch), failures, and how many records came
    at each sampling rate (Hz)."""

    probs: pd.DataFrame
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ERROR_COLUMNS))
    record_rates: dict[float, int] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        """Class columns of ``probs``."""
        return [c for c in self.probs.columns if c not in ID_COLUMNS]

    def best_starts(self, targets: Iterable[str]) -> dict[str, dict[str, float]]:
        """{path: {class: start_sec}}: per record and class, the start of the stretch with the highest
        probability of the class (0 s for a table without stretches)."""
        table = self.probs if "start_sec" in self.probs else self.probs.assign(start_sec=0.0)
        best: dict[str, dict[str, float]] = {}
        for path, rows in table.groupby("path", sort=False):
            best[str(path)] = {str(t): float(rows["start_sec"].iloc[int(np.argmax(rows[str(t)].to_numpy()))])
                               for t in targets}
        return best


@dataclass(frozen=True)
class RecordPrediction:
    """One record's predicted stretches: the record's rate, then per stretch its (start_sec, end_sec)
    in record seconds and its class probabilities."""

    record_fs: float
    spans: np.ndarray  # (k, 2)
    probs: np.ndarray  # (k, C) float32


def error_row(source: str | Path | Record, error: BaseException | TaskFailure) -> dict[str, str]:
    """One row of an errors table: which record failed, with what exception."""
    path = source.path if isinstance(source, Record) else source
    name = source.name if isinstance(source, Record) else record_base(path).name
    failure = error if isinstance(error, TaskFailure) else TaskFailure.from_exception(error)
    return {"record": name, "path": str(path), "error_type": failure.error_type, "message": failure.message}


def _model_inputs(
    sources: Sequence[str | Path | Record], classifier: Classifier, stretches: Stretches,
    maxlen: int | None, units: Units | None, errors: list[dict[str, str]] | None,
    read_kwargs: dict[str, Any],
) -> Iterator[tuple[int, ModelInput]]:
    """Yield (position, model input) per stretch of each readable source; log the others into
    ``errors`` (or raise the first failure when ``errors`` is None)."""
    for i, source in enumerate(sources):
        try:
            record = source if isinstance(source, Record) else read_record(source, **read_kwargs)
            inputs = stretches.inputs(classifier, record, maxlen=maxlen, units=units)
        except ECGXAIError as exc:
            if errors is None:
                raise
            log.warning("skipping record: %s", exc)
            errors.append(error_row(source, exc))
            continue
        for item in inputs:
            yield i, item


def _batches(items: Iterable[tuple[int, ModelInput]], size: int) -> Iterator[list[tuple[int, ModelInput]]]:
    """Consecutive lists of at most ``size`` items, so stretches of several records share a batch."""
    batch: list[tuple[int, ModelInput]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _per_record(n: int, owners: list[int], stretches: list[tuple[float, float, float]],
                probs: list[np.ndarray]) -> list[RecordPrediction | None]:
    """Group predicted stretches (owner position, (record_fs, start_sec, end_sec), probabilities) by
    record: one entry per position, None where nothing was predicted."""
    owner = np.asarray(owners, dtype=int)
    rows = np.concatenate(probs) if probs else np.empty((0, 0), dtype=np.float32)
    meta = np.asarray(stretches, dtype=np.float64).reshape(-1, 3)
    out: list[RecordPrediction | None] = [None] * n
    for position in np.unique(owner):
        mine = owner == position
        out[position] = RecordPrediction(record_fs=float(meta[mine][0, 0]), spans=meta[mine][:, 1:],
                                         probs=rows[mine])
    return out


@dataclass(frozen=True)
class _PredictChunk:
    """Task: a :class:`RecordPrediction` per record of a chunk (None for bad ones) and error rows.

    ``errors_out`` False means a bad record's error is raised instead (``on_error="raise"``).
    """

    model: ModelRef
    batch_size: int
    maxlen: int | None
    units: Units | None
    read_kwargs: dict[str, Any]
    stretches: Stretches
    errors_out: bool = True

    def __call__(self, chunk: Sequence[str | Path | Record]
                 ) -> tuple[list[RecordPrediction | None], list[dict[str, str]]]:
        classifier = worker_classifier(self.model)
        errors: list[dict[str, str]] | None = [] if self.errors_out else None
        inputs = _model_inputs(chunk, classifier, self.stretches, self.maxlen, self.units, errors,
                               self.read_kwargs)
        owners: list[int] = []
        stretches: list[tuple[float, float, float]] = []
        probs: list[np.ndarray] = []
        for batch in _batches(inputs, self.batch_size):
            x = np.stack([item.x for _, item in batch])
            probs.append(classifier.predict(x, batch_size=self.batch_size))
            owners += [position for position, _ in batch]
            stretches += [(item.record_fs, item.start_sec, item.end_sec) for _, item in batch]
        return _per_record(len(chunk), owners, stretches, probs), errors or []


def _predict_aligned(
    classifier: Classifier, records: Sequence[str | Path | Record], batch_size: int,
    maxlen: int | None, units: Units | None, progress: bool,
    errors: list[dict[str, str]] | None, read_kwargs: dict[str, Any],
    execution: Execution | int | None = None, stretches: Stretches | None = None,
) -> list[RecordPrediction | None]:
    """A :class:`RecordPrediction` per record, aligned with ``records``, None where a record failed.

    Records go to the workers in chunks of :data:`CHUNK_BATCHES` batches; a chunk
    whose worker died gives an error row per record. The records' rates are logged once.
    """
    execution = as_execution(execution)
    records = list(records)
    task = _PredictChunk(shippable(classifier, execution.in_process), batch_size, maxlen, units,
                         dict(read_kwargs), stretches or Stretches(), errors_out=errors is not None)
    size = batch_size * CHUNK_BATCHES
    starts = range(0, len(records), size)
    chunks = [records[start:start + size] for start in starts]
    results: list[RecordPrediction | None] = [None] * len(records)
    chunk_errors: dict[int, list[dict[str, str]]] = {}
    with tqdm(total=len(records), desc="predict", unit="rec", disable=not progress) as bar:
        for k, result in run_tasks(task, chunks, execution, progress=False, catch=()):
            if isinstance(result, TaskFailure):
                if errors is None:
                    raise ECGXAIError(f"{result.error_type}: {result.message}")
                chunk_errors[k] = [error_row(source, result) for source in chunks[k]]
            else:
                results[starts[k]:starts[k] + len(chunks[k])], chunk_errors[k] = result
            bar.update(len(chunks[k]))
    if errors is not None:  # in record order, whichever chunk finished first
        errors.extend(row for k in sorted(chunk_errors) for row in chunk_errors[k])
    report_rates([r.record_fs for r in results if r is not None], classifier.fs)
    return results


def _probability_table(classifier: Classifier, records: Sequence[str | Path | Record],
                       results: Sequence[RecordPrediction | None], with_spans: bool) -> pd.DataFrame:
    """One row per record and stretch: record, path, (start_sec, end_sec), one column per class."""
    done = [(source, result) for source, result in zip(records, results, strict=True) if result is not None]
    table = pd.DataFrame(
        np.concatenate([r.probs for _, r in done]) if done else np.empty((0, classifier.n_classes)),
        columns=list(classifier.class_names))
    repeat = [len(r.probs) for _, r in done]
    if with_spans:
        spans = np.concatenate([r.spans for _, r in done]) if done else np.empty((0, 2))
        table.insert(0, "end_sec", spans[:, 1])
        table.insert(0, "start_sec", spans[:, 0])
    table.insert(0, "path", np.repeat([str(s.path) if isinstance(s, Record) else str(s) for s, _ in done],
                                      repeat).astype(object))
    table.insert(0, "record", np.repeat([s.name if isinstance(s, Record) else record_base(s).name
                                         for s, _ in done], repeat).astype(object))
    return table


def predict_records(
    model: Any,
    records: Sequence[str | Path | Record],
    *,
    batch_size: int = 16,
    maxlen: int | None = None,
    units: Units | None = None,
    progress: bool = True,
    execution: Execution | int | None = None,
    start: float | None = None,
    windows: bool = False,
    window_stride: float | None = None,
    **read_kwargs: Any,
) -> Predictions:
    """Probabilities for every readable record; unreadable ones go to ``errors`` and are skipped.

    ``model`` is anything :func:`ecgxai.load_model` accepts. ``maxlen`` and ``units``
    default to the classifier's input length and units; a record at another rate than the
    model's is resampled to it. By default each record gives one row, its first stretch of the
    model's length; ``start`` (seconds) takes the stretch from there instead, and ``windows``
    consecutive stretches over the whole record, ``window_stride`` seconds apart (default: the
    model's length), one row each; both add the columns ``start_sec`` and ``end_sec`` (record
    seconds). ``execution`` runs on that many local worker processes, or as an
    :class:`ecgxai.parallel.Execution` says (Dask); the model must then come from a file, and
    each worker loads it once.
    """
    classifier = load_model(model)
    stretches = Stretches.choose(start, windows, window_stride)
    errors: list[dict[str, str]] = []
    records = list(records)
    results = _predict_aligned(classifier, records, batch_size, maxlen, units, progress, errors,
                               read_kwargs, execution, stretches)
    table = _probability_table(classifier, records, results, with_spans=start is not None or windows)
    rates = Counter(r.record_fs for r in results if r is not None)
    return Predictions(table, pd.DataFrame(errors, columns=ERROR_COLUMNS), dict(sorted(rates.items())))


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
    """The original's batched prediction: (N, C) float32 aligned with ``ecg_files``, each record's
    first stretch of the model's length (resampled to the model's rate when it differs).

    A record that cannot be read gets a row of NaN and a logged warning
    (``on_error="nan"``), or its error is raised (``on_error="raise"``). ``execution``
    is as in :func:`predict_records`.
    """
    if on_error not in ("nan", "raise"):
        raise ValueError(f"on_error must be 'nan' or 'raise', got {on_error!r}")
    errors: list[dict[str, str]] | None = [] if on_error == "nan" else None
    classifier = load_model(model)
    results = _predict_aligned(classifier, ecg_files, batch_size, maxlen, units, progress,
                               errors, read_kwargs, execution)
    probs = np.full((len(results), classifier.n_classes), np.nan, dtype=np.float32)
    for i, result in enumerate(results):
        if result is not None:
            probs[i] = result.probs[0]
    return probs
