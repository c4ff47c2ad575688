"""What the benchmark scripts share: the reference-data arguments, model and record choice."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

import ecgxai
from ecgxai.cli.main import main as ecgxai_main

ROOT = Path(__file__).resolve().parents[1]


def reference_parser(description: str, per_class: int, out_name: str) -> argparse.ArgumentParser:
    """Arguments every benchmark takes: --reference, --per-class, --seed, --out."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--per-class", type=int, default=per_class, help="records per target group (max 35)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / out_name)
    return parser


def reference_setup(args: argparse.Namespace) -> tuple[ecgxai.Classifier, pd.DataFrame] | None:
    """The reference model and the first ``per_class`` records of each target group, or None
    (with a message) when the reference material is absent."""
    if not (args.reference / "records").is_dir():
        print(f"reference material not found at {args.reference}", file=sys.stderr)
        return None
    classifier = ecgxai.load_model(args.reference / "model" / "resnet_final_weights.h5",
                                   architecture="physionet2020_resnet")
    selection = pd.read_csv(args.reference / "seed-results" / "selection.csv",
                            dtype={"record": str, "group_class": str})
    records = selection.groupby("group_class", sort=True).head(args.per_class).reset_index(drop=True)
    return classifier, records


def write_results(table: pd.DataFrame, out: Path) -> None:
    """The table as CSV and Markdown, and printed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    out.with_suffix(".md").write_text(table.round(4).to_markdown(index=False) + "\n")
    print(table.round(4).to_string(index=False))


#: The localisation benchmark's records: a seed used neither in development nor in training.
LOCALISATION_SEED = 160417


def localisation_parser(description: str) -> argparse.ArgumentParser:
    """Arguments of the scripts that run ``ecgxai localisation``: --n-per-class, --seed, --jobs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n-per-class", type=int, default=20)
    parser.add_argument("--seed", type=int, default=LOCALISATION_SEED)
    parser.add_argument("--jobs", type=int, default=2)
    return parser


def run_localisation_command(args: argparse.Namespace, out: Path, *options: str) -> int:
    """``ecgxai localisation --out OUT`` on the records ``args`` ask for, quietly, with ``options``."""
    return ecgxai_main(["localisation", "--out", str(out), "--n-per-class", str(args.n_per_class),
                        "--seed", str(args.seed), "--jobs", str(args.jobs), "-q", *options])


def with_margin(table: pd.DataFrame) -> pd.DataFrame:
    """A localisation table with ``margin``: gt_auroc minus its random map's."""
    return table.assign(margin=table.gt_auroc - table.random_gt_auroc)


def listed_cells(rows: pd.DataFrame, total: int, describe: Callable[[pd.Series], str] = lambda r: "") -> str:
    """The method x class cells in ``rows`` as 'K of N: method/class, ...' (each with ``describe``)."""
    named = ", ".join(f"{r.method}/{r['class']}{describe(r)}" for _, r in rows.iterrows())
    return f"{len(rows)} of {total}" + (f": {named}" if named else ".")
