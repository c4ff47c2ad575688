"""Resumable evaluation of saved payloads: one JSON row per payload as it completes, then the tables.

``OUT`` (``.csv`` or ``.parquet``) gets the metrics table and ``OUT.summary.csv`` the
per-class summary; finished rows are kept in ``OUT.parts/`` so an interrupted run
resumes where it stopped (``force`` recomputes). The evaluation's settings go to the
``evaluate`` section of its run folder's manifest (:mod:`ecgxai.explain.run_folder`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgxai import config
from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.evaluator import METRIC_COLUMNS, evaluate_payload, iter_payloads, summarise_metrics
from ecgxai.explain.payload import Explanation
from ecgxai.explain.run_folder import RunFolder, RunKey, model_settings, parts_dir, summary_path
from ecgxai.io.files import write_json_atomic, write_table
from ecgxai.models.base import Classifier
from ecgxai.models.predict import ERROR_COLUMNS
from ecgxai.models.spec import ModelRef, shippable, worker_classifier
from ecgxai.parallel import Execution, TaskFailure, as_execution, run_tasks

log = logging.getLogger(__name__)


def load_payload_files(sources: Iterable[str | Path]) -> list[Explanation]:
    """Payloads from JSON files (one payload, or nested {class: {key: payload}}) and folders of them."""
    files: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            files.extend(sorted(source.rglob("*.json")))
        elif source.is_file():
            files.append(source)
        else:
            raise ConfigurationError(f"{source}: no such payload file or folder")
    payloads = []
    for path in files:
        try:
            data = json.loads(path.read_text())
            payloads.extend(p for _, p in iter_payloads(data))
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"{path}: not a payload JSON file ({exc})") from None
    return payloads


def _part_name(payload: Explanation, use_priors: bool, method_label: str | None,
               extra_metrics: Sequence[str] = (), ranking_scale: str = "probability") -> str:
    settings = [use_priors, *sorted(extra_metrics)]  # a row made with other settings is not reused
    if ranking_scale != "probability":  # rows of the default scale keep their names
        settings.append(ranking_scale)
    identity = json.dumps([payload.mat_path, payload.target_code, payload.target_label,
                           method_label or payload.method_label, settings, payload.to_json()])
    return hashlib.sha256(identity.encode()).hexdigest()[:24] + ".json"


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A metrics row as JSON values that read back exactly (builtin numbers round-trip); NaN as null."""
    values = {key: value.item() if isinstance(value, np.generic) else value for key, value in row.items()}
    return {key: None if isinstance(value, float) and math.isnan(value) else value
            for key, value in values.items()}


@dataclass(frozen=True)
class _EvaluateTask:
    """Task: the metrics row of one payload (on this worker's copy of the model), as JSON values."""

    model: ModelRef
    method_label: str | None
    use_priors: bool
    seed: int | None
    data_root: str | Path | None
    extra_metrics: tuple[str, ...] = ()
    ranking_scale: str = "probability"

    def __call__(self, payload: Explanation) -> dict[str, Any]:
        row = evaluate_payload(payload, worker_classifier(self.model), use_priors=self.use_priors,
                               seed=self.seed, data_root=self.data_root, extra_metrics=self.extra_metrics,
                               ranking_scale=self.ranking_scale)
        if self.method_label is not None:
            row["method"] = self.method_label
        return _json_row(row)


def _failure_row(payload: Explanation, method_label: str | None, failure: TaskFailure) -> dict[str, Any]:
    """The metrics row of a payload that could not be evaluated: its key and the error."""
    key = RunKey.of_payload(payload)
    return {"record": key.record, "meta_code": key.class_code, "mat_path": payload.mat_path,
            "method": method_label or key.method, "error": f"{failure.error_type}: {failure.message}"}


def evaluate_to_files(
    payloads: list[Explanation],
    classifier: Classifier,
    out: str | Path,
    *,
    method_label: str | None = None,
    use_priors: bool = False,
    seed: int | None = None,
    data_root: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    execution: Execution | int | None = None,
    extra_metrics: Sequence[str] = (),
    ranking_scale: str = "probability",
    run_dir: str | Path | None = None,
    manifest_extra: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate every payload (reusing finished rows), write the table and summary; return both.

    ``extra_metrics`` adds the expensive metrics of :data:`~ecgxai.evaluate.evaluator.EXTRA_METRICS`;
    ``ranking_scale`` is that of :func:`~ecgxai.evaluate.evaluator.evaluate_payload`.

    Each finished row is written to ``OUT.parts/`` as it arrives. ``execution`` is a
    number of local worker processes or an :class:`~ecgxai.parallel.Execution` (Dask);
    rows come out in payload order whichever backend computed them. The settings go to the
    manifest of ``run_dir`` (default: OUT's folder) under OUT's name there, with ``manifest_extra``
    (what only the caller knows, e.g. the command line's inputs).
    """
    out = Path(out)
    parts = parts_dir(out)
    execution = as_execution(execution)
    extra = tuple(extra_metrics)
    part_files = [parts / _part_name(payload, use_priors, method_label, extra, ranking_scale)
                  for payload in payloads]
    rows: dict[int, dict[str, Any]] = {}
    todo = []
    for position, part in enumerate(part_files):
        if part.is_file() and not force:
            rows[position] = json.loads(part.read_text())
        else:
            todo.append(position)
    task = _EvaluateTask(shippable(classifier, execution.in_process), method_label, use_priors, seed,
                         data_root, extra, ranking_scale)
    for k, result in run_tasks(task, [payloads[p] for p in todo], execution, desc="evaluate",
                               progress=progress):
        payload = payloads[todo[k]]
        if isinstance(result, TaskFailure):  # not kept as a part: a later run tries again
            log.warning("cannot evaluate %s: %s", payload.mat_path, result.message)
            rows[todo[k]] = _failure_row(payload, method_label, result)
            continue
        write_json_atomic(part_files[todo[k]], result)
        rows[todo[k]] = result
    table = pd.DataFrame([rows[k] for k in sorted(rows)], columns=METRIC_COLUMNS)
    summary = summarise_metrics(table)
    write_table(table, out)
    write_table(summary, summary_path(out))
    folder = RunFolder(Path(run_dir) if run_dir is not None else out.parent)
    name = folder.relative(out)
    folder.record("evaluate", {name: {
        **model_settings(classifier), "out": name, "method_label": method_label, "priors": use_priors,
        "seed": config.resolve_seed(seed), "data_root": None if data_root is None else str(data_root),
        "extra_metrics": list(extra), "ranking_scale": ranking_scale, "execution": execution.describe(),
        "rows": len(table), "failed": int(table["error"].notna().sum()), **(manifest_extra or {})}})
    return table, summary


def metric_errors(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a metrics table that failed, as an errors table (:data:`ERROR_COLUMNS`)."""
    failed = table[table["error"].notna()]
    return pd.DataFrame({"record": failed["mat_path"].map(lambda p: Path(str(p)).stem),
                         "path": failed["mat_path"],
                         "error_type": failed["error"].map(lambda e: str(e).partition(":")[0]),
                         "message": failed["error"]}, columns=ERROR_COLUMNS)
