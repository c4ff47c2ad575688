"""Every method on the same records: explain, evaluate, and one comparison table.

:func:`compare_methods` explains the work items with each method into one run folder
(the layout of ``ecgxai explain``: ``OUT/payloads/<method>/<class>/<record>.json``),
evaluates each method's payloads into ``OUT/metrics/<method>.csv`` (both steps resume
where they stopped), times the model's forward pass once, and writes:

* ``OUT/comparison.csv``: :func:`comparison_table`, one row per method and class and an
  ``all`` row per method, with the cost per record in seconds, model evaluations and
  forward-pass equivalents, the mean of every metric and, beside each, the mean of the
  method's own random baseline (``random_<metric>``: a random map of the same resolution as
  the method's, on the same records);
* ``OUT/comparison_per_record.csv``: the rows those means are taken over (one per method,
  record and class, with the explanation's seconds and model evaluations);
* a ``compare`` section in ``OUT/run.json``.

The figure (:func:`ecgxai.report.comparison.plot_method_comparison`, saved as
``OUT/comparison.svg``) is drawn by the caller, as ``report`` depends on ``evaluate``.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgxai import config
from ecgxai.errors import ConfigurationError, ECGXAIError
from ecgxai.evaluate.metrics import KEY_METRICS, METRICS
from ecgxai.evaluate.runs import evaluate_to_files, metric_errors
from ecgxai.explain.payload import Explanation
from ecgxai.explain.run_folder import COMPARISON_TABLE, PER_RECORD_TABLE, RunFolder, load_payload
from ecgxai.explain.runs import RUN_METHODS, WorkItem, payload_path, run_explanations, warm_up
from ecgxai.explain.settings import ExplainParams
from ecgxai.io.files import write_table
from ecgxai.io.preprocessing import to_model_input
from ecgxai.io.records import read_record
from ecgxai.models.base import Classifier
from ecgxai.models.predict import ERROR_COLUMNS
from ecgxai.parallel import Execution, as_execution

log = logging.getLogger(__name__)

#: The ``meta_code`` (and ``class_name``) of the rows over every class.
ALL_CLASSES, ALL_CLASSES_NAME = "all", "all classes"
#: Every averaged column of the evaluator: each metric, then its random baseline when it has one.
AVERAGED: tuple[str, ...] = tuple(c for m in METRICS for c in (m.column, m.baseline_column) if c)
#: The columns of a comparison table before the metric means.
LEAD_COLUMNS = ["method", "meta_code", "class_name", "n", "seconds_per_record", "evaluations_per_record",
                "forward_equivalents_per_record"]
#: The columns of :attr:`Comparison.errors`.
COMPARE_ERROR_COLUMNS = ["method", *ERROR_COLUMNS]


@dataclass
class Comparison:
    """What :func:`compare_methods` found: the comparison table, the per-record rows it averages
    (``method`` is the run's method name, ``method_label`` the payloads' own label), the records
    that failed to be explained or evaluated, and the forward seconds per record it divided by."""

    table: pd.DataFrame
    per_record: pd.DataFrame
    errors: pd.DataFrame
    forward_seconds: float


def forward_seconds_per_record(classifier: Classifier, x: np.ndarray, repeats: int = 3) -> float:
    """Median seconds per record of one full batch of copies of ``x`` through ``classifier.predict``:
    the unit explanation cost is expressed in (a batch, as explainers send them; the median, so the
    first call's tracing does not count)."""
    batch = np.repeat(np.asarray(x)[None], classifier.batch_size, axis=0)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        classifier.predict(batch)
        times.append((time.perf_counter() - started) / len(batch))
    return statistics.median(times)


def measure_forward(classifier: Classifier, items: Sequence[WorkItem]) -> float:
    """:func:`forward_seconds_per_record` on the first work item's record that can be read (NaN if none)."""
    for item in items:
        try:
            record = read_record(item.filename)
        except ECGXAIError as exc:
            log.debug("forward timing: skipping %s (%s)", item.filename, exc)
            continue
        x = to_model_input(record, maxlen=classifier.input_length, units=classifier.units,
                           lead_names=classifier.lead_names)
        return forward_seconds_per_record(classifier, x)
    return float("nan")


# --- the table ------------------------------------------------------------------------------------


def _class_groups(rows: pd.DataFrame) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(code, name, rows) per class in code order, then (``all``, ..., every row)."""
    for code, group in rows.groupby("meta_code", sort=True):
        yield str(code), str(group["class_name"].iloc[0]), group
    yield ALL_CLASSES, ALL_CLASSES_NAME, rows


def _summary_row(method: str, code: str, name: str, rows: pd.DataFrame, metrics: Sequence[str],
                 forward_seconds: float) -> dict[str, Any]:
    """One table row: how many records, their mean cost and the mean of each metric (NaN skipped)."""
    seconds = rows["seconds"].mean()
    return {"method": method, "meta_code": code, "class_name": name, "n": len(rows),
            "seconds_per_record": seconds, "evaluations_per_record": rows["model_evaluations"].mean(),
            "forward_equivalents_per_record": seconds / forward_seconds,
            **{metric: rows[metric].mean() for metric in metrics}}


def comparison_table(per_record: pd.DataFrame, forward_seconds: float) -> pd.DataFrame:
    """Per method, per class and over all classes: n, cost, the mean of every metric and the mean
    of the method's own random baseline (``random_<metric>``, scored at the method's resolution).

    ``per_record`` has a metrics table's columns plus ``method`` (one value per method compared),
    ``seconds`` and ``model_evaluations`` of each explanation; rows with an ``error`` are left out.
    ``forward_equivalents_per_record`` is ``seconds_per_record / forward_seconds``. Metric columns
    without a value anywhere are dropped.
    """
    ok = per_record[per_record["error"].isna()] if "error" in per_record else per_record
    averaged = [c for c in AVERAGED if c in ok and ok[c].notna().any()]
    rows = [_summary_row(str(method), code, name, group, averaged, forward_seconds)
            for method, of_method in ok.groupby("method", sort=False)
            for code, name, group in _class_groups(of_method)]
    return pd.DataFrame(rows, columns=[*LEAD_COLUMNS, *averaged])


def key_columns(table: pd.DataFrame, baselines: bool = False) -> list[str]:
    """The lead columns and the :data:`KEY_METRICS` with a value (each followed by its random
    baseline when ``baselines``): what a short view of the table shows."""
    shown = [c for m in KEY_METRICS for c in (m, f"random_{m}" if baselines else None)
             if c and c in table and table[c].notna().any()]
    return ["method", "meta_code", "n", "forward_equivalents_per_record", *shown]


# --- running every method -------------------------------------------------------------------------


def _check_methods(methods: Sequence[str]) -> list[str]:
    """The methods in order without repeats; unknown ones refused before any work is done."""
    chosen = list(dict.fromkeys(methods))
    unknown = [m for m in chosen if m not in RUN_METHODS]
    if unknown or not chosen:
        raise ConfigurationError(f"methods must be among {', '.join(RUN_METHODS)}; got {list(methods)}")
    return chosen


def _explained_payloads(out: Path, method: str, items: Sequence[WorkItem],
                        table: pd.DataFrame) -> list[Explanation]:
    """The payloads the explain table lists for ``items`` (not stale files of failed items)."""
    done = set(zip(table["group_class"].astype(str), table["filename"].astype(str), strict=True))
    return [load_payload(payload_path(out, method, item)) for item in items
            if (item.group_class, item.filename) in done]


def per_record_rows(method: str, metrics: pd.DataFrame, payloads: Sequence[Explanation]) -> pd.DataFrame:
    """A method's rows of the per-record table: its metrics table (rows in payload order, as
    ``evaluate_to_files`` returns them) with ``method`` first, the payloads' own label as
    ``method_label``, and each explanation's ``seconds`` and ``model_evaluations``."""
    rows = metrics.rename(columns={"method": "method_label"}).assign(
        seconds=[p.seconds for p in payloads], model_evaluations=[p.model_evaluations for p in payloads])
    rows.insert(0, "method", method)
    return rows


@dataclass(frozen=True)
class _Settings:
    """What every method of one comparison runs with."""

    params: ExplainParams | Mapping[str, Any] | None
    seed: int | None
    force: bool
    progress: bool
    execution: Execution
    extra_metrics: tuple[str, ...]
    ranking_scale: str = "probability"


def _warm_up(classifier: Classifier, items: Sequence[WorkItem], method: str, out: Path,
             settings: _Settings) -> None:
    """:func:`~ecgxai.explain.runs.warm_up` for in-process runs (workers each trace their own)."""
    if settings.execution.in_process:
        warm_up(classifier, items, method, out, params=settings.params, seed=settings.seed,
                force=settings.force)


def _run_method(classifier: Classifier, items: list[WorkItem], method: str, out: Path,
                settings: _Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Explain and evaluate with one method; returns (per-record rows, errors), each with ``method``."""
    _warm_up(classifier, items, method, out, settings)
    explained, explain_errors = run_explanations(
        classifier, items, method, out, params=settings.params, seed=settings.seed, force=settings.force,
        progress=settings.progress, execution=settings.execution)
    payloads = _explained_payloads(out, method, items, explained)
    metrics, _ = evaluate_to_files(payloads, classifier, RunFolder(out).method_metrics(method),
                                   seed=settings.seed, force=settings.force, progress=settings.progress,
                                   execution=settings.execution, extra_metrics=settings.extra_metrics,
                                   ranking_scale=settings.ranking_scale, run_dir=out)
    rows = per_record_rows(method, metrics, payloads)
    errors = pd.concat([explain_errors, metric_errors(metrics)], ignore_index=True)
    errors.insert(0, "method", method)
    return rows, errors


def compare_methods(
    classifier: Classifier,
    items: list[WorkItem],
    methods: Sequence[str],
    out_dir: str | Path,
    *,
    params: ExplainParams | Mapping[str, Any] | None = None,
    seed: int | None = None,
    force: bool = False,
    progress: bool = True,
    execution: Execution | int | None = None,
    extra_metrics: Sequence[str] = (),
    ranking_scale: str = "probability",
) -> Comparison:
    """Explain and evaluate ``items`` with every method, then tabulate (see the module docstring).

    Each method's payloads and metrics rows are kept as they complete, so running again resumes
    (``force`` recomputes); ``fused`` reuses the ``lime`` and ``timeshap`` payloads. The seconds
    per record are those the payloads record (measured when they were computed, on whichever worker
    ran them; in-process runs explain the first record once beforehand, so the first call's tracing
    is not counted); the forward pass is timed once, here, on the first readable record.
    ``ranking_scale`` (``probability`` or ``logit``) is the scale of the ranking metrics.
    """
    chosen = _check_methods(methods)
    if not items:
        raise ConfigurationError("compare_methods needs at least one work item")
    out, folder = Path(out_dir), RunFolder(Path(out_dir))
    settings = _Settings(params, seed, force, progress, as_execution(execution), tuple(extra_metrics),
                         ranking_scale)
    found = [_run_method(classifier, items, method, out, settings) for method in chosen]
    per_record = pd.concat([rows for rows, _ in found], ignore_index=True)
    errors = pd.concat([errs for _, errs in found], ignore_index=True)[COMPARE_ERROR_COLUMNS]
    forward = measure_forward(classifier, items)
    table = comparison_table(per_record, forward)
    write_table(table, folder.file(COMPARISON_TABLE))
    write_table(per_record, folder.file(PER_RECORD_TABLE))
    folder.record("compare", {
        "methods": chosen, "items": len(items), "classes": sorted({i.group_class for i in items}),
        "seed": config.resolve_seed(seed), "params": params, "extra_metrics": list(extra_metrics),
        "ranking_scale": ranking_scale,
        "execution": settings.execution.describe(), "forward_seconds_per_record": forward,
        "table": COMPARISON_TABLE,
        "per_record": PER_RECORD_TABLE, "failed": len(errors)})
    return Comparison(table, per_record, errors, forward)
