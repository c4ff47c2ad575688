"""Cost of each explainer on the reference records with the reference model, before and after
incremental inference.

For every method: seconds per record, model evaluations per record, forward-pass
equivalents per record (explanation seconds / seconds of one record's forward pass,
measured at the classifier's batch size right before each explanation, so the ratio
holds even when the machine's speed drifts), the share of full forward passes actually
computed and the share of time spent outside the model. Perturbation methods run twice,
on the full forward pass (``inference = full pass``: as before issue 17) and through the
incremental engine (``incremental``). Writes ``benchmarks/results/explain.csv`` and ``.md``.

    .venv/bin/python benchmarks/explain.py [--reference ../shared/reference] [--per-class 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd
from common import reference_parser, reference_setup, write_results

import ecgxai
from ecgxai.evaluate.compare import forward_seconds_per_record
from ecgxai.explain import explain_record, fuse_lime_timeshap_payload

#: Row name -> (method, settings, whether it perturbs locally and so can run incrementally).
METHODS = {
    "lime": ("lime", {}, True),
    "timeshap": ("timeshap", {}, True),
    "occlusion": ("occlusion", {}, True),
    "occlusion (flat, 0.1 s)": ("occlusion", {"hierarchy": "flat", "window_sec": 0.1}, True),
    "ig": ("ig", {}, False),
    "gradxinput": ("gradxinput", {}, False),
}
FULL, INCREMENTAL = "full pass", "incremental"


def measure(classifier: ecgxai.Classifier, records: pd.DataFrame, reference: Path, seed: int) -> pd.DataFrame:
    """One row per (method, inference, record) with wall time, model time, evaluations and the share
    of full forward passes computed."""
    rows = []
    for name, (method, params, local) in METHODS.items():
        for inference in (FULL, INCREMENTAL) if local else (FULL,):
            classifier.use_incremental = inference == INCREMENTAL
            first = records.iloc[0]
            explain_record(classifier, reference / "records" / f"{first.record}.mat", first.group_class,
                           method=method, params=params, seed=seed)  # warm-up: traces compiled functions
            for rec in records.itertuples():
                path = reference / "records" / f"{rec.record}.mat"
                forward = forward_seconds_per_record(classifier, ecgxai.preprocess_for_model(path))
                classifier.counter.reset()
                started = time.perf_counter()
                explanation = explain_record(classifier, path, rec.group_class, method=method,
                                             params=params, seed=seed)
                rows.append({"method": name, "inference": inference, "record": rec.record,
                             "seconds": time.perf_counter() - started,
                             "model_seconds": classifier.counter.model_seconds, "forward_seconds": forward,
                             "evaluations": explanation.model_evaluations,
                             "forward_fraction": classifier.counter.forward_fraction, "payload": explanation})
    classifier.use_incremental = True
    return pd.DataFrame(rows)


def fused_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Fused LIME + TimeSHAP: both explanations plus the fusion itself, per inference mode."""
    rows = []
    for inference in (FULL, INCREMENTAL):
        rows += _fused_rows(runs[runs.inference == inference], inference)
    return pd.DataFrame(rows)


def _fused_rows(runs: pd.DataFrame, inference: str) -> list[dict]:
    lime = runs[runs.method == "lime"].set_index("record")
    shap = runs[runs.method == "timeshap"].set_index("record")
    rows = []
    for record in lime.index:
        started = time.perf_counter()
        fuse_lime_timeshap_payload(lime.loc[record, "payload"], shap.loc[record, "payload"])
        fusion = time.perf_counter() - started
        parts = lime.loc[record], shap.loc[record]
        rows.append({"method": "fused", "inference": inference, "record": record,
                     "seconds": sum(p.seconds for p in parts) + fusion,
                     "model_seconds": sum(p.model_seconds for p in parts),
                     "forward_seconds": (parts[0].forward_seconds + parts[1].forward_seconds) / 2,
                     "evaluations": sum(p.evaluations for p in parts),
                     "forward_fraction": sum(p.forward_fraction for p in parts)})
    return rows


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-method means and the derived cost figures."""
    runs = runs.assign(fpe=runs.seconds / runs.forward_seconds,
                       outside=1 - runs.model_seconds / runs.seconds)
    table = runs.groupby(["method", "inference"], sort=False).agg(
        records=("record", "count"), seconds_per_record=("seconds", "mean"),
        forward_seconds_per_record=("forward_seconds", "mean"),
        evaluations_per_record=("evaluations", "mean"),
        forward_fraction_per_record=("forward_fraction", "mean"),
        forward_pass_equivalents=("fpe", "mean"),
        max_forward_pass_equivalents=("fpe", "max"), share_outside_model=("outside", "mean"))
    return table.reset_index()


def main(argv: list[str] | None = None) -> int:
    args = reference_parser(__doc__.splitlines()[0], per_class=3, out_name="explain.csv").parse_args(argv)
    setup = reference_setup(args)
    if setup is None:
        return 2
    classifier, records = setup
    runs = measure(classifier, records, args.reference, args.seed)
    write_results(summarise(pd.concat([runs.drop(columns="payload"), fused_rows(runs)], ignore_index=True)),
                  args.out)
    table = args.out.with_suffix(".md")
    table.write_text(_header(args, len(records)) + table.read_text())
    return 0


def _header(args: argparse.Namespace, n_records: int) -> str:
    """What the table measured, how and where."""
    return (f"# Explainer cost before and after incremental inference\n\n"
            f"`benchmarks/explain.py --per-class {args.per_class} --seed {args.seed}`: reference ResNet, "
            f"{n_records} reference records, {time.strftime('%Y-%m-%d')}, {platform.platform()}, "
            f"{os.cpu_count()} cores. `full pass`: every masked input through the whole model (as before "
            "issue 17); `incremental`: through `Classifier.predict_local`. forward_pass_equivalents = "
            "seconds / one record's forward pass timed right before each explanation; "
            "forward_fraction_per_record: the share of full forward passes actually computed.\n\n")


if __name__ == "__main__":
    sys.exit(main())
