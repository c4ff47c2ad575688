"""Records per minute for predict and for the default explainer (LIME), serial, on local worker
processes and on a local Dask cluster, and what that means for the Challenge 2021 set (88,000 records).

Every run starts its own workers (loading TensorFlow and the model once per worker), paid once
per run: ``records_per_min`` includes it, ``steady_records_per_min`` does not (predict: from the
difference between N and 2N records; explain: from when the first and last payloads were written)
and is what a long run gets. Data: the
reference model and records (``--data reference``, default when present) or the bundled demo
classifier on synthetic records (``--data synthetic``). Writes ``benchmarks/results/
throughput-<data>.csv`` and ``.md`` (table plus the estimate).

    .venv/bin/python benchmarks/throughput.py [--data reference|synthetic] [--explain-records 12]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import ROOT

import ecgxai
from ecgxai.explain.runs import WorkItem, run_explanations
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.parallel import Execution
from ecgxai.synth import generate_dataset

CHALLENGE_RECORDS = 88_000
BACKENDS = {"serial": Execution(), "2 processes": Execution(jobs=2),
            "dask, 2 workers": Execution(dask_local=2)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["reference", "synthetic"], default=None,
                        help="default: reference when ../shared/reference exists, else synthetic")
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--predict-repeats", type=int, default=8,
                        help="predict the record list this many times over (default 8)")
    parser.add_argument("--explain-records", type=int, default=12, help="records explained per backend")
    parser.add_argument("--tasks", nargs="+", choices=["predict", "explain"], default=["predict", "explain"])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if args.data is None:
        args.data = "reference" if (args.reference / "records").is_dir() else "synthetic"
    return args


def workload(args: argparse.Namespace, scratch: Path) -> tuple[ecgxai.Classifier, list[Path], list[WorkItem]]:
    """The model (loaded from its file, so workers can load it), records to predict, items to explain."""
    if args.data == "reference":
        if not (args.reference / "records").is_dir():
            sys.exit(f"reference material not found at {args.reference}")
        model = ecgxai.load_model(args.reference / "model" / "resnet_final_weights.h5",
                                  architecture="physionet2020_resnet")
        selection = pd.read_csv(args.reference / "seed-results" / "selection.csv",
                                dtype={"record": str, "group_class": str})
        records = ecgxai.find_records(args.reference / "records")
        chosen = selection.head(args.explain_records)
        items = [WorkItem(r.group_class, str(args.reference / "records" / f"{r.record}.mat"), i)
                 for i, r in enumerate(chosen.itertuples())]
    else:
        model = ecgxai.load_model(DEMO_MODEL_PATH)
        table = generate_dataset(scratch / "records", n_per_class=9, seed=11)
        records = [Path(p) for p in table["path"]]
        items = [WorkItem(r.code, r.path + ".mat", i)
                 for i, r in enumerate(table.head(args.explain_records).itertuples())]
    return model, records, items


def measure_predict(model: ecgxai.Classifier, records: list[Path], execution: Execution
                    ) -> dict[str, float]:
    """Wall seconds for ``records`` and for twice as many; the steady rate is from their difference,
    so worker start-up (paid once per run) drops out."""
    walls = []
    for batch in (records, records * 2):
        started = time.perf_counter()
        result = ecgxai.predict_records(model, batch, progress=False, execution=execution)
        walls.append(time.perf_counter() - started)
        assert result.errors.empty, result.errors
    steady = (walls[1] - walls[0]) / len(records)
    startup = max(walls[0] - steady * len(records), 0.0)
    return {"records": len(records), "wall_s": walls[0], "startup_s": startup, "steady_s_per_record": steady}


def measure_explain(model: ecgxai.Classifier, items: list[WorkItem], execution: Execution,
                    out: Path) -> dict[str, float]:
    """Wall seconds for explaining ``items`` with LIME; the steady rate is from the times the
    payloads were written (first to last), so worker start-up drops out."""
    started = time.time()
    _, errors = run_explanations(model, items, "lime", out, progress=False, execution=execution)
    wall = time.time() - started
    assert errors.empty, errors
    written = sorted(path.stat().st_mtime for path in (out / "payloads").rglob("*.json"))
    steady = (written[-1] - written[0]) / (len(written) - 1)
    return {"records": len(items), "wall_s": wall, "startup_s": written[0] - started - steady,
            "steady_s_per_record": steady}


def row(task: str, backend: str, execution: Execution, timing: dict[str, float]) -> dict:
    """One table row: rates with and without worker start-up."""
    return {"task": task, "backend": backend, "workers": execution.dask_local or execution.jobs, **timing,
            "records_per_min": 60 * timing["records"] / timing["wall_s"],
            "steady_records_per_min": 60 / steady if (steady := timing["steady_s_per_record"]) > 0 else None}


def estimate(table: pd.DataFrame) -> str:
    """Hours for 88,000 records at each measured steady rate, and cores for a one-day or 8-hour run."""
    cores = os.cpu_count() or 1
    lines = [f"Estimate for {CHALLENGE_RECORDS:,} records (one class each) from the steady rates above "
             f"(this machine: {cores} cores, every backend uses all of them):"]
    for r in table.itertuples():
        hours = CHALLENGE_RECORDS / r.steady_records_per_min / 60
        lines.append(f"- {r.task}, {r.backend}: {hours:,.1f} h")
    explain = table[table["task"] == "explain lime"]
    per_core = explain["steady_records_per_min"].max() / cores
    for target_hours in (24, 8) if len(explain) else ():
        needed = CHALLENGE_RECORDS / (per_core * 60 * target_hours)
        lines.append(f"- LIME on all of them in {target_hours} h: about {needed:,.0f} cores "
                     f"(one single-threaded worker each) at {per_core:.1f} records/min per core")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        model, records, items = workload(args, Path(scratch))
        predict_list = records * args.predict_repeats
        for name, execution in BACKENDS.items() if "predict" in args.tasks else ():
            rows.append(row("predict", name, execution, measure_predict(model, predict_list, execution)))
            print(rows[-1], flush=True)
        for name, execution in BACKENDS.items() if "explain" in args.tasks else ():
            timing = measure_explain(model, items, execution, Path(scratch) / name)
            rows.append(row("explain lime", name, execution, timing))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    text = estimate(table)
    out = args.out_dir / f"throughput-{args.data}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    out.with_suffix(".md").write_text(f"Data: {args.data}, {len(records)} records, {model.source}\n\n"
                                      + table.round(2).to_markdown(index=False) + "\n\n" + text + "\n")
    print(table.round(2).to_string(index=False))
    print(text)


if __name__ == "__main__":
    main()
