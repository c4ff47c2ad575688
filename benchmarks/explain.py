"""Cost of each explainer on the reference records with the reference model.

For every method: seconds per record, model evaluations per record, forward-pass
equivalents per record (explanation seconds / seconds of one record's forward pass,
measured at the classifier's batch size right before each explanation, so the ratio
holds even when the machine's speed drifts) and the share of time spent outside the
model. Writes ``benchmarks/results/explain.csv`` and ``.md``.

    .venv/bin/python benchmarks/explain.py [--reference ../shared/reference] [--per-class 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import ecgxai
from ecgxai.explain import explain_record, fuse_lime_timeshap_payload

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("lime", "timeshap", "ig", "gradxinput")


def forward_seconds_per_record(classifier: ecgxai.Classifier, x: np.ndarray, repeats: int = 3) -> float:
    """Median seconds per record of one full batch through the model."""
    batch = np.repeat(x[None], classifier.batch_size, axis=0)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        classifier.predict(batch)
        times.append((time.perf_counter() - started) / len(batch))
    return statistics.median(times)


def pick_records(reference: Path, per_class: int) -> pd.DataFrame:
    """The first ``per_class`` records of each target group in the reference selection table."""
    selection = pd.read_csv(reference / "seed-results" / "selection.csv", dtype={"record": str,
                                                                                 "group_class": str})
    return selection.groupby("group_class", sort=True).head(per_class).reset_index(drop=True)


def measure(classifier: ecgxai.Classifier, records: pd.DataFrame, reference: Path, seed: int) -> pd.DataFrame:
    """One row per (method, record) with wall time, model time and evaluations."""
    rows = []
    for method in METHODS:
        first = records.iloc[0]
        explain_record(classifier, reference / "records" / f"{first.record}.mat", first.group_class,
                       method=method, seed=seed)  # warm-up: traces the compiled functions
        for rec in records.itertuples():
            path = reference / "records" / f"{rec.record}.mat"
            forward = forward_seconds_per_record(classifier, ecgxai.preprocess_for_model(path))
            classifier.counter.reset()
            started = time.perf_counter()
            explanation = explain_record(classifier, path, rec.group_class, method=method, seed=seed)
            rows.append({"method": method, "record": rec.record, "seconds": time.perf_counter() - started,
                         "model_seconds": classifier.counter.model_seconds, "forward_seconds": forward,
                         "evaluations": explanation.model_evaluations, "payload": explanation})
    return pd.DataFrame(rows)


def fused_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Fused LIME + TimeSHAP: both explanations plus the fusion itself."""
    lime = runs[runs.method == "lime"].set_index("record")
    shap = runs[runs.method == "timeshap"].set_index("record")
    rows = []
    for record in lime.index:
        started = time.perf_counter()
        fuse_lime_timeshap_payload(lime.loc[record, "payload"], shap.loc[record, "payload"])
        fusion = time.perf_counter() - started
        parts = lime.loc[record], shap.loc[record]
        rows.append({"method": "fused", "record": record, "seconds": sum(p.seconds for p in parts) + fusion,
                     "model_seconds": sum(p.model_seconds for p in parts),
                     "forward_seconds": (parts[0].forward_seconds + parts[1].forward_seconds) / 2,
                     "evaluations": sum(p.evaluations for p in parts)})
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-method means and the derived cost figures."""
    runs = runs.assign(fpe=runs.seconds / runs.forward_seconds,
                       outside=1 - runs.model_seconds / runs.seconds)
    table = runs.groupby("method", sort=False).agg(
        records=("record", "count"), seconds_per_record=("seconds", "mean"),
        forward_seconds_per_record=("forward_seconds", "mean"),
        evaluations_per_record=("evaluations", "mean"), forward_pass_equivalents=("fpe", "mean"),
        max_forward_pass_equivalents=("fpe", "max"), share_outside_model=("outside", "mean"))
    return table.reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--per-class", type=int, default=3, help="records per target group")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "explain.csv")
    args = parser.parse_args(argv)
    if not (args.reference / "records").is_dir():
        print(f"reference material not found at {args.reference}", file=sys.stderr)
        return 2
    classifier = ecgxai.load_model(args.reference / "model" / "resnet_final_weights.h5",
                                   architecture="physionet2020_resnet")
    records = pick_records(args.reference, args.per_class)
    runs = measure(classifier, records, args.reference, args.seed)
    table = summarise(pd.concat([runs.drop(columns="payload"), fused_rows(runs)], ignore_index=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    args.out.with_suffix(".md").write_text(table.round(4).to_markdown(index=False) + "\n")
    print(table.round(4).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
