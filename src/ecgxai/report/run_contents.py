"""What the HTML report shows, read from a run folder (its layout: :mod:`ecgxai.explain.run_folder`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.compare import comparison_table
from ecgxai.explain.run_folder import (
    COMPARISON_TABLE,
    LOCALISATION_TABLE,
    PayloadEntry,
    RunFolder,
    RunKey,
    metrics_by_key,
)
from ecgxai.report.markup import is_number


@dataclass
class RunContents:
    """Everything the report shows, read from a run folder; ``comparison`` is ``comparison.csv``, else
    the same table from the metrics tables and the payloads' cost (None without metrics)."""

    run_dir: Path
    manifest: dict[str, Any]
    entries: list[PayloadEntry]
    metrics: pd.DataFrame
    comparison: pd.DataFrame | None = None
    localisation: pd.DataFrame | None = None
    by_key: dict[RunKey, pd.DataFrame] = field(default_factory=dict)

    def metric_rows(self, entry: PayloadEntry) -> pd.DataFrame:
        """The metrics rows of one payload, matched by (record, class, method label)."""
        key = entry.key
        return self.by_key.get(key, self.metrics.iloc[:0]) if key is not None else self.metrics.iloc[:0]


def load_run(run_dir: str | Path) -> RunContents:
    """Manifest, payloads, metrics tables and comparison tables of a run folder (its layout:
    :mod:`ecgxai.explain.run_folder`)."""
    folder = RunFolder(Path(run_dir))
    if not folder.root.is_dir():
        raise ConfigurationError(f"{run_dir}: no such run folder")
    manifest = folder.manifest()
    entries = folder.read_payloads()
    if not entries:
        raise ConfigurationError(f"{run_dir}: no payloads found (expected payloads/<method>/<class>/"
                                 "<record>.json, as 'ecgxai explain --out' writes)")
    metrics = folder.read_metrics(manifest)
    run = RunContents(folder.root, manifest, entries, metrics, folder.read_optional(COMPARISON_TABLE),
                      folder.read_optional(LOCALISATION_TABLE), metrics_by_key(metrics))
    if run.comparison is None:
        run.comparison = _derived_comparison(run, _forward_seconds(manifest))
    return run


def _derived_comparison(run: RunContents, forward_seconds: float) -> pd.DataFrame | None:
    """The table ``ecgxai compare`` writes, from each payload's cost and its first metrics row (None when
    no payload has one)."""
    rows = [run.metric_rows(e).iloc[:1].assign(method=e.method, seconds=x.seconds,
                                                 model_evaluations=x.model_evaluations)
            for e in run.entries if (x := e.explanation) is not None]
    found = [r for r in rows if len(r)]
    return comparison_table(pd.concat(found, ignore_index=True), forward_seconds) if found else None


def _forward_seconds(manifest: Mapping[str, Any]) -> float:
    """Seconds of one record's forward pass, as a manifest section records it (``compare``, ``demo``); NaN."""
    found = (v.get("forward_seconds_per_record") for v in manifest.values() if isinstance(v, Mapping))
    return next((float(v) for v in found if is_number(v)), math.nan)
