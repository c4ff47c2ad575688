"""Every explainer on the same records: ``ecgxai compare``'s table on the reference or synthetic data.

``--data reference``: the reference model and the first ``--per-class`` records of each target
group in ``seed-results/selection.csv`` (default 10), plus the original toolkit's own fused
payloads of the same records (``seed_fused_payloads.json``) scored by the same evaluator as the
extra method ``original fused (seed payloads)`` (its cost is unknown: NaN).
``--data synthetic``: ``--per-class`` records of each localisation-benchmark diagnosis (default 5;
:func:`ecgxai.synth.generate_localisation_benchmark`, with exact evidence masks for the localisation
metrics) explained for their own diagnosis by the bundled benchmark model, which was trained so that
only the masked evidence separates the classes; its ranking metrics are on the logit scale, as
``ecgxai localisation`` scores them (the model is confident, so probability curves are flat).

Besides the methods, the table holds ``occlusion (flat, 0.1 s)`` (every lead x 0.1 s cell occluded
alone) and ``lime (spans only)`` / ``timeshap (spans only)``: the same LIME and TimeSHAP payloads
scored from the original's span cut alone, to show what the cut costs.

Both run :func:`ecgxai.evaluate.compare.compare_methods` into a work folder (default
``out/bench-compare-<data>``: resumable, and ``ecgxai report`` shows it with the figure), then
write ``benchmarks/results/compare-<data>.csv`` (the whole table) and ``.md`` (settings and the
key columns).

    .venv/bin/python benchmarks/compare.py --data reference|synthetic [--per-class N] \\
        [--methods M ...] [--jobs N] [--extra-metrics max_sensitivity randomisation]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT, reference_parser, reference_setup

import ecgxai
from ecgxai.evaluate.compare import (
    Comparison,
    compare_methods,
    comparison_table,
    key_columns,
    per_record_rows,
)
from ecgxai.evaluate.evaluator import EXTRA_METRICS
from ecgxai.evaluate.runs import evaluate_to_files
from ecgxai.explain.explainers import explain_record
from ecgxai.explain.payload import Explanation
from ecgxai.explain.run_folder import COMPARISON_TABLE, PER_RECORD_TABLE, RunFolder, load_payload
from ecgxai.explain.runs import RUN_METHODS, WorkItem, payload_path, run_explanations
from ecgxai.io.files import write_table
from ecgxai.io.manifest import environment, file_sha256
from ecgxai.io.records import signal_file_of
from ecgxai.models.zoo import BENCHMARK_MODEL_PATH
from ecgxai.report.comparison import save_method_comparison
from ecgxai.synth import generate_localisation_benchmark

DEFAULT_PER_CLASS = {"reference": 10, "synthetic": 5}
SEED_METHOD = "original fused (seed payloads)"
#: Methods also scored from their span cut alone (``<method> (spans only)``), cost as recorded.
SPAN_CUT_METHODS = ("lime", "timeshap")
SPAN_CUT_SUFFIX = " (spans only)"
#: Methods run again with other settings, each into its own folder, named as here.
VARIANTS = {"occlusion (flat, 0.1 s)": ("occlusion", {"hierarchy": "flat", "window_sec": 0.1})}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The common reference arguments plus --data, --methods, --jobs, --extra-metrics, --work, --force."""
    parser = reference_parser(__doc__.splitlines()[0], per_class=0, out_name="compare.csv")
    parser.set_defaults(per_class=None, out=None)
    parser.add_argument("--data", choices=sorted(DEFAULT_PER_CLASS), default="reference")
    parser.add_argument("--methods", nargs="+", choices=list(RUN_METHODS), default=list(RUN_METHODS))
    parser.add_argument("--jobs", type=int, default=1, help="local worker processes")
    parser.add_argument("--extra-metrics", nargs="+", choices=sorted(EXTRA_METRICS), default=[])
    parser.add_argument("--work", type=Path, help="run folder (default out/bench-compare-<data>)")
    parser.add_argument("--force", action="store_true", help="recompute payloads and metrics")
    args = parser.parse_args(argv)
    args.per_class = DEFAULT_PER_CLASS[args.data] if args.per_class is None else args.per_class
    args.out = args.out or ROOT / "benchmarks" / "results" / f"compare-{args.data}.csv"
    args.work = args.work or ROOT / "out" / f"bench-compare-{args.data}"
    return args


def reference_items(args: argparse.Namespace) -> tuple[ecgxai.Classifier, list[WorkItem], str] | None:
    """The reference model, its records as work items and a description (None when absent)."""
    setup = reference_setup(args)
    if setup is None:
        return None
    classifier, records = setup
    items = [WorkItem(r.group_class, str(args.reference / "records" / f"{r.record}.mat"), i)
             for i, r in enumerate(records.itertuples())]
    model = args.reference / "model" / "resnet_final_weights.h5"
    return classifier, items, (f"reference ResNet `{model.name}` (sha256 {file_sha256(model)[:12]}); "
                               f"the first {args.per_class} records per target group of "
                               "`seed-results/selection.csv`")


def synthetic_items(args: argparse.Namespace) -> tuple[ecgxai.Classifier, list[WorkItem], str]:
    """The benchmark model and ``per_class`` localisation-benchmark records of every diagnosis."""
    records = generate_localisation_benchmark(args.work / "records", args.per_class, seed=args.seed)
    items = [WorkItem(r.code, str(signal_file_of(r.path)), i) for i, r in enumerate(records.itertuples())]
    return ecgxai.load_model(BENCHMARK_MODEL_PATH), items, (
        f"bundled benchmark CNN `{BENCHMARK_MODEL_PATH.name}` (sha256 "
        f"{file_sha256(BENCHMARK_MODEL_PATH)[:12]}); {args.per_class} records per diagnosis of "
        f"`generate_localisation_benchmark(seed={args.seed})`, each explained for its own diagnosis; "
        "ranking metrics on the logit scale")


def ranking_scale(args: argparse.Namespace) -> str:
    """The ranking metrics' scale: the benchmark model's logit (it is confident), else the probability."""
    return "logit" if args.data == "synthetic" else "probability"


def seed_payloads(reference: Path, items: list[WorkItem]) -> list[Explanation]:
    """The original toolkit's fused payloads of the same records and classes, mat_path made absolute."""
    data = json.loads((reference / "seed-results" / "seed_fused_payloads.json").read_text())
    payloads = []
    for item in items:
        payload = Explanation.from_payload(data[item.group_class][item.record])
        payload.mat_path = str(reference / payload.mat_path)
        payloads.append(payload)
    return payloads


def slug(name: str) -> str:
    """A file name for a method's name (``lime (spans only)`` -> ``lime_spans_only``)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def with_method(result: Comparison, classifier: ecgxai.Classifier, args: argparse.Namespace, name: str,
                payloads: list[Explanation], known_cost: bool = True) -> Comparison:
    """The comparison with ``payloads`` scored as one more method ``name`` (their recorded cost, or NaN
    unless ``known_cost``), evaluated the same way into the work folder; the table and per-record files
    are rewritten with them."""
    metrics, _ = evaluate_to_files(payloads, classifier, RunFolder(args.work).method_metrics(slug(name)),
                                   seed=args.seed, force=args.force, execution=args.jobs,
                                   extra_metrics=args.extra_metrics, ranking_scale=ranking_scale(args),
                                   run_dir=args.work)
    extra = per_record_rows(name, metrics, payloads)
    if not known_cost:
        extra = extra.assign(seconds=np.nan, model_evaluations=np.nan)
    per_record = pd.concat([result.per_record, extra], ignore_index=True)
    table = comparison_table(per_record, result.forward_seconds)
    write_table(table, args.work / COMPARISON_TABLE)
    write_table(per_record, args.work / PER_RECORD_TABLE)
    return Comparison(table, per_record, result.errors, result.forward_seconds)


def with_variant(result: Comparison, classifier: ecgxai.Classifier, args: argparse.Namespace,
                 items: list[WorkItem], name: str) -> Comparison:
    """The comparison with one of :data:`VARIANTS` explained (resumable, its own folder) and scored."""
    method, params = VARIANTS[name]
    folder = args.work / "variants" / slug(name)
    # one untimed explanation first, so the first record's seconds do not include tracing
    explain_record(classifier, items[0].filename, items[0].group_class, method=method, params=params)
    run_explanations(classifier, items, method, folder, params=params, seed=args.seed, force=args.force,
                     execution=args.jobs)
    payloads = [load_payload(payload_path(folder, method, item)) for item in items
                if payload_path(folder, method, item).is_file()]
    return with_method(result, classifier, args, name, payloads)


def span_cut_payloads(args: argparse.Namespace, method: str, items: list[WorkItem]) -> list[Explanation]:
    """A method's payloads without their maps: scored from the original span cut alone."""
    return [dataclasses.replace(load_payload(payload_path(args.work, method, item)), attribution=None)
            for item in items if payload_path(args.work, method, item).is_file()]


def checks(table: pd.DataFrame) -> list[str]:
    """Markdown lines: per class, the methods whose whole map does not beat its random map on MoRF,
    and the map vs span-cut MoRF of the methods scored both ways."""
    lines = ["## Checks", ""]
    for code, rows in table.groupby("meta_code", sort=True):
        failing = rows[~(rows["morf_auc"] < rows["random_morf_auc"])]["method"].tolist()
        lines.append(f"- {code}: mean MoRF below the method's own random map for "
                     f"{len(rows) - len(failing)} of {len(rows)} methods"
                     + (f"; not for {', '.join(failing)}" if failing else ""))
    indexed = table.set_index(["method", "meta_code"])
    for method in SPAN_CUT_METHODS:
        cut = f"{method}{SPAN_CUT_SUFFIX}"
        for code in sorted({c for m, c in indexed.index if m == cut}):
            whole, spans = indexed.loc[(method, code), "morf_auc"], indexed.loc[(cut, code), "morf_auc"]
            lines.append(f"- {method}, {code}: MoRF {whole:.3f} with the whole map, {spans:.3f} with the "
                         f"span cut ({'lower' if whole < spans else 'NOT lower'} with the map)")
    return [*lines, ""]


def write_markdown(out: Path, args: argparse.Namespace, result: Comparison, described: str,
                   n_items: int, runtime: float) -> None:
    """Settings, the key columns of the table and the failures, as Markdown."""
    env = environment()
    columns = key_columns(result.table, baselines=True)
    short = result.table[[*columns[:3], "seconds_per_record", "evaluations_per_record", *columns[3:]]]
    lines = [
        f"# Method comparison on {args.data} records", "",
        f"- Model and records: {described}; {n_items} record x class pairs.",
        f"- Methods: {', '.join(args.methods)}; seed {args.seed}; extra metrics: "
        f"{', '.join(args.extra_metrics) or 'none'}; {args.jobs} process(es).",
        f"- Forward pass: {result.forward_seconds * 1000:.2f} ms per record (median of 3 full batches); "
        "forward_equivalents_per_record = seconds_per_record / that. Seconds are those the payloads "
        "recorded when computed (a resumed run keeps them; serial runs explain one record untimed first, "
        "so tracing is not counted).",
        f"- Machine: {env['platform']}, {os.cpu_count()} cores, python {env['python']}, "
        f"tensorflow {env['tensorflow']}, ecgxai {env['ecgxai']}; run {date.today()}, "
        f"{runtime:.0f} s (with resumed work).",
        f"- Failed: {len(result.errors)} explanation(s) or evaluation(s). Full table: `{out.name}`; "
        f"run folder `{args.work}`.", "",
        "Means per method and class (`all`: every class); each `random_*` column scores, on the same "
        "records, a random map of the method's own resolution (per sample, per event x lead, or per 0.1 s "
        f"cell for spans). `<method>{SPAN_CUT_SUFFIX}`: the same payloads scored from their original span "
        "cut alone (top 5 events x top 5 leads).", "",
        *checks(result.table),
        short.round(3).to_markdown(index=False),
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    setup = reference_items(args) if args.data == "reference" else synthetic_items(args)
    if setup is None:
        print("compare: skipped (no reference material; try --data synthetic)", file=sys.stderr)
        return 2
    classifier, items, described = setup
    result = compare_methods(classifier, items, args.methods, args.work, seed=args.seed, force=args.force,
                             execution=args.jobs, extra_metrics=args.extra_metrics,
                             ranking_scale=ranking_scale(args))
    for name in VARIANTS:
        result = with_variant(result, classifier, args, items, name)
    for method in [m for m in SPAN_CUT_METHODS if m in args.methods]:
        result = with_method(result, classifier, args, f"{method}{SPAN_CUT_SUFFIX}",
                             span_cut_payloads(args, method, items))
    if args.data == "reference":
        result = with_method(result, classifier, args, SEED_METHOD, seed_payloads(args.reference, items),
                             known_cost=False)
    save_method_comparison(result.table, args.work)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(args.out, index=False)
    write_markdown(args.out, args, result, described, len(items), time.perf_counter() - started)
    print(result.table[key_columns(result.table, baselines=True)].round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
