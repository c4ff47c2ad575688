"""Score any attribution array with every metric the evaluator has, as ecgxai's own explanations are.

A study made with another tool (Captum, shap, a method of one's own) gives an array of signed
relevance over leads x time for one record and class. :func:`evaluate_attribution` puts it on the
model input's axes as an :class:`~ecgxai.explain.attribution.Attribution` (per sample, on the events
ecgxai's explainers would use; or per ``cell_sec`` cell, the cells being its segments), derives the
payload's spans from it as every explainer does
(:func:`~ecgxai.explain.explainers.explanation_from_map`) and scores it with
:func:`~ecgxai.evaluate.evaluator.evaluate_payload`: the same row, computed the same way.

``ecgxai evaluate --attributions INDEX`` does this for arrays saved as ``.npy``/``.npz`` files and
listed in an index (CSV, or JSON: a list of objects) with ``record``, ``class`` and ``file``, and
optionally ``cell_sec``, ``method`` and ``start_sec`` (:func:`index_payloads`). Files are read
without pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgxai.errors import ConfigurationError, ECGXAIError, InputShapeError
from ecgxai.evaluate.evaluator import evaluate_payload
from ecgxai.explain.attribution import cell_bounds, sample_attribution, segment_attribution
from ecgxai.explain.explainers import explanation_from_map, located, segmented_input
from ecgxai.explain.methods import ExplainInput
from ecgxai.explain.payload import Explanation
from ecgxai.explain.settings import ExplainParams, make_params
from ecgxai.io.records import Record, read_record
from ecgxai.models.base import Classifier
from ecgxai.models.inputs import classifier_input
from ecgxai.models.loader import load_model
from ecgxai.models.predict import ERROR_COLUMNS

#: The ``method`` column of a scored array unless one is given.
EXTERNAL_METHOD = "external"
INDEX_COLUMNS = ("record", "class", "file")
OPTIONAL_INDEX_COLUMNS = ("cell_sec", "method", "start_sec")
ATTRIBUTION_SUFFIXES = (".npy", ".npz")


def as_array(attribution: Any) -> np.ndarray:
    """A float64 numpy copy of an array-like or a torch tensor (detached, moved to the CPU)."""
    if hasattr(attribution, "detach"):
        attribution = attribution.detach().cpu().numpy()
    try:
        return np.array(attribution, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputShapeError(f"attribution of type {type(attribution).__name__} is not a numeric array "
                              f"({exc})") from None


def oriented(values: np.ndarray, rows: int, leads: int, what: str) -> np.ndarray:
    """``values`` as (rows, leads), given as (rows, leads) or (leads, rows) after dropping leading axes
    of length 1 (a batch of one); any other shape is an InputShapeError naming the expected one."""
    given = values.shape
    while values.ndim > 2 and values.shape[0] == 1:
        values = values[0]
    if values.shape == (rows, leads):
        return values
    if values.shape == (leads, rows):
        return values.T
    raise InputShapeError(f"{what}: attribution of shape {given} fits neither ({rows}, {leads}) nor "
                          f"({leads}, {rows}) (time x leads or leads x time)")


def _explained_input(signal: Any, settings: ExplainParams, cell_sec: float | None) -> ExplainInput:
    """The model input with its segments: the explainers' events, or the ``cell_sec`` cells."""
    if cell_sec is None:
        return segmented_input(signal.x, signal.fs, settings, signal.lead_names, signal.record_fs,
                               signal.start_sec, signal.end_sec)
    n_samples = len(signal.x)
    cells = cell_bounds(n_samples / signal.fs, float(cell_sec), signal.fs, n_samples)
    return ExplainInput(signal.x, signal.fs, tuple(signal.lead_names), tuple(map(tuple, cells.tolist())),
                        signal.record_fs, signal.start_sec, signal.end_sec)


def attribution_explanation(
    model: Any,
    record: str | Path | Record,
    target: str | int,
    attribution: Any,
    *,
    cell_sec: float | None = None,
    start_sec: float = 0.0,
    method: str = EXTERNAL_METHOD,
    params: ExplainParams | Mapping[str, Any] | None = None,
) -> Explanation:
    """An :class:`Explanation` of ``attribution`` for ``record``'s stretch from ``start_sec`` and class
    ``target`` (a code or a column index), as an ecgxai explainer would have made it.

    ``attribution`` is (T, L) or (L, T) (numpy or torch) with T the model input's length per sample,
    or, with ``cell_sec``, the number of ``cell_sec`` cells over the input (each cell's value its
    total relevance). Spans are derived from the map with ``params``' settings (default: the
    class's); ``method`` labels it.
    """
    classifier = load_model(model)
    rec = record if isinstance(record, Record) else read_record(record)
    if rec.path is None:
        raise ConfigurationError(f"record {rec.name} has no file: the evaluator reads records from their "
                                 "files, so pass its path or a Record read from one")
    signal = classifier_input(classifier, rec, start_sec=start_sec)
    index = classifier.class_index(target)
    code = classifier.class_names[index]
    settings = make_params(params).for_class(code)
    explained = _explained_input(signal, settings, cell_sec)
    unit = "per sample" if cell_sec is None else f"per {cell_sec:g} s cell"
    rows = len(signal.x) if cell_sec is None else len(explained.events)
    values = oriented(as_array(attribution), rows, len(explained.lead_names),
                      f"{rec.name}, class {code}, {unit}")
    common = {"scale": "relative", "method": method, "settings": {"cell_sec": cell_sec}, **explained.axes()}
    if cell_sec is None:
        grid = sample_attribution(values, explained.events, explained.lead_names, **common)
    else:
        grid = segment_attribution(values, explained.events, explained.lead_names, len(signal.x), **common)
    probability = float(classifier.predict(signal.x[None])[0, index])
    return located(explanation_from_map(grid, settings, code, method, probability=probability), rec)


def evaluate_attribution(
    model: Any,
    record: str | Path | Record,
    target: str | int,
    attribution: Any,
    *,
    cell_sec: float | None = None,
    start_sec: float = 0.0,
    method: str = EXTERNAL_METHOD,
    params: ExplainParams | Mapping[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Every metric of an attribution array (see :func:`attribution_explanation`): the row
    :func:`~ecgxai.evaluate.evaluator.evaluate_payload` gives for ecgxai's own explanations;
    ``options`` (``seed``, ``ranking``, ``extra_metrics``, ...) are passed on to it."""
    classifier = load_model(model)
    explanation = attribution_explanation(classifier, record, target, attribution, cell_sec=cell_sec,
                                          start_sec=start_sec, method=method, params=params)
    return evaluate_payload(explanation, classifier, **options)


# --- attribution files and their index --------------------------------------------------------


def load_attribution_file(path: str | Path) -> np.ndarray:
    """The array in a ``.npy`` file, or in a ``.npz`` holding one array (or one named ``attribution``);
    read without pickle."""
    path = Path(path)
    if path.suffix not in ATTRIBUTION_SUFFIXES:
        raise ConfigurationError(f"{path}: attribution files must be {' or '.join(ATTRIBUTION_SUFFIXES)}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return loaded
        with loaded:
            names = loaded.files
            if len(names) != 1 and "attribution" not in names:
                raise ConfigurationError(f"{path}: holds arrays {names}; keep one, or name it 'attribution'")
            return loaded[names[0] if len(names) == 1 else "attribution"]
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigurationError(f"{path}: not a readable attribution array ({exc})") from None


def read_attribution_index(path: str | Path) -> list[dict[str, str | None]]:
    """The rows of an index (CSV, or JSON: a list of objects), every value as text (None when empty);
    an index without the required columns is a ConfigurationError."""
    path = Path(path)
    try:
        if path.suffix == ".json":
            rows = json.loads(path.read_text())
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise ConfigurationError(f"{path}: a JSON index must be a list of objects")
            table = pd.DataFrame(rows)
        else:
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path}: unreadable attribution index ({exc})") from None
    missing = [column for column in INDEX_COLUMNS if column not in table.columns]
    if missing:
        raise ConfigurationError(f"{path}: index lacks columns {missing}; needs {list(INDEX_COLUMNS)}, "
                                 f"optionally {list(OPTIONAL_INDEX_COLUMNS)}")
    return [{column: _text(value) for column, value in row.items()} for row in table.to_dict("records")]


def _text(value: Any) -> str | None:
    """An index value as text; None for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return None
    return str(value).strip()


def _seconds(row: Mapping[str, Any], column: str) -> float | None:
    """An optional number of seconds of an index row."""
    value = row.get(column)
    try:
        return None if value is None else float(value)
    except ValueError:
        raise ConfigurationError(f"{column} must be a number of seconds, got {value!r}") from None


def _row_explanation(row: Mapping[str, Any], folder: Path, classifier: Classifier,
                     data_root: Path | None) -> Explanation:
    """The explanation of one index row; files relative to the index, records to ``data_root`` or it."""
    empty = [column for column in INDEX_COLUMNS if row.get(column) is None]
    if empty:
        raise ConfigurationError(f"empty {empty}")
    values = load_attribution_file(folder / str(row["file"]))
    return attribution_explanation(classifier, (data_root or folder) / str(row["record"]), str(row["class"]),
                                   values, cell_sec=_seconds(row, "cell_sec"),
                                   start_sec=_seconds(row, "start_sec") or 0.0,
                                   method=row.get("method") or EXTERNAL_METHOD)


def index_payloads(index: str | Path, model: Any, *, data_root: str | Path | None = None
                   ) -> tuple[list[Explanation], pd.DataFrame]:
    """The explanations of an index's rows, and its bad rows as an errors table (:data:`ERROR_COLUMNS`),
    skipped as bad records are. ``file`` paths are relative to the index's folder, ``record`` paths to
    ``data_root`` (default: the index's folder too)."""
    index = Path(index)
    classifier = load_model(model)
    root = None if data_root is None else Path(data_root)
    explanations, errors = [], []
    for number, row in enumerate(read_attribution_index(index), start=1):
        try:
            explanations.append(_row_explanation(row, index.parent, classifier, root))
        except ECGXAIError as exc:
            errors.append({"record": row.get("record"), "path": row.get("file"),
                           "error_type": type(exc).__name__, "message": f"{index}: row {number}: {exc}"})
    return explanations, pd.DataFrame(errors, columns=ERROR_COLUMNS)
