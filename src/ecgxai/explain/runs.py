"""Resumable explanation runs written to a folder, one JSON payload per record as it completes.

Layout: ``OUT/payloads/<method>/<class>/<record>.json`` (written atomically), then
``OUT/<method>.csv`` (one row per payload) and ``OUT/<method>.errors.csv``. Running
the same command again skips records whose payload exists; ``force`` recomputes.
``fused`` runs LIME and TimeSHAP (each kept and resumable too) and fuses them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ecgxai.errors import ConfigurationError, ECGXAIError
from ecgxai.explain.explainers import METHODS, ExplainParams, explain_record
from ecgxai.explain.payload import Explanation
from ecgxai.explain.pipeline import TABLE_COLUMNS, explanation_row, fuse_for_class
from ecgxai.io.files import write_json_atomic, write_table
from ecgxai.io.records import record_base, signal_file_of
from ecgxai.models.base import Classifier
from ecgxai.models.predict import ERROR_COLUMNS

log = logging.getLogger(__name__)

RUN_METHODS: tuple[str, ...] = (*METHODS, "fused")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class WorkItem:
    """One record to explain for one class."""

    group_class: str
    filename: str
    sel_idx: int

    @property
    def record(self) -> str:
        """Record name, checked to be a safe file name (no path separators or '..')."""
        name = record_base(self.filename).name
        if not _SAFE_NAME.match(name) or ".." in name:
            raise ConfigurationError(f"{self.filename}: record name {name!r} is not a safe file name")
        return name


def items_from_selection(selection: pd.DataFrame, targets: Iterable[str] | None = None) -> list[WorkItem]:
    """Work items from a selection table (``group_class``, ``filename``, ``sel_idx``)."""
    wanted = None if targets is None else {str(t) for t in targets}
    return [WorkItem(str(r.group_class), str(r.filename), int(r.sel_idx))
            for r in selection.itertuples(index=False)
            if wanted is None or str(r.group_class) in wanted]


def items_from_records(records: Iterable[str | Path], targets: Iterable[str]) -> list[WorkItem]:
    """Every record explained for every target."""
    return [WorkItem(str(t), str(signal_file_of(path)), i) for i, path in enumerate(records) for t in targets]


def payload_path(out_dir: Path, method: str, item: WorkItem) -> Path:
    """Where the payload of ``item`` for ``method`` lives."""
    if not _SAFE_NAME.match(item.group_class):
        raise ConfigurationError(f"class code {item.group_class!r} is not a safe folder name")
    return out_dir / "payloads" / method / item.group_class / f"{item.record}.json"


def _load(path: Path) -> Explanation:
    return Explanation.from_json(path.read_text())


def _explain_one(classifier: Classifier, item: WorkItem, method: str, out_dir: Path,
                 params: ExplainParams | Mapping[str, Any] | None, seed: int | None, force: bool,
                 fusion_kwargs: Mapping[str, Any]) -> Explanation:
    """Load the finished payload, or compute it (fused from its two parts) and write it."""
    path = payload_path(out_dir, method, item)
    if path.is_file() and not force:
        return _load(path)
    if method == "fused":
        lime, shap = (_explain_one(classifier, item, m, out_dir, params, seed, force, fusion_kwargs)
                      for m in ("lime", "timeshap"))
        explanation = fuse_for_class(lime, shap, item.group_class, **fusion_kwargs)
    else:
        explanation = explain_record(classifier, item.filename, item.group_class, method=method,
                                     params=params, seed=seed)
    explanation.sel_idx = item.sel_idx
    write_json_atomic(path, json.loads(explanation.to_json()))
    return explanation


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
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Explain every item, writing each payload as it completes; returns (table, errors).

    A failing record is logged, listed in the errors table and skipped.
    """
    if method not in RUN_METHODS:
        raise ConfigurationError(f"unknown method {method!r}; choose from {', '.join(RUN_METHODS)}")
    out = Path(out_dir)
    rows, errors = [], []
    for item in tqdm(items, desc=f"explain {method}", unit="rec", disable=not progress):
        try:
            explanation = _explain_one(classifier, item, method, out, params, seed, force,
                                       fusion_kwargs or {})
        except ECGXAIError as exc:
            log.warning("skipping %s for %s: %s", item.filename, item.group_class, exc)
            errors.append({"record": record_base(item.filename).name, "path": item.filename,
                           "error_type": type(exc).__name__, "message": str(exc)})
            continue
        rows.append(explanation_row(item.group_class, item.sel_idx, item.filename, explanation))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    error_table = pd.DataFrame(errors, columns=ERROR_COLUMNS)
    write_table(table, out / f"{method}.csv")
    write_table(error_table, out / f"{method}.errors.csv")
    return table, error_table
