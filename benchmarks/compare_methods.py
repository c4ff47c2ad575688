"""Explain + evaluate every method on the reference records; one comparison table.

Rows per class and method (priors off; priors on as separately labelled rows), the
original toolkit's own fused payloads evaluated by the same evaluator, and the
random-attribution baseline of every method beside it. Also the cost per record.
Writes ``benchmarks/results/compare_methods.csv`` and ``.md``.

    .venv/bin/python benchmarks/compare_methods.py [--per-class 10] [--reference ../shared/reference]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from common import reference_parser, reference_setup, write_results

from ecgxai.evaluate.evaluator import evaluate_all_payloads
from ecgxai.explain import explain_record, fuse_lime_timeshap_payload

METHODS = ("lime", "timeshap", "fused", "ig", "gradxinput")
COLUMNS = ["strict_attauc", "lenient_attauc", "strict_attauc_delin", "lenient_attauc_delin", "strict_f1",
           "lenient_f1", "strict_p_at_k", "lenient_p_at_k",
           "deletion_auc", "faithfulness_gain", "morf_auc", "lerf_auc", "insertion_auc", "lerf_morf_gap",
           "random_morf_auc", "random_lerf_auc", "random_insertion_auc", "random_lerf_morf_gap"]


def explain_all(classifier, records: pd.DataFrame, reference: Path, seed: int) -> dict[str, list]:
    """Payloads per method (fused from the LIME and TimeSHAP ones) and the seconds each took."""
    payloads: dict[str, list] = {m: [] for m in METHODS}
    for rec in records.itertuples():
        path = reference / "records" / f"{rec.record}.mat"
        for method in ("lime", "timeshap", "ig", "gradxinput"):
            payloads[method].append(explain_record(classifier, path, rec.group_class, method=method,
                                                   seed=seed))
        payloads["fused"].append(fuse_lime_timeshap_payload(payloads["lime"][-1], payloads["timeshap"][-1]))
    return payloads


def seed_payloads(reference: Path, records: pd.DataFrame) -> list[dict]:
    """The original toolkit's fused payloads for the same records, mat_path made absolute."""
    data = json.loads((reference / "seed-results" / "seed_fused_payloads.json").read_text())
    out = []
    for rec in records.itertuples():
        payload = dict(data[rec.group_class][rec.record])
        payload["mat_path"] = str(reference / payload["mat_path"])
        out.append(payload)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = reference_parser(__doc__.splitlines()[0], per_class=10, out_name="compare_methods.csv")
    args = parser.parse_args(argv)
    setup = reference_setup(args)
    if setup is None:
        return 2
    classifier, records = setup
    payloads = explain_all(classifier, records, args.reference, args.seed)
    payloads["original fused (seed payloads)"] = seed_payloads(args.reference, records)
    tables = []
    for method, items in payloads.items():
        for priors in (False, True):
            table = evaluate_all_payloads(items, method_label=method, model=classifier, use_priors=priors,
                                          seed=args.seed, ranking=not priors, progress=False)
            seconds = [getattr(p, "seconds", float("nan")) for p in items]
            evaluations = [getattr(p, "model_evaluations", float("nan")) for p in items]
            tables.append(table.assign(seconds=pd.Series(seconds).mean(),
                                       model_evaluations=pd.Series(evaluations).mean()))
    metrics = pd.concat(tables, ignore_index=True)
    means = {column: (column, "mean") for column in [*COLUMNS, "seconds", "model_evaluations"]}
    summary = (metrics[metrics["error"].isna()]
               .groupby(["meta_code", "class_name", "method", "priors_used"], sort=False)
               .agg(n=("record", "count"), **means).reset_index())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    metrics.to_csv(args.out.with_name(args.out.stem + "_per_record.csv"), index=False)
    write_results(summary, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
