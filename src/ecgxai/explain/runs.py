"""Explaining work items: one core for the resumable runs into a folder and the in-memory pipelines.

:func:`explain_items` explains items with one method and yields each result (an explanation, or the
failure that stopped it) as it arrives. Where it keeps explanations is its store: a run folder
(:class:`FolderStore`: each payload written atomically as it completes, found again by the next run,
so running again resumes; ``force`` recomputes) or memory (:class:`MemoryStore`, for the original
toolkit's class pipelines). ``fused`` explains with LIME and TimeSHAP (each kept too) and fuses them
with :func:`fuse_for_class`, the one place fused explanations are made.

:func:`run_explanations` is the run into a folder: the payloads, ``OUT/<method>.csv`` (one row per
payload), ``OUT/<method>.errors.csv`` and the method's entry in the ``explain`` section of
``OUT/run.json`` (layout: :mod:`ecgxai.explain.run_folder`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ecgxai import config
from ecgxai.classes import fusion_weights_for
from ecgxai.errors import ConfigurationError, ECGXAIError
from ecgxai.explain.explainers import explain_record, make_explainer
from ecgxai.explain.fusion import fuse_lime_timeshap_payload
from ecgxai.explain.methods import AUTO, CAPTUM_PREFIX, METHODS, is_method, resolve_method
from ecgxai.explain.payload import Explanation
from ecgxai.explain.run_folder import RunFolder, errors_path, load_payload, model_settings, save_payload
from ecgxai.explain.settings import ExplainParams, make_params
from ecgxai.explain.tables import RUN_TABLE_COLUMNS, explanation_row
from ecgxai.io.files import check_safe_name, write_table
from ecgxai.io.records import record_base, signal_file_of
from ecgxai.models.base import Classifier
from ecgxai.models.predict import ERROR_COLUMNS, error_row
from ecgxai.models.spec import ModelRef, shippable, worker_classifier
from ecgxai.parallel import Execution, TaskFailure, as_execution, run_tasks

log = logging.getLogger(__name__)

RUN_METHODS: tuple[str, ...] = (*METHODS, "fused")
#: The methods ``fused`` runs (each kept and resumable) before fusing them.
FUSED_PARTS: tuple[str, ...] = ("lime", "timeshap")
Params = ExplainParams | Mapping[str, Any] | None
#: One result of :func:`explain_items`: (method, position of the item, its explanation or failure).
Result = tuple[str, int, Explanation | TaskFailure]


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


def payload_path(out_dir: str | Path, method: str, item: WorkItem) -> Path:
    """Where the payload of ``item`` for ``method`` lives in the run folder ``out_dir``."""
    return RunFolder(Path(out_dir)).payload(method, item.group_class, item.record)


def _settings_of(params: Params) -> dict[str, Any]:
    """The explanation settings given, as a dict (of an ExplainParams, the fields not at their default)."""
    if not isinstance(params, ExplainParams):
        return dict(params or {})
    defaults = asdict(ExplainParams())
    return {k: v for k, v in asdict(params).items() if v != defaults[k]}


def resolve_run_method(method: str, classifier: Classifier, params: Params) -> tuple[str, Params]:
    """The method and settings a run uses (``auto`` resolved), checked before any work is done: an
    unknown method, a Captum class unknown or absent, a model the method cannot run."""
    if method == AUTO:
        method, params = resolve_method(method, classifier, _settings_of(params))
    if method not in RUN_METHODS and not is_method(method):
        raise ConfigurationError(f"unknown method {method!r}; choose from {', '.join(RUN_METHODS)}, "
                                 f"{CAPTUM_PREFIX}NAME or auto")
    if method != "fused":
        make_explainer(method, classifier, make_params(params))
    return method, params


def fuse_for_class(lime: Explanation, shap: Explanation, code: str, **fusion_kwargs: Any) -> Explanation:
    """Fuse with the class's method weights (``FUSION_WEIGHTS_BY_SNOMED``) unless given explicitly."""
    settings = {"method_weights": fusion_weights_for(code), **fusion_kwargs}
    return fuse_lime_timeshap_payload(lime, shap, **settings)


class PayloadStore(Protocol):
    """Where :func:`explain_items` keeps the explanations it makes and finds those made before."""

    def get(self, method: str, item: WorkItem) -> Explanation | None:
        """The explanation of ``item`` by ``method`` kept here, or None."""

    def put(self, method: str, item: WorkItem, explanation: Explanation) -> None:
        """Keep the explanation of ``item`` by ``method``."""


@dataclass(frozen=True)
class FolderStore:
    """The payload files of a run folder (``payloads/<method>/<class>/<record>.json``)."""

    folder: RunFolder

    def get(self, method: str, item: WorkItem) -> Explanation | None:
        """The payload file's explanation; None when absent or unreadable (so it is recomputed)."""
        path = self.folder.payload(method, item.group_class, item.record)
        if not path.is_file():
            return None
        try:
            return load_payload(path)
        except (ValueError, TypeError) as exc:
            log.warning("%s: unreadable payload, recomputing it (%s)", path, exc)
            return None

    def put(self, method: str, item: WorkItem, explanation: Explanation) -> None:
        """Write the payload file atomically."""
        save_payload(self.folder.payload(method, item.group_class, item.record), explanation)


@dataclass
class MemoryStore:
    """Explanations kept in memory, for runs without a folder."""

    kept: dict[tuple[str, WorkItem], Explanation] = field(default_factory=dict)

    def get(self, method: str, item: WorkItem) -> Explanation | None:
        """The explanation made in this run, or None."""
        return self.kept.get((method, item))

    def put(self, method: str, item: WorkItem, explanation: Explanation) -> None:
        """Keep it for the rest of the run."""
        self.kept[(method, item)] = explanation


@dataclass(frozen=True)
class _ExplainTask:
    """Task: explain one work item with one method (on this worker's copy of the model)."""

    model: ModelRef
    method: str
    params: Params
    seed: int | None

    def __call__(self, item: WorkItem) -> Explanation:
        explanation = explain_record(worker_classifier(self.model), item.filename, item.group_class,
                                     method=self.method, params=self.params, seed=self.seed,
                                     start_sec=item.start_sec)
        explanation.sel_idx = item.sel_idx
        return explanation


@dataclass(frozen=True)
class _Settings:
    """What every method of one call of :func:`explain_items` runs with."""

    params: Params
    seed: int | None
    force: bool
    progress: bool
    execution: Execution


def _failure(method: str, item: WorkItem, failure: TaskFailure) -> TaskFailure:
    log.warning("skipping %s for %s (%s): %s", item.filename, item.group_class, method, failure.message)
    return failure


def _explain_base(classifier: Classifier, items: list[WorkItem], method: str, store: PayloadStore,
                  settings: _Settings) -> Iterator[Result]:
    """One base method: what the store has (unless forced) as it is, the rest explained and kept as
    each arrives."""
    todo = []
    for position, item in enumerate(items):
        try:
            done = None if settings.force else store.get(method, item)
        except ECGXAIError as exc:  # e.g. a record name that cannot be a file name
            yield method, position, _failure(method, item, TaskFailure.from_exception(exc))
            continue
        if done is None:
            todo.append(position)
        else:
            yield method, position, done
    task = _ExplainTask(shippable(classifier, settings.execution.in_process), method, settings.params,
                        settings.seed)
    for k, result in run_tasks(task, [items[p] for p in todo], settings.execution, desc=f"explain {method}",
                               progress=settings.progress):
        item = items[todo[k]]
        if isinstance(result, TaskFailure):
            result = _failure(method, item, result)
        else:
            store.put(method, item, result)
        yield method, todo[k], result


def _fuse(items: list[WorkItem], store: PayloadStore, failed: Mapping[int, TaskFailure], force: bool,
          fusion_kwargs: Mapping[str, Any]) -> Iterator[Result]:
    """Fuse the LIME and TimeSHAP explanations of every item both explained (cheap: done here)."""
    for position, item in enumerate(items):
        if position in failed:
            yield "fused", position, failed[position]
            continue
        fused = None if force else store.get("fused", item)
        if fused is None:
            lime, shap = (store.get(method, item) for method in FUSED_PARTS)
            fused = fuse_for_class(lime, shap, item.group_class, **fusion_kwargs)
            fused.sel_idx = item.sel_idx
            store.put("fused", item, fused)
        yield "fused", position, fused


def _all_written(out: Path, method: str, items: Sequence[WorkItem]) -> bool:
    """Whether every item's payload for ``method`` exists; an item whose name is unsafe has none
    (the run reports it)."""
    try:
        return all(payload_path(out, method, item).is_file() for item in items)
    except ECGXAIError:
        return False


def warm_up(classifier: Classifier, items: Sequence[WorkItem], method: str, out_dir: str | Path, *,
            params: Params = None, seed: int | None = None, force: bool = False, attempts: int = 3) -> None:
    """Explain one item once, untimed and not kept, before ``method`` runs into ``out_dir``, so compiling
    the model's functions (the first call's tracing) is not counted in its first record's seconds; the
    first of ``attempts`` items that can be explained is used. Skipped for a method (or fused part)
    whose payloads all exist, as a resumed run times nothing."""
    bases = FUSED_PARTS if method == "fused" else (method,)
    for base in [m for m in bases if force or not _all_written(Path(out_dir), m, items)]:
        for item in items[:attempts]:
            try:
                explain_record(classifier, item.filename, item.group_class, method=base, params=params,
                               seed=seed)
                break
            except ECGXAIError as exc:  # the run itself reports the record
                log.debug("warm-up of %s on %s failed: %s", base, item.filename, exc)


def explain_items(
    classifier: Classifier,
    items: list[WorkItem],
    method: str,
    store: PayloadStore,
    *,
    params: Params = None,
    seed: int | None = None,
    force: bool = False,
    progress: bool = True,
    execution: Execution | int | None = None,
    fusion_kwargs: Mapping[str, Any] | None = None,
) -> Iterator[Result]:
    """Explain every item with ``method`` (a run method: see :func:`resolve_run_method`), keeping each
    explanation in ``store``; yield (method, position, explanation or failure) as each arrives.

    What the store has already is yielded as it is unless ``force``. For ``fused`` the LIME and
    TimeSHAP results come first, then the fused ones (an item whose part failed fails with that
    failure). A record that fails (an ``ECGXAIError``) is logged and yields its failure; the rest go on.
    """
    settings = _Settings(params, seed, force, progress, as_execution(execution))
    if method != "fused":
        yield from _explain_base(classifier, items, method, store, settings)
        return
    failed: dict[int, TaskFailure] = {}
    for part in FUSED_PARTS:
        for found, position, result in _explain_base(classifier, items, part, store, settings):
            if isinstance(result, TaskFailure):
                failed.setdefault(position, result)
            yield found, position, result
    yield from _fuse(items, store, failed, force, fusion_kwargs or {})


def run_explanations(
    classifier: Classifier,
    items: list[WorkItem],
    method: str,
    out_dir: str | Path,
    *,
    params: Params = None,
    seed: int | None = None,
    force: bool = False,
    progress: bool = True,
    fusion_kwargs: Mapping[str, Any] | None = None,
    execution: Execution | int | None = None,
    manifest_extra: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Explain every item, writing each payload as it completes; returns (table, errors).

    A failing record is logged, listed in the errors table and skipped. ``execution``
    is a number of local worker processes or an :class:`~ecgxai.parallel.Execution`
    (Dask); each worker loads the model (which must come from a file) once. Tables are
    in item order and payloads are the same whichever backend ran them. ``method="auto"`` runs
    the method and settings :data:`~ecgxai.explain.methods.AUTO_CHOICE` picks for the classifier.
    The run's settings go to the manifest, with ``manifest_extra`` (what only the caller knows,
    e.g. the command line's inputs).
    """
    method, params = resolve_run_method(method, classifier, params)
    folder, execution = RunFolder(Path(out_dir)), as_execution(execution)
    rows: dict[int, dict[str, Any]] = {}
    errors: dict[int, dict[str, str]] = {}
    for found, position, result in explain_items(
            classifier, items, method, FolderStore(folder), params=params, seed=seed, force=force,
            progress=progress, execution=execution, fusion_kwargs=fusion_kwargs):
        item = items[position]
        if found != method:
            continue
        if isinstance(result, TaskFailure):
            errors[position] = error_row(item.filename, result)
        else:
            rows[position] = explanation_row(item.group_class, item.sel_idx, item.filename, result,
                                             with_map=False)
    table = pd.DataFrame([rows[k] for k in sorted(rows)], columns=RUN_TABLE_COLUMNS)
    error_table = pd.DataFrame([errors[k] for k in sorted(errors)], columns=ERROR_COLUMNS)
    write_table(table, folder.explain_table(method))
    write_table(error_table, errors_path(folder.explain_table(method)))
    folder.record("explain", {method: {
        **model_settings(classifier), "method": method, **_settings_of(params),
        **({"fusion": dict(fusion_kwargs or {})} if method == "fused" else {}),
        "targets": sorted({item.group_class for item in items}),
        "seed": config.resolve_seed(seed), "execution": execution.describe(), "items": len(items),
        "failed": len(error_table), **(manifest_extra or {})}})
    return table, error_table
