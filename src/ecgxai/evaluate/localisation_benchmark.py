"""``ecgxai localisation``: where does each method find evidence planted where the mask says?

:func:`run_localisation` writes the benchmark (:func:`ecgxai.synth.generate_localisation_benchmark`:
records with exact masks, their twins apart) into ``OUT/records``, explains every record for its
own diagnosis with every method on the bundled benchmark classifier (or a user's model), scores
each explanation (every metric of the evaluator, the ranking metrics on the logit scale), and
writes:

* ``OUT/localisation.csv``: one row per method and class and an ``all`` row per method, with
  ``n``, each localisation score beside its random baseline (a random map of the method's
  resolution), the standard error of the per-record gt_auroc margin over that baseline,
  ``mask_share``, the mask's share of the record's lead x sample points (the hit rate of a random
  point), the model's mean probability and the share of saturated rows;
* ``OUT/localisation_per_record.csv``: the rows those means are taken over;
* ``OUT/localisation.svg``: the table as bars, each with its random baseline;
* the run folder of ``ecgxai compare`` (payloads, metrics, ``comparison.csv``), so
  ``ecgxai report OUT`` draws it, with a localisation section.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ecgxai.classes import BENCHMARK_CODES, abbreviation
from ecgxai.evaluate.compare import ALL_CLASSES, ALL_CLASSES_NAME, compare_methods
from ecgxai.explain.run_folder import (
    BENCHMARK_RECORDS,
    LOCALISATION_FIGURE,
    LOCALISATION_PER_RECORD,
    LOCALISATION_TABLE,
    RunFolder,
    record_name,
)
from ecgxai.explain.runs import RUN_METHODS, WorkItem
from ecgxai.explain.settings import ExplainParams
from ecgxai.io.files import write_table
from ecgxai.models.loader import load_model
from ecgxai.models.zoo import BENCHMARK_MODEL_PATH
from ecgxai.parallel import Execution
from ecgxai.synth.benchmark import NOT_LOCALISABLE, generate_localisation_benchmark

log = logging.getLogger(__name__)

#: Each localisation score and the column holding its chance level.
SCORES: tuple[tuple[str, str], ...] = (
    ("gt_auroc", "random_gt_auroc"),
    ("gt_top_hit", "gt_top_hit_chance"),
    ("pointing_game", "random_pointing_game"),
    ("relevance_mass_accuracy", "random_relevance_mass_accuracy"),
    ("relevance_rank_accuracy", "random_relevance_rank_accuracy"),
)
#: The standard error of the per-record margin ``gt_auroc - random_gt_auroc``: a cell whose mean margin is
#: within about two of it is not told apart from chance at its ``n``.
MARGIN_SE = "gt_auroc_margin_se"
#: Faithfulness columns kept beside them (logit scale), with their random baselines.
FAITHFULNESS = ("morf_auc", "random_morf_auc", "insertion_auc", "random_insertion_auc")
TABLE_COLUMNS = ["method", "class", "meta_code", "class_name", "n", *(c for pair in SCORES for c in pair),
                 MARGIN_SE, "mask_share", "probability", "saturated", *FAITHFULNESS,
                 "forward_equivalents_per_record"]


@dataclass(frozen=True)
class LocalisationResult:
    """What :func:`run_localisation` found and where it wrote it."""

    table: pd.DataFrame
    per_record: pd.DataFrame
    records: pd.DataFrame
    out_dir: Path
    n_failed: int


def margin_standard_error(group: pd.DataFrame) -> float:
    """Standard error of the per-record gt_auroc margin over the random map (NaN for one record)."""
    return float((group["gt_auroc"] - group["random_gt_auroc"]).sem())


def _table_row(method: str, code: str, group: pd.DataFrame, forward_seconds: float) -> dict[str, Any]:
    """One row of the localisation table: n and the means of one method's rows of one class (or all)."""
    averaged = [c for c in TABLE_COLUMNS[5:-1] if c in group and c != MARGIN_SE]
    name, short = ((ALL_CLASSES_NAME, ALL_CLASSES) if code == ALL_CLASSES
                   else (group["class_name"].iloc[0], abbreviation(code)))
    return {"method": method, "class": short, "meta_code": code, "class_name": name,
            "n": len(group), **group[averaged].astype(float).mean().to_dict(),
            MARGIN_SE: margin_standard_error(group),
            "forward_equivalents_per_record": group["seconds"].mean() / forward_seconds}


def localisation_table(per_record: pd.DataFrame, forward_seconds: float) -> pd.DataFrame:
    """Per method, per class (benchmark order) and over all classes: n, the mean of every column of
    :data:`TABLE_COLUMNS` and the margin's standard error (rows with an error left out)."""
    ok = per_record[per_record["error"].isna()] if "error" in per_record else per_record
    rows = []
    for method, of_method in ok.groupby("method", sort=False):
        groups = [(code, of_method[of_method["meta_code"] == code]) for code in BENCHMARK_CODES]
        rows += [_table_row(str(method), code, group, forward_seconds)
                 for code, group in [*((c, g) for c, g in groups if len(g)), (ALL_CLASSES, of_method)]]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def write_localisation(out: Path, per_record: pd.DataFrame, records: pd.DataFrame,
                       forward_seconds: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``OUT/localisation.csv``, its per-record rows and ``OUT/records/benchmark.csv``.

    ``per_record`` holds the per-record rows of a comparison (one per method, record and class) of
    the benchmark ``records``; each gains its record's territory and mask share. Returns both tables.
    """
    keyed = per_record.assign(record=per_record["mat_path"].map(record_name))  # however mat_path is spelled
    per_record = keyed.merge(records[["record", "territory", "mask_share"]], on="record", how="left")
    folder = RunFolder(out)
    table = localisation_table(per_record, forward_seconds)
    write_table(table, folder.file(LOCALISATION_TABLE))
    write_table(per_record, folder.file(LOCALISATION_PER_RECORD))
    write_table(records, folder.file(BENCHMARK_RECORDS))
    return table, per_record


def _items(records: pd.DataFrame) -> list[WorkItem]:
    return [WorkItem(row.code, f"{row.path}.mat", i) for i, row in enumerate(records.itertuples())]


def run_localisation(out_dir: str | Path, n_per_class: int = 4, seed: int = 0, *,
                     methods: Sequence[str] = RUN_METHODS, model: str | Path | None = None,
                     params: ExplainParams | Mapping[str, Any] | None = None,
                     execution: Execution | int | None = None, force: bool = False,
                     progress: bool = True, **model_settings: Any) -> LocalisationResult:
    """Generate the benchmark, explain and score every record with every method; write the tables.

    ``model`` (a file :func:`~ecgxai.models.loader.load_model` reads, with ``model_settings``)
    replaces the bundled benchmark classifier, with a warning: it was not trained on these records,
    so it need not rely on the planted evidence. ``seed`` seeds the records and the explainers;
    ``params`` are the explanation settings (default: each method's and class's).
    """
    out = Path(out_dir)
    if model is None:
        classifier = load_model(BENCHMARK_MODEL_PATH)
    else:
        log.warning("localisation: %s was not trained on the benchmark's records; it need not use the "
                    "planted evidence, so low scores may be the model's, not the method's", model)
        classifier = load_model(model, **model_settings)
    records = generate_localisation_benchmark(out / "records", n_per_class, seed=seed)
    comparison = compare_methods(classifier, _items(records), methods, out, params=params, seed=seed,
                                 force=force, progress=progress, execution=execution, ranking_scale="logit")
    table, per_record = write_localisation(out, comparison.per_record, records, comparison.forward_seconds)
    RunFolder(out).record("localisation", {
        "model": str(model or BENCHMARK_MODEL_PATH), "n_per_class": n_per_class, "seed": seed,
        "methods": list(methods), "records": len(records), "table": LOCALISATION_TABLE,
        "per_record": LOCALISATION_PER_RECORD, "figure": LOCALISATION_FIGURE,
        "not_localisable": NOT_LOCALISABLE, "failed": len(comparison.errors)})
    return LocalisationResult(table, per_record, records, out, len(comparison.errors))
