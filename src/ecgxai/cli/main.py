"""The ``ecgxai`` command: a thin layer over the library.

Exit codes: 0 all done; 2 bad input or usage (one-line reason on stderr);
3 the run finished but some records failed (listed in the errors table).

Longer than 400 lines on purpose: one parser and one short function per subcommand, kept together
so the options and exit codes of every command read alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecgxai import config
from ecgxai.classes import BENCHMARK_CODES, TARGET_META, make_target_meta, validate_target_meta
from ecgxai.errors import ECGXAIError
from ecgxai.evaluate.evaluator import EXTRA_METRICS
from ecgxai.evaluate.faithfulness import RANKING_SCALES
from ecgxai.explain.methods import AUTO, CAPTUM_PREFIX, model_kind, resolve_method
from ecgxai.explain.run_folder import (
    COMPARISON_TABLE,
    LOCALISATION_TABLE,
    RunFolder,
    errors_path,
    model_settings,
)
from ecgxai.explain.runs import RUN_METHODS, WorkItem
from ecgxai.io.dataset import build_y_true_from_labels, find_records, index_records
from ecgxai.io.files import read_table, write_table
from ecgxai.io.manifest import file_sha256
from ecgxai.io.records import record_base
from ecgxai.models.base import Classifier
from ecgxai.models.zoo import ARCHITECTURES
from ecgxai.parallel import Execution
from ecgxai.signal.events import EVENT_KINDS

EXIT_OK, EXIT_BAD_INPUT, EXIT_SOME_FAILED = 0, 2, 3
log = logging.getLogger("ecgxai")

PREDICT_EXAMPLES = """examples:
  ecgxai predict data/records --model model.keras --out probs.csv
  ecgxai predict A0001.mat A0002.mat --model resnet_final_weights.h5 \\
      --architecture physionet2020_resnet --classes snomed_classes.txt --out probs.parquet
  ecgxai predict holter/ --model model.keras --windows --out probs.csv
Records at another sampling rate than the model's are resampled to it (the rate comes from
load_model's fs, the model card's "fs" or the zoo). Each record gives its first stretch of the
model's length; --start SECONDS takes the stretch from there, --windows every stretch over the
whole record (--window-stride SECONDS apart, default the model's length), one row each, with
start_sec and end_sec columns.
"""
SELECT_EXAMPLES = """examples:
  ecgxai select --probs probs.csv --out selection.csv
  ecgxai select --probs probs.csv --targets 164889003 59118001 --k 3 --min-prob 0.9 \\
      --require-label --out selection.csv
Given a table with start_sec/end_sec (predict --start or --windows), each record competes with
its most probable stretch per target and the selection names that stretch.
"""
EXPLAIN_EXAMPLES = """examples:
  ecgxai explain --model model.keras --method lime --selection selection.csv --out runs/lime
  ecgxai explain --model resnet_final_weights.h5 --architecture physionet2020_resnet \\
      --method fused --targets 164889003 --out runs/af data/records
  ecgxai explain --model model.keras --selection selection.csv --jobs 2 --out runs/lime
  ecgxai explain --model model.keras --scheduler tcp://10.0.0.5:8786 --out runs/lime data/records
  ecgxai explain --model cnn.pt --method captum:IntegratedGradients --method-option n_steps=16 \\
      --method-option method=riemann_middle --out runs/captum-ig data/records
Each payload is written as it completes; re-running the same command skips records already
explained (use --force to recompute). --jobs N runs N local worker processes, --dask-local N a
local Dask cluster, --scheduler a running one; the results are the same as a serial run's.
--method captum:NAME runs Captum's class NAME on a torch model (pip install 'ecgxai[captum]').
"""
EVALUATE_EXAMPLES = """examples:
  ecgxai evaluate runs/lime/payloads/lime --model model.keras --out runs/lime/metrics.csv
  ecgxai evaluate seed_fused_payloads.json --model resnet_final_weights.h5 \\
      --architecture physionet2020_resnet --data-root ../shared/reference --out fused_metrics.parquet
  ecgxai evaluate --attributions captum/index.csv --model model.keras --out captum_metrics.csv
Writes the table and OUT.summary.csv (mean, std, n per class and method). --attributions scores
arrays made by any tool (one .npy/.npz per record and class, (T, L) or (L, T), per sample or per
cell_sec cell) exactly as ecgxai's own explanations; bad index rows go to OUT.errors.csv.
"""
COMPARE_EXAMPLES = """examples:
  ecgxai compare --model model.keras --selection selection.csv --out runs/compare
  ecgxai compare --model resnet_final_weights.h5 --architecture physionet2020_resnet \\
      --methods gradxinput gradcam occlusion --targets 164889003 --jobs 2 --out runs/compare data/records
  ecgxai report runs/compare
Explains the records with every method (default: all of them; fused reuses the lime and
timeshap payloads), evaluates each method's payloads into OUT/metrics/METHOD.csv, and writes
OUT/comparison.csv (per method and class and an 'all' row per method: cost in seconds, model
evaluations and forward-pass equivalents per record, the mean of every metric and of its random_*
baseline, a random map of the method's own resolution), OUT/comparison_per_record.csv and the
figure OUT/comparison.svg. Re-running resumes.
"""
PLOT_EXAMPLES = """examples:
  ecgxai plot runs/af/payloads/lime/164889003/A0003.json -o A0003.svg
  ecgxai plot A0003.json -o A0003.png --topk 3 --all-leads --data-root ../shared/reference
The ECG at 25 mm/s and 10 mm/mV with the explanation's spans shaded (red for the class,
blue against, opacity by |weight|); .svg, .png or .pdf by the output's suffix.
"""
REPORT_EXAMPLES = """examples:
  ecgxai report runs/lime -o runs/lime/report.html
  ecgxai report runs/af -o af.html --max-records 10 --data-root ../shared/reference
One self-contained HTML file (figures embedded, no scripts or network resources): run
settings, metric summaries per class and method, and one section per record and class
(--max-records of them, spread over the classes; the summaries cover every record).
"""
DEMO_EXAMPLES = """examples:
  ecgxai demo
  ecgxai demo --out out/demo --n 48 --seed 7
Generates localisation-benchmark records (evidence planted where an exact mask says), then
predicts, selects, explains (the method auto picks, and fused LIME + TimeSHAP), evaluates (ranking
metrics on the logit scale, with ground-truth localisation: localisation.csv) and writes the HTML
report, using the bundled benchmark classifier. Re-running the same command resumes.
"""


def _report_failures(errors, out: Path, total: int, what: str) -> int:
    """Write the errors table beside ``out`` and return the exit code for the run."""
    if len(errors) == 0:
        log.info("%s: %d records -> %s", what, total, out)
        return EXIT_OK
    errors_file = write_table(errors, errors_path(out))
    print(f"{what}: {total - len(errors)} of {total} records done, {len(errors)} failed "
          f"(see {errors_file})", file=sys.stderr)
    return EXIT_SOME_FAILED


def _execution(args: argparse.Namespace) -> Execution:
    return Execution(jobs=args.jobs, scheduler=args.scheduler, dask_local=args.dask_local)


def _record_inputs(sources: Sequence[Path], records: Sequence[Path | str]) -> dict:
    """What a run read, for its manifest: the arguments, how many records, a digest of their paths."""
    listing = "\n".join(sorted(map(str, records))).encode()
    return {"sources": [str(s) for s in sources], "n_records": len(records),
            "records_sha256": hashlib.sha256(listing).hexdigest()}


def _file_input(path: Path | None) -> dict | None:
    return None if path is None else {"path": str(path.resolve()), "sha256": file_sha256(path)}


def cmd_predict(args: argparse.Namespace) -> int:
    """Probabilities for every record (or stretch of it); bad records are reported and skipped."""
    from ecgxai.models.inputs import Stretches
    from ecgxai.models.loader import load_model
    from ecgxai.models.predict import predict_records

    execution = _execution(args)
    model = load_model(args.model, architecture=args.architecture, class_names=args.classes,
                       units=args.units, batch_size=args.batch_size)
    records = find_records(*args.records)
    if not records:
        raise ECGXAIError(f"no records found in {' '.join(map(str, args.records))}")
    stretches = Stretches.choose(args.start, args.windows, args.window_stride)
    result = predict_records(model, records, batch_size=args.batch_size, progress=not args.quiet,
                             execution=execution, allow_default_fs=args.allow_default_fs,
                             start=args.start, windows=args.windows, window_stride=args.window_stride)
    write_table(result.probs, args.out)
    RunFolder(args.out.parent).record("predict", {args.out.name: {
        **model_settings(model), "model_fs": model.fs,
        "record_fs": {f"{fs:g}": n for fs, n in result.record_rates.items()},
        "stretches": stretches.describe(), "inputs": _record_inputs(args.records, records),
        "batch_size": args.batch_size, "execution": execution.describe(),
        "rows": len(result.probs), "failed": len(result.errors)}})
    return _report_failures(result.errors, args.out, len(records), "predict")


def _codes(values: Sequence[str] | None) -> list[str]:
    """Class codes given as separate arguments and/or comma-separated."""
    return [c.strip() for v in values or [] for c in v.split(",") if c.strip()]


def _target_meta(args: argparse.Namespace) -> dict:
    if args.target_meta is not None:
        return json.loads(Path(args.target_meta).read_text())
    if args.targets:
        return make_target_meta(_codes(args.targets))
    return TARGET_META


def _labels(paths: Sequence[str], class_names: Sequence[str]) -> np.ndarray:
    """Multi-hot ``#Dx`` labels of each row's record (a record may have several rows, one per stretch)."""
    index = index_records(*dict.fromkeys(paths))
    dx = dict(zip(index["path"], index["dx"].fillna(""), strict=True))
    return build_y_true_from_labels([dx.get(str(record_base(p)), "") for p in paths], class_names)


def _stretches(probs, source: Path) -> np.ndarray | None:
    """Each row's (start_sec, end_sec) when the table has them (``predict --start`` or ``--windows``)."""
    given = [c for c in ("start_sec", "end_sec") if c in probs.columns]
    if not given:
        return None
    if len(given) == 1:
        raise ECGXAIError(f"{source}: has {given[0]} without its partner; needs both start_sec and end_sec")
    return probs[["start_sec", "end_sec"]].to_numpy(dtype=np.float64)


def cmd_select(args: argparse.Namespace) -> int:
    """Selection table from a probabilities table written by ``ecgxai predict``."""
    from ecgxai.models.predict import ID_COLUMNS
    from ecgxai.selection import build_selection_df_with_aliases

    probs = read_table(args.probs, dtype={"record": str, "path": str})
    if not {"record", "path"} <= set(probs.columns):
        raise ECGXAIError(f"{args.probs}: needs 'record' and 'path' columns (from ecgxai predict)")
    class_names = [c for c in probs.columns if c not in ID_COLUMNS]
    meta = validate_target_meta(_target_meta(args), class_names)
    y_true = _labels(list(probs["path"]), class_names) if args.require_label else None
    selection = build_selection_df_with_aliases(
        list(probs["path"]), probs[class_names].to_numpy(dtype=np.float64), class_names, meta,
        y_true=y_true, k_per_class=args.k, min_prob=args.min_prob, random_seed=args.seed,
        max_duration_sec=args.max_duration, duration_cache_path=args.duration_cache,
        stretches=_stretches(probs, args.probs),
    )
    write_table(selection, args.out)
    log.info("select: %d rows -> %s", len(selection), args.out)
    return EXIT_OK


def _work_items(args: argparse.Namespace) -> tuple[list[WorkItem], dict]:
    """The work items of ``--selection FILE`` or of record files x ``--targets`` (default AF and SR)
    from ``--start`` (``--windows`` stretches are chosen once the model is loaded), and what was read,
    for the manifest."""
    from ecgxai.explain.runs import items_from_records, items_from_selection

    if bool(args.selection) == bool(args.records):
        raise ECGXAIError("give either --selection FILE or record files/directories, not both or none")
    targets = _codes(args.targets) or None
    stretched = getattr(args, "start", None) is not None or getattr(args, "windows", False)
    if args.selection:
        if stretched:
            raise ECGXAIError("a selection names its stretches (start_sec); --start and --windows are for "
                              "record files")
        items = items_from_selection(read_table(args.selection, dtype={"group_class": str}), targets)
        return items, {"selection": _file_input(args.selection)}
    records = find_records(*args.records)
    start = getattr(args, "start", None) or 0.0
    return (items_from_records(records, targets or list(TARGET_META), start),
            _record_inputs(args.records, records))


def _at_best_stretches(args: argparse.Namespace, model: Classifier, items: list[WorkItem]) -> list[WorkItem]:
    """With ``--windows``, each item moved to the stretch (of the model's length) most probable for its
    class."""
    from dataclasses import replace

    from ecgxai.models.predict import predict_records

    if not getattr(args, "windows", False):
        return items
    paths = list(dict.fromkeys(item.filename for item in items))
    found = predict_records(model, paths, windows=True, window_stride=args.window_stride,
                            progress=not args.quiet, execution=_execution(args))
    best = found.best_starts({item.group_class for item in items})
    return [replace(item, start_sec=best.get(item.filename, {}).get(item.group_class, 0.0)) for item in items]


def _model_for(args: argparse.Namespace, items: Sequence[WorkItem]) -> Classifier:
    """The model of ``--model`` etc., checked to know every class the items explain (an unknown
    class code fails before any work is done)."""
    from ecgxai.models.loader import load_model

    model = load_model(args.model, architecture=args.architecture, class_names=args.classes,
                       units=args.units)
    for code in {item.group_class for item in items}:
        model.class_index(code)
    return model


def _explain_params(args: argparse.Namespace) -> dict:
    options = dict(getattr(args, "method_option", None) or [])
    return {"event_kind": args.event_kind, **({"window_sec": args.window_sec} if args.window_sec else {}),
            **({"options": options} if options else {})}


def _method_name(text: str) -> str:
    """``--method``: auto, a run method, or ``captum:NAME`` (the class is checked when the run starts)."""
    captum_class = text.removeprefix(CAPTUM_PREFIX)
    if text in (AUTO, *RUN_METHODS) or (text.startswith(CAPTUM_PREFIX) and captum_class.isidentifier()):
        return text
    choices = ", ".join((AUTO, *RUN_METHODS))
    raise argparse.ArgumentTypeError(f"invalid choice {text!r} (choose from {choices} or captum:NAME)")


def _method_option(text: str) -> tuple[str, object]:
    """``--method-option KEY=VALUE``: the value read as JSON (16, 0.5, [1, 50], true), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain selected records (or every record x target); payloads written as they complete."""
    from ecgxai.explain.runs import run_explanations

    execution = _execution(args)
    items, inputs = _work_items(args)
    model = _model_for(args, items)
    items = _at_best_stretches(args, model, items)
    method, params = resolve_method(args.method, model, _explain_params(args))
    if args.method == AUTO and not args.quiet:
        print(f"method auto: {method} {params} (a model of kind {model_kind(model)!r}, "
              f"{model.backend} backend)")
    stretches = {"start": args.start, "windows": args.windows, "window_stride": args.window_stride}
    _, errors = run_explanations(model, items, method, args.out, params=params, seed=args.seed,
                                 force=args.force, progress=not args.quiet, execution=execution,
                                 manifest_extra={"method_requested": args.method, "inputs": inputs,
                                                 "stretches": stretches})
    return _report_failures(errors, RunFolder(args.out).explain_table(method), len(items), "explain")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Metrics for saved payloads; finished rows are kept so an interrupted run resumes."""
    import pandas as pd

    from ecgxai.evaluate.external import index_payloads
    from ecgxai.evaluate.runs import evaluate_to_files, load_payload_files, metric_errors
    from ecgxai.models.loader import load_model
    from ecgxai.models.predict import ERROR_COLUMNS

    execution = _execution(args)
    payloads = load_payload_files(args.payloads)
    if not payloads and args.attributions is None:
        raise ECGXAIError(f"no payloads found in {' '.join(map(str, args.payloads)) or '(none given)'}")
    model = load_model(args.model, architecture=args.architecture, class_names=args.classes,
                       units=args.units)
    bad_rows = pd.DataFrame(columns=ERROR_COLUMNS)
    if args.attributions is not None:
        found, bad_rows = index_payloads(args.attributions, model, data_root=args.data_root)
        payloads += found
    if not payloads:
        _report_failures(bad_rows, args.out, len(bad_rows), "evaluate")
        raise ECGXAIError(f"nothing to evaluate: every row of {args.attributions} failed")
    inputs = {"payloads": [str(p) for p in args.payloads], "index_rows_failed": len(bad_rows),
              "attributions": None if args.attributions is None else str(args.attributions)}
    table, summary = evaluate_to_files(payloads, model, args.out, method_label=args.method_label,
                                       use_priors=args.priors, seed=args.seed, data_root=args.data_root,
                                       force=args.force, progress=not args.quiet, execution=execution,
                                       extra_metrics=args.extra_metrics, ranking_scale=args.ranking_scale,
                                       manifest_extra=inputs)
    if not args.quiet:
        print(summary.to_string(index=False))
    errors = pd.concat([frame for frame in (bad_rows, metric_errors(table)) if len(frame)] or [bad_rows])
    return _report_failures(errors, args.out, len(table) + len(bad_rows), "evaluate")


def cmd_compare(args: argparse.Namespace) -> int:
    """Every method on the same records: payloads, metrics, the comparison table and its figure."""
    from ecgxai.evaluate.compare import compare_methods, key_columns
    from ecgxai.report.comparison import save_method_comparison

    execution = _execution(args)
    items, inputs = _work_items(args)
    model = _model_for(args, items)
    params = _explain_params(args)
    result = compare_methods(model, items, args.methods, args.out, params=params, seed=args.seed,
                             force=args.force, progress=not args.quiet, execution=execution,
                             extra_metrics=args.extra_metrics, ranking_scale=args.ranking_scale)
    try:
        figure: str | None = save_method_comparison(result.table, args.out).name
    except ECGXAIError as exc:  # e.g. every record failed: the failures are the news, not the figure
        log.warning("compare: no figure: %s", exc)
        figure = None
    RunFolder(args.out).record("compare", {**model_settings(model), "inputs": inputs, "figure": figure})
    if not args.quiet:
        print(result.table[key_columns(result.table, baselines=True)].round(3).to_string(index=False))
    return _report_failures(result.errors, args.out / COMPARISON_TABLE, len(items) * len(set(args.methods)),
                            "compare")


def cmd_plot(args: argparse.Namespace) -> int:
    """Draw one saved payload over its ECG into an SVG, PNG or PDF file."""
    from ecgxai.explain.payload import Explanation
    from ecgxai.report.ecg import plot_from_payload

    try:
        payload = Explanation.from_json(args.payload.read_text())
    except (ValueError, TypeError) as exc:
        raise ECGXAIError(f"{args.payload}: not a single payload JSON file ({exc})") from None
    figure = plot_from_payload(payload, topk=args.topk, show_all_leads=args.all_leads,
                               data_root=args.data_root)
    written = figure.save(args.out, dpi=args.dpi)
    log.info("plot: %s -> %s", args.payload, written)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """One self-contained HTML report of a run folder; prints the path written."""
    from ecgxai.report.html import build_report

    print(build_report(args.run_dir, args.out, max_records=args.max_records, data_root=args.data_root))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole pipeline on bundled synthetic records; prints where the report is."""
    from ecgxai.demo import DEFAULT_N, run_demo

    result = run_demo(args.out, DEFAULT_N if args.n is None else args.n, seed=args.seed,
                      progress=not args.quiet)
    print(f"demo: {result.n_records} records, {result.n_explained} explained, {result.n_failed} failed, "
          f"{result.seconds:.0f} s\ndemo: metrics in {result.metrics}\ndemo: report in {result.report}")
    return EXIT_OK if result.n_failed == 0 else EXIT_SOME_FAILED


def cmd_localisation(args: argparse.Namespace) -> int:
    """The localisation benchmark: records with exact masks, every method, one table and figure."""
    from ecgxai.evaluate.localisation_benchmark import MARGIN_SE, run_localisation
    from ecgxai.report.comparison import save_localisation_figure
    from ecgxai.report.html import build_report

    result = run_localisation(args.out, args.n_per_class, args.seed, methods=args.methods, model=args.model,
                              params=_explain_params(args), execution=_execution(args), force=args.force,
                              progress=not args.quiet, architecture=args.architecture,
                              class_names=args.classes, units=args.units)
    save_localisation_figure(result.table, args.out)
    report = build_report(args.out, max_records=len(BENCHMARK_CODES))
    if not args.quiet:
        shown = ["method", "class", "n", "gt_auroc", "random_gt_auroc", MARGIN_SE, "gt_top_hit",
                 "gt_top_hit_chance", "mask_share"]
        print(result.table[shown].round(3).to_string(index=False))
    print(f"localisation: {len(result.records)} records, table in {args.out / LOCALISATION_TABLE}, "
          f"report in {report}")
    return EXIT_OK if result.n_failed == 0 else EXIT_SOME_FAILED


def _add_segmentation_arguments(parser: argparse.ArgumentParser) -> None:
    """``--event-kind`` and ``--window-sec``: how the explainers segment a record into events."""
    parser.add_argument("--event-kind", default="uniform", choices=EVENT_KINDS)
    parser.add_argument("--window-sec", type=float, help="event length (default: per class)")


def _explaining_parent() -> argparse.ArgumentParser:
    """The arguments of the commands that explain records (``explain``, ``compare``)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("records", nargs="*", type=Path, help="record files or directories (or --selection)")
    parent.add_argument("--selection", type=Path, help="selection table from 'ecgxai select'")
    parent.add_argument("--targets", nargs="+", metavar="CODE",
                        help="classes to explain (default: the selection's groups, or AF and SR)")
    _add_segmentation_arguments(parent)
    parent.add_argument("--seed", type=int, default=None, help=f"run seed (default {config.RANDOM_SEED})")
    parent.add_argument("--force", action="store_true", help="recompute records already done")
    parent.add_argument("--out", required=True, type=Path, help="run folder")
    return parent


def _add_metric_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--extra-metrics", nargs="+", default=[], choices=sorted(EXTRA_METRICS),
                        help="also these costly metrics (each re-explains the record)")
    parser.add_argument("--ranking-scale", default="probability", choices=list(RANKING_SCALES),
                        help="scale of MoRF/LeRF/insertion/ROAD: the class probability (default) or its "
                             "logit (informative when the model is saturated)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``ecgxai`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="ecgxai", description="Explain 12-lead ECG classifiers.",
        epilog="Run 'ecgxai COMMAND --help' for a command's options and examples.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    model_args = argparse.ArgumentParser(add_help=False)
    model_args.add_argument("--model", required=True, type=Path, help=".keras, .h5, .onnx or TorchScript")
    model_args.add_argument("--architecture", choices=sorted(ARCHITECTURES),
                            help="zoo network for .h5 weights")
    model_args.add_argument("--classes", type=Path, help="class codes (.txt, .npy or .csv), in output order")
    model_args.add_argument("--units", choices=["adc", "mV"], help="input units the model was trained on")
    parallel = argparse.ArgumentParser(add_help=False)
    where = parallel.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, default=1, metavar="N",
                       help="local worker processes, each loading the model once (default 1)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--dask-local", type=int, metavar="N",
                       help="start a local Dask cluster with N worker processes")
    explaining = _explaining_parent()
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter

    stretching = argparse.ArgumentParser(add_help=False)
    stretch = stretching.add_mutually_exclusive_group()
    stretch.add_argument("--start", type=float, metavar="SECONDS",
                         help="the stretch of the model's length from this many seconds into each record "
                              "(default 0)")
    stretch.add_argument("--windows", action="store_true",
                         help="every stretch of the model's length over each record: predict writes one row "
                              "each, explain takes the stretch most probable for each class")
    stretching.add_argument("--window-stride", type=float, metavar="SECONDS",
                            help="seconds between window starts (default: the model's length)")

    p = sub.add_parser("predict", help="class probabilities for records", epilog=PREDICT_EXAMPLES,
                       formatter_class=raw, parents=[common, model_args, parallel, stretching])
    p.add_argument("records", nargs="+", type=Path, help="record files or directories (searched)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--allow-default-fs", action="store_true",
                   help="read a .mat without header at 500 Hz (the original's fallback)")
    p.add_argument("--out", required=True, type=Path, help="probabilities table (.csv or .parquet)")
    p.set_defaults(func=cmd_predict)

    s = sub.add_parser("select", help="pick confident examples per target diagnosis",
                       epilog=SELECT_EXAMPLES, formatter_class=raw, parents=[common])
    s.add_argument("--probs", required=True, type=Path, help="table written by 'ecgxai predict'")
    targets = s.add_mutually_exclusive_group()
    targets.add_argument("--targets", nargs="+", metavar="CODE", help="scored SNOMED codes (default: AF, SR)")
    targets.add_argument("--target-meta", type=Path, help="JSON: code -> {name, aliases}")
    s.add_argument("--k", type=int, default=5, help="records per target (default 5)")
    s.add_argument("--min-prob", type=float, default=0.85)
    s.add_argument("--max-duration", type=float, default=20.0,
                   help="longest record (or stretch, for a table with start_sec/end_sec) in seconds "
                        "(default 20)")
    s.add_argument("--seed", type=int, default=None, help=f"default {config.RANDOM_SEED}")
    s.add_argument("--require-label", action="store_true",
                   help="only records whose header #Dx has the target (or an alias)")
    s.add_argument("--duration-cache", type=Path, help="JSON file caching header durations")
    s.add_argument("--out", required=True, type=Path, help="selection table (.csv or .parquet)")
    s.set_defaults(func=cmd_select)

    e = sub.add_parser("explain", help="explain records for target classes", epilog=EXPLAIN_EXAMPLES,
                       formatter_class=raw, parents=[common, model_args, parallel, explaining, stretching])
    e.add_argument("--method", default=AUTO, type=_method_name, metavar="METHOD",
                   help=f"explainer: {', '.join((AUTO, *RUN_METHODS))}, or {CAPTUM_PREFIX}NAME for a Captum "
                        "class on a torch model (default auto: the best measured method for the model's "
                        "kind -- cell occlusion when its perturbations run incrementally, else IG with "
                        "gradients, cell occlusion for a black box -- printed and written to run.json)")
    e.add_argument("--method-option", type=_method_option, action="append", metavar="KEY=VALUE",
                   help="a setting of the method (ExplainParams.options), the value read as JSON; "
                        "for captum:NAME a keyword argument of its class, e.g. n_steps=16 (repeatable)")
    e.set_defaults(func=cmd_explain)

    v = sub.add_parser("evaluate", help="metrics of saved explanations", epilog=EVALUATE_EXAMPLES,
                       formatter_class=raw, parents=[common, model_args, parallel])
    v.add_argument("payloads", nargs="*", type=Path, help="payload JSON files or run folders")
    v.add_argument("--attributions", type=Path, metavar="INDEX",
                   help="also score attribution arrays (.npy/.npz) listed in INDEX (.csv or .json: record, "
                        "class, file; optionally cell_sec, method, start_sec; paths relative to INDEX, "
                        "records to --data-root when given)")
    v.add_argument("--method-label", help="label for the method column (default: the payloads' own)")
    v.add_argument("--priors", action="store_true",
                   help="blend the class prior into scores (the original's use_priors; off by default)")
    v.add_argument("--data-root", type=Path, help="folder that relative mat_path values start from")
    v.add_argument("--seed", type=int, default=None, help=f"run seed (default {config.RANDOM_SEED})")
    _add_metric_options(v)
    v.add_argument("--force", action="store_true", help="recompute rows already evaluated")
    v.add_argument("--out", required=True, type=Path, help="metrics table (.csv or .parquet)")
    v.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("compare", help="every method on the same records, one table and figure",
                       epilog=COMPARE_EXAMPLES, formatter_class=raw,
                       parents=[common, model_args, parallel, explaining])
    c.add_argument("--methods", nargs="+", default=list(RUN_METHODS), choices=list(RUN_METHODS),
                   metavar="METHOD", help=f"methods to compare (default all: {' '.join(RUN_METHODS)})")
    _add_metric_options(c)
    c.set_defaults(func=cmd_compare)

    g = sub.add_parser("plot", help="draw a payload's explanation over its ECG", epilog=PLOT_EXAMPLES,
                       formatter_class=raw, parents=[common])
    g.add_argument("payload", type=Path, help="payload JSON file (one explanation)")
    g.add_argument("-o", "--out", required=True, type=Path, help="figure file (.svg, .png or .pdf)")
    g.add_argument("--topk", type=int, default=5, help="leads emphasised and shaded (default 5)")
    g.add_argument("--all-leads", action="store_true", help="shade every lead's spans, not only the top k")
    g.add_argument("--data-root", type=Path, help="folder that a relative mat_path starts from")
    g.add_argument("--dpi", type=float, default=150, help="PNG resolution (default 150)")
    g.set_defaults(func=cmd_plot)

    r = sub.add_parser("report", help="one HTML report of a run folder", epilog=REPORT_EXAMPLES,
                       formatter_class=raw, parents=[common])
    r.add_argument("run_dir", type=Path, help="run folder written by 'ecgxai explain' (and evaluate)")
    r.add_argument("-o", "--out", type=Path, help="HTML file to write (default RUN_DIR/report.html)")
    r.add_argument("--max-records", type=int, default=config.REPORT_MAX_RECORDS,
                   help=f"record x class sections drawn (default {config.REPORT_MAX_RECORDS})")
    r.add_argument("--data-root", type=Path, help="folder that relative mat_path values start from")
    r.set_defaults(func=cmd_report)

    lo = sub.add_parser("localisation", help="localisation benchmark: planted evidence, every method",
                        formatter_class=raw, parents=[common, parallel])
    lo.add_argument("--out", required=True, type=Path, help="run folder")
    lo.add_argument("--n-per-class", type=int, default=4, help="benchmark records per diagnosis (default 4)")
    lo.add_argument("--seed", type=int, default=0, help="records and explainer seed (default 0)")
    lo.add_argument("--methods", nargs="+", default=list(RUN_METHODS), choices=list(RUN_METHODS),
                    metavar="METHOD", help=f"methods (default all: {' '.join(RUN_METHODS)})")
    lo.add_argument("--model", type=Path, help="your own model instead of the bundled benchmark classifier "
                                               "(warned: it was not trained on these records)")
    lo.add_argument("--architecture", choices=sorted(ARCHITECTURES), help="zoo network for .h5 weights")
    lo.add_argument("--classes", type=Path, help="class codes of --model, in output order")
    lo.add_argument("--units", choices=["adc", "mV"], help="input units --model was trained on")
    lo.add_argument("--force", action="store_true", help="recompute records already done")
    _add_segmentation_arguments(lo)
    lo.set_defaults(func=cmd_localisation)

    d = sub.add_parser("demo", help="the whole pipeline on the bundled localisation benchmark",
                       epilog=DEMO_EXAMPLES,
                       formatter_class=raw, parents=[common])
    d.add_argument("--out", type=Path, default=Path("out/demo"), help="run folder (default out/demo)")
    d.add_argument("--n", type=int, help="synthetic records (default 3 per diagnosis)")
    d.add_argument("--seed", type=int, default=None, help=f"run seed (default {config.RANDOM_SEED})")
    d.set_defaults(func=cmd_demo)
    return parser


def _log_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: object = None, line: str | None = None) -> None:
    """Show a Python warning (e.g. from Keras) as one ecgxai log line."""
    log.warning("%s: %s (%s:%d)", category.__name__, message, filename, lineno)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _log_warning
            return args.func(args)
    except (ECGXAIError, OSError, ValueError) as exc:
        print(f"ecgxai {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
