"""Resumable explanation runs written to a folder, one JSON payload per record as it completes.

Layout: ``OUT/payloads/<method>/<class>/<record>.json`` (written atomically), then
``OUT/<method>.csv`` (one row per payload) and ``OUT/<method>.errors.csv``. Running
the same command again skips records whose payload exists; ``force`` recomputes.
``fused`` runs LIME and TimeSHAP (each kept and resumable too) and fuses them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ecgxai.errors import ConfigurationError, ECGXAIError
from ecgxai.explain.explainers import explain_record, make_explainer
from ecgxai.explain.methods import CAPTUM_PREFIX, METHODS, is_method, resolve_method
from ecgxai.explain.payload import Explanation
from ecgxai.explain.pipeline import RUN_TABLE_COLUMNS, explanation_row, fuse_for_class
from ecgxai.explain.settings import ExplainParams, make_params
from ecgxai.io.files import check_safe_name, write_json_atomic, write_table
from ecgxai.io.records import record_base, signal_file_of
from ecgxai.models.base import Classifier
from ecgxai.models.predict import ERROR_COLUMNS, error_row
from ecgxai.models.spec import ModelRef, shippable, worker_classifier
from ecgxai.parallel import Execution, TaskFailure, as_execution, run_tasks

log = logging.getLogger(__name__)

RUN_METHODS: tuple[str, ...] = (*METHODS, "fused")
#: The methods ``fused`` runs (each kept and resumable) before fusing them.
FUSED_PARTS: tuple[str, ...] = ("lime", "timeshap")


@dataclass(frozen=True)
class WorkItem:
    """One record to explain for one class, on the stretch of the model's length from ``start_sec``."""

    group_class: str
    filename: str
    sel_idx: int
    start_sec: float = 0.0

    @property
    def record(self) -> str:
        """Record name, checked to be a safe file name (no path separators or '..')."""
        return check_safe_name(record_base(self.filename).name, f"record name of {self.filename}", dots=True)


def items_from_selection(selection: pd.DataFrame, targets: Iterable[str] | None = None) -> list[WorkItem]:
    """Work items from a selection table (``group_class``, ``filename``, ``sel_idx``, and the stretch's
    ``start_sec`` when the selection chose one)."""
    wanted = None if targets is None else {str(t) for t in targets}
    starts = selection["start_sec"] if "start_sec" in selection else pd.Series(0.0, index=selection.index)
    return [WorkItem(str(r.group_class), str(r.filename), int(r.sel_idx), float(start))
            for r, start in zip(selection.itertuples(index=False), starts, strict=True)
            if wanted is None or str(r.group_class) in wanted]


def items_from_records(records: Iterable[str | Path], targets: Iterable[str],
                       starts: Mapping[str, Mapping[str, float]] | float = 0.0) -> list[WorkItem]:
    """Every record explained for every target, from ``starts`` seconds: one start for all, or
    {record path: {target: start}} (``Predictions.best_starts``; 0 s for a record it lacks)."""
    def start(path: str, target: str) -> float:
        if isinstance(starts, int | float):
            return float(starts)
        return float(starts.get(path, {}).get(target, 0.0))

    return [WorkItem(str(t), str(signal_file_of(path)), i, start(str(path), str(t)))
            for i, path in enumerate(records) for t in targets]


def payload_path(out_dir: Path, method: str, item: WorkItem) -> Path:
    """Where the payload of ``item`` for ``method`` lives."""
    check_safe_name(item.group_class, "class code", dots=True)
    return out_dir / "payloads" / method / item.group_class / f"{item.record}.json"


def _load(path: Path) -> Explanation:
    return Explanation.from_json(path.read_text())


@dataclass(frozen=True)
class _ExplainTask:
    """Task: explain one work item with one method (on this worker's copy of the model)."""

    model: ModelRef
    method: str
    params: ExplainParams | Mapping[str, Any] | None
    seed: int | None

    def __call__(self, item: WorkItem) -> Explanation:
        explanation = explain_record(worker_classifier(self.model), item.filename, item.group_class,
                                     method=self.method, params=self.params, seed=self.seed,
                                     start_sec=item.start_sec)
        explanation.sel_idx = item.sel_idx
        return explanation


@dataclass
class _Outcome:
    """Per work item position: the explanation's table row, or the error row of its failure."""

    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    errors: dict[int, dict[str, str]] = field(default_factory=dict)

    def add(self, position: int, item: WorkItem, explanation: Explanation) -> None:
        self.rows[position] = explanation_row(item.group_class, item.sel_idx, item.filename, explanation,
                                              with_map=False)

    def fail(self, position: int, item: WorkItem, error: BaseException | TaskFailure) -> None:
        failure = error if isinstance(error, TaskFailure) else TaskFailure.from_exception(error)
        log.warning("skipping %s for %s: %s", item.filename, item.group_class, failure.message)
        self.errors[position] = error_row(item.filename, failure)

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Rows and errors in work-item order, whatever order the workers finished in."""
        return (pd.DataFrame([self.rows[k] for k in sorted(self.rows)], columns=RUN_TABLE_COLUMNS),
                pd.DataFrame([self.errors[k] for k in sorted(self.errors)], columns=ERROR_COLUMNS))


def _finished(path: Path, force: bool) -> Explanation | None:
    """The payload already written at ``path`` (None to compute it: absent, forced or unreadable)."""
    if force or not path.is_file():
        return None
    try:
        return _load(path)
    except (ValueError, TypeError) as exc:
        log.warning("%s: unreadable payload, recomputing it (%s)", path, exc)
        return None


def _explain_method(classifier: Classifier, items: list[WorkItem], method: str, out: Path,
                    params: ExplainParams | Mapping[str, Any] | None, seed: int | None, force: bool,
                    execution: Execution, progress: bool) -> _Outcome:
    """Explain the items not yet done with one base method, writing each payload as it arrives."""
    outcome, todo = _Outcome(), []
    for position, item in enumerate(items):
        try:
            done = _finished(payload_path(out, method, item), force)
        except ECGXAIError as exc:
            outcome.fail(position, item, exc)
            continue
        if done is None:
            todo.append(position)
        else:
            outcome.add(position, item, done)
    task = _ExplainTask(shippable(classifier, execution.in_process), method, params, seed)
    for k, result in run_tasks(task, [items[p] for p in todo], execution, desc=f"explain {method}",
                               progress=progress):
        position = todo[k]
        if isinstance(result, TaskFailure):
            outcome.fail(position, items[position], result)
            continue
        write_json_atomic(payload_path(out, method, items[position]), json.loads(result.to_json()))
        outcome.add(position, items[position], result)
    return outcome


def _fuse_all(items: list[WorkItem], out: Path, parts: list[_Outcome], force: bool,
              fusion_kwargs: Mapping[str, Any]) -> _Outcome:
    """Fuse the LIME and TimeSHAP payloads of every item both explained (cheap: done here)."""
    outcome = _Outcome()
    for position, item in enumerate(items):
        failed = next((part.errors[position] for part in parts if position in part.errors), None)
        if failed is not None:
            outcome.errors[position] = failed
            continue
        path = payload_path(out, "fused", item)
        fused = _finished(path, force)
        if fused is None:
            lime, shap = (_load(payload_path(out, m, item)) for m in FUSED_PARTS)
            fused = fuse_for_class(lime, shap, item.group_class, **fusion_kwargs)
            fused.sel_idx = item.sel_idx
            write_json_atomic(path, json.loads(fused.to_json()))
        outcome.add(position, item, fused)
    return outcome


def run_explanations(
    classifier: Classifier,
    items: list[WorkItem],
    method: str,
    out_dir: str | Path,
    *,
    params: ExplainParams | Mapping[str, Any] | None = None,
    seed: int | None = None,
    force: bool = False,
    progress: bool = True,
    fusion_kwargs: Mapping[str, Any] | None = None,
    execution: Execution | int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Explain every item, writing each payload as it completes; returns (table, errors).

    A failing record is logged, listed in the errors table and skipped. ``execution``
    is a number of local worker processes or an :class:`~ecgxai.parallel.Execution`
    (Dask); each worker loads the model (which must come from a file) once. Tables are
    in item order and payloads are the same whichever backend ran them. ``method="auto"`` runs
    the method and settings :data:`~ecgxai.explain.methods.AUTO_CHOICE` picks for the classifier.
    """
    method, params = resolve_method(method, classifier, params)
    if method not in RUN_METHODS and not is_method(method):
        raise ConfigurationError(f"unknown method {method!r}; choose from {', '.join(RUN_METHODS)}, "
                                 f"{CAPTUM_PREFIX}NAME or auto")
    if method != "fused":  # before any work: a Captum class unknown or absent, a model it cannot run
        make_explainer(method, classifier, make_params(params))
    out, execution = Path(out_dir), as_execution(execution)
    methods = FUSED_PARTS if method == "fused" else (method,)
    parts = [_explain_method(classifier, items, m, out, params, seed, force, execution, progress)
             for m in methods]
    outcome = _fuse_all(items, out, parts, force, fusion_kwargs or {}) if method == "fused" else parts[0]
    table, error_table = outcome.tables()
    write_table(table, out / f"{method}.csv")
    write_table(error_table, out / f"{method}.errors.csv")
    return table, error_table
