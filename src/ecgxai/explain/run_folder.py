"""The run folder: where each of its files lives, its manifest, reading results back, and the key
that matches a metrics row to its payload.

Layout of a run folder ``RUN``::

    run.json                                   the manifest: one section per step that wrote here
    payloads/<method>/<class>/<record>.json    one explanation each (explain)
    <method>.csv, <method>.errors.csv          the explain table of a method and its failures
    <table>.csv|.parquet                       a metrics table (evaluate), with <table>.summary.csv,
                                               <table>.parts/ (finished rows) and <table>.errors.csv
    metrics/<method>.csv                       compare's metrics table of each method
    comparison.csv, comparison_per_record.csv, comparison.svg              (compare)
    localisation.csv, localisation_per_record.csv, localisation.svg,
    records/benchmark.csv                      (localisation)
    records/, probs.csv, selection.csv, durations.json, metrics.csv         (demo)
    report.html                                (report)

Every step that writes here, called from Python or from the command line, records its settings in
its own section of ``run.json`` (:meth:`RunFolder.record`; the file format is
:mod:`ecgxai.io.manifest`'s). A metrics row and a payload are matched by :class:`RunKey` (record
name, class code, method label), never by how a path is spelled.

Why in ``explain``: reading payloads back gives :class:`~ecgxai.explain.payload.Explanation`, so this
is the lowest layer that can own the whole folder; everything that writes or reads one (explain's
runs, evaluate, report, demo, the CLI) sits at or above it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from ecgxai.explain.payload import Explanation
from ecgxai.io.files import check_safe_name, read_table, write_json_atomic
from ecgxai.io.manifest import file_sha256, read_manifest, update_manifest
from ecgxai.io.records import record_base
from ecgxai.models.base import Classifier

PAYLOADS = "payloads"
METRICS_DIR = "metrics"
COMPARISON_TABLE = "comparison.csv"
PER_RECORD_TABLE = "comparison_per_record.csv"
COMPARISON_FIGURE = "comparison.svg"
LOCALISATION_TABLE = "localisation.csv"
LOCALISATION_PER_RECORD = "localisation_per_record.csv"
LOCALISATION_FIGURE = "localisation.svg"
BENCHMARK_RECORDS = "records/benchmark.csv"
RECORDS_DIR = "records"
PROBS_TABLE = "probs.csv"
SELECTION_TABLE = "selection.csv"
DURATIONS_CACHE = "durations.json"
METRICS_TABLE = "metrics.csv"
REPORT = "report.html"
#: The columns a metrics row is keyed by (and that tell a metrics table from other tables).
METRICS_KEY_COLUMNS = ("mat_path", "meta_code", "method")


def errors_path(table: str | Path) -> Path:
    """Where the failures of a table's rows are listed: ``<table>.errors.csv`` beside it."""
    table = Path(table)
    return table.with_name(f"{table.stem}.errors.csv")


def summary_path(table: str | Path) -> Path:
    """Where a metrics table's per-class summary goes: ``<table>.summary.csv`` beside it."""
    table = Path(table)
    return table.with_name(f"{table.stem}.summary.csv")


def parts_dir(table: str | Path) -> Path:
    """Where a metrics table's finished rows are kept while it is computed: ``<table>.parts/``."""
    table = Path(table)
    return table.with_name(table.name + ".parts")


def record_name(path: str | Path) -> str:
    """A record's name however its path is spelled (relative or absolute, with or without a suffix)."""
    return record_base(path).name


@dataclass(frozen=True)
class RunKey:
    """What one explanation is of, the same in its payload and its metrics rows: the record's name,
    the class code and the method's label (paths may be spelled differently in each)."""

    record: str
    class_code: str
    method: str

    @classmethod
    def of_payload(cls, explanation: Explanation, class_code: str | None = None) -> RunKey:
        """The key of an explanation; ``class_code`` when its folder says, else its target's."""
        code = class_code or explanation.target_code or explanation.target_label
        return cls(record_name(explanation.mat_path), str(code), explanation.method_label)

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> RunKey:
        """The key of a metrics row (``mat_path``, ``meta_code``, ``method``)."""
        return cls(record_name(str(row["mat_path"])), str(row["meta_code"]), str(row["method"]))


def metrics_by_key(metrics: pd.DataFrame) -> dict[RunKey, pd.DataFrame]:
    """Each explanation's metrics rows (one per table that scored it), by :class:`RunKey`."""
    positions: dict[RunKey, list[int]] = {}
    for i, row in enumerate(metrics[list(METRICS_KEY_COLUMNS)].to_dict("records")):
        positions.setdefault(RunKey.of_row(row), []).append(i)
    return {key: metrics.iloc[found] for key, found in positions.items()}


def save_payload(path: Path, explanation: Explanation) -> None:
    """Write one payload file atomically (a reader never sees half of it)."""
    write_json_atomic(path, json.loads(explanation.to_json()))


def load_payload(path: Path) -> Explanation:
    """Read one payload file."""
    return Explanation.from_json(path.read_text())


def model_settings(classifier: Classifier) -> dict[str, Any]:
    """What identifies a run's model in its manifest: its file and hash when loaded from one (and
    how it was loaded), the classes, input and backend."""
    spec = classifier.spec
    if spec is None:
        return {"model": classifier.source, **classifier.describe()}
    path = Path(spec.path).resolve()
    digest = file_sha256(path) if path.is_file() else None
    return {"model": str(path), "model_sha256": digest, "architecture": spec.architecture,
            **classifier.describe()}


@dataclass
class PayloadEntry:
    """One payload file of a run: where it is, what it explains, and its content or why not."""

    path: Path
    method: str
    class_code: str
    record: str
    explanation: Explanation | None = None
    error: str | None = None

    @property
    def key(self) -> RunKey | None:
        """The key its metrics rows have (None when the file could not be read)."""
        x = self.explanation
        return None if x is None else RunKey.of_payload(x, self.class_code)


def _read_entry(path: Path) -> PayloadEntry:
    """A payload file; one that cannot be parsed is kept with its error."""
    entry = PayloadEntry(path, method=path.parent.parent.name, class_code=path.parent.name, record=path.stem)
    try:
        entry.explanation = load_payload(path)
    except (OSError, ValueError, TypeError) as exc:
        entry.error = f"cannot read payload {path.name}: {exc}"
    return entry


def _has_metric_columns(path: Path) -> bool:
    """Whether a table's header has the columns of an ``evaluate`` metrics table."""
    columns = pd.read_csv(path, nrows=0).columns if path.suffix == ".csv" else pq.read_schema(path).names
    return {"strict_attauc", *METRICS_KEY_COLUMNS} <= set(columns)


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder, by what they hold (see the module docstring for the layout)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def payload(self, method: str, class_code: str, record: str) -> Path:
        """Where the payload of ``record`` explained for ``class_code`` by ``method`` lives."""
        check_safe_name(class_code, "class code", dots=True)
        check_safe_name(record, "record name", dots=True)
        return self.root / PAYLOADS / method / class_code / f"{record}.json"

    def payloads_of(self, method: str) -> Path:
        """The folder of one method's payloads (``payloads/<method>``)."""
        return self.root / PAYLOADS / method

    def explain_table(self, method: str) -> Path:
        """The table of one method's explanations (one row per payload, without the maps)."""
        return self.root / f"{method}.csv"

    def method_metrics(self, method: str) -> Path:
        """The metrics table of one method's payloads, as ``compare`` writes it."""
        return self.root / METRICS_DIR / f"{method}.csv"

    def file(self, name: str) -> Path:
        """A file of the run by its name in the layout (:data:`COMPARISON_TABLE`, :data:`REPORT`, ...)."""
        return self.root / name

    def relative(self, path: str | Path) -> str:
        """``path`` as the manifest names it: relative to the folder when inside it."""
        path = Path(path)
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def manifest(self) -> dict[str, Any]:
        """The run's manifest (empty when it has none)."""
        return read_manifest(self.root)

    def record(self, section: str, settings: Mapping[str, Any]) -> Path:
        """Merge one step's ``settings`` into its ``section`` of the manifest; return the manifest's path."""
        return update_manifest(self.root, section, settings)

    def read_payloads(self) -> list[PayloadEntry]:
        """Every payload file of the run, sorted by path; unreadable ones kept with their error."""
        return [_read_entry(path) for path in sorted(self.root.glob(f"{PAYLOADS}/*/*/*.json"))]

    def metrics_tables(self, manifest: Mapping[str, Any]) -> list[Path]:
        """The metrics tables the manifest names (each ``evaluate`` output; ``compare``'s tables in
        folders written before evaluations recorded themselves), else every top-level table with
        metric columns."""
        named = [entry["out"] for entry in manifest.get("evaluate", {}).values()
                 if isinstance(entry, Mapping) and "out" in entry]
        named += manifest.get("compare", {}).get("metrics_tables", [])
        if named:
            return [path for path in map(self.file, dict.fromkeys(named)) if path.is_file()]
        candidates = sorted([*self.root.glob("*.csv"), *self.root.glob("*.parquet")])
        return [path for path in candidates if _has_metric_columns(path)]

    def read_metrics(self, manifest: Mapping[str, Any]) -> pd.DataFrame:
        """The run's metrics tables stacked, each row tagged with its table's file name (``table``)."""
        frames = [read_table(path, dtype={"meta_code": str, "record": str}).assign(table=path.name)
                  for path in self.metrics_tables(manifest)]
        if not frames:
            return pd.DataFrame(columns=[*METRICS_KEY_COLUMNS, "error", "table"])
        return pd.concat(frames, ignore_index=True)

    def read_optional(self, name: str) -> pd.DataFrame | None:
        """A table of the run (``comparison.csv``, ``localisation.csv``), or None when it has none."""
        path = self.file(name)
        return read_table(path, dtype={"meta_code": str}) if path.is_file() else None

