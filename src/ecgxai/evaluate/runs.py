"""Resumable evaluation of saved payloads: one JSON row per payload as it completes, then the tables.

``OUT`` (``.csv`` or ``.parquet``) gets the metrics table and ``OUT.summary.csv`` the
per-class summary; finished rows are kept in ``OUT.parts/`` so an interrupted run
resumes where it stopped (``force`` recomputes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgxai.errors import ConfigurationError, ECGXAIError
from ecgxai.evaluate.evaluator import METRIC_COLUMNS, evaluate_payload, iter_payloads, summarise_metrics
from ecgxai.explain.payload import Explanation
from ecgxai.io.files import write_json_atomic, write_table
from ecgxai.models.base import Classifier

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


def _part_name(payload: Explanation, use_priors: bool, method_label: str | None) -> str:
    identity = json.dumps([payload.mat_path, payload.target_code, payload.target_label,
                           method_label or payload.method_label, use_priors, payload.to_json()])
    return hashlib.sha256(identity.encode()).hexdigest()[:24] + ".json"


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A metrics row as JSON values that read back exactly (builtin numbers round-trip); NaN as null."""
    values = {key: value.item() if isinstance(value, np.generic) else value for key, value in row.items()}
    return {key: None if isinstance(value, float) and math.isnan(value) else value
            for key, value in values.items()}


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
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate every payload (reusing finished rows), write the table and summary; return both."""
    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    rows: list[dict[str, Any]] = []
    for payload in tqdm(payloads, desc="evaluate", unit="rec", disable=not progress):
        part = parts / _part_name(payload, use_priors, method_label)
        if part.is_file() and not force:
            rows.append(json.loads(part.read_text()))
            continue
        try:
            row = evaluate_payload(payload, classifier, use_priors=use_priors, seed=seed,
                                   data_root=data_root)
        except ECGXAIError as exc:  # not kept as a part: a later run tries again
            log.warning("cannot evaluate %s: %s", payload.mat_path, exc)
            rows.append({"mat_path": payload.mat_path, "error": f"{type(exc).__name__}: {exc}"})
            continue
        if method_label is not None:
            row["method"] = method_label
        write_json_atomic(part, _json_row(row))
        rows.append(row)
    table = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    summary = summarise_metrics(table)
    write_table(table, out)
    write_table(summary, out.with_name(f"{out.stem}.summary.csv"))
    return table, summary
