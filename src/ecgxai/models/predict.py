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

log = logging.getLogger(__name__)

ERROR_COLUMNS = ["record", "path", "error_type", "message"]


@dataclass
class Predictions:
    """Probabilities per record (``probs``: record, path, one column per class) and failures."""

    probs: pd.DataFrame
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ERROR_COLUMNS))

    @property
    def class_names(self) -> list[str]:
        """Class columns of ``probs``."""
        return [c for c in self.probs.columns if c not in ("record", "path")]


def error_row(source: str | Path | Record, exc: BaseException) -> dict[str, str]:
    """One row of an errors table: which record failed, with what exception."""
    path = source.path if isinstance(source, Record) else source
    name = source.name if isinstance(source, Record) else record_base(path).name
    return {"record": name, "path": str(path), "error_type": type(exc).__name__, "message": str(exc)}


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


def _predict_aligned(
    classifier: Classifier, records: Sequence[str | Path | Record], batch_size: int,
    maxlen: int | None, units: Units | None, progress: bool,
    errors: list[dict[str, str]] | None, read_kwargs: dict[str, Any],
) -> np.ndarray:
    """(N, C) probabilities aligned with ``records``, NaN rows where a record failed."""
    probs = np.full((len(records), classifier.n_classes), np.nan, dtype=np.float32)
    inputs = _model_inputs(records, classifier, maxlen, units, errors, read_kwargs)
    with tqdm(total=len(records), desc="predict", unit="rec", disable=not progress) as bar:
        for positions, batch in _batches(inputs, batch_size):
            probs[positions] = classifier.predict(batch, batch_size=batch_size)
            bar.update(len(positions))
        bar.update(len(records) - bar.n)
    return probs


def predict_records(
    model: Any,
    records: Sequence[str | Path | Record],
    *,
    batch_size: int = 16,
    maxlen: int | None = None,
    units: Units | None = None,
    progress: bool = True,
    **read_kwargs: Any,
) -> Predictions:
    """Probabilities for every readable record; unreadable ones go to ``errors`` and are skipped.

    ``model`` is anything :func:`ecgxai.load_model` accepts. ``maxlen`` and ``units``
    default to the classifier's input length and units.
    """
    classifier = load_model(model)
    errors: list[dict[str, str]] = []
    probs = _predict_aligned(classifier, records, batch_size, maxlen, units, progress, errors,
                             read_kwargs)
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
    **read_kwargs: Any,
) -> np.ndarray:
    """The original's batched prediction: (N, C) float32 aligned with ``ecg_files``.

    A record that cannot be read gets a row of NaN and a logged warning
    (``on_error="nan"``), or its error is raised (``on_error="raise"``).
    """
    if on_error not in ("nan", "raise"):
        raise ValueError(f"on_error must be 'nan' or 'raise', got {on_error!r}")
    errors: list[dict[str, str]] | None = [] if on_error == "nan" else None
    return _predict_aligned(load_model(model), ecg_files, batch_size, maxlen, units, progress,
                            errors, read_kwargs)
