"""Segmentation benchmark: do the event-based methods find planted evidence better on delineated waves?

Runs ``ecgxai localisation --event-kind KIND`` for each segmentation (default ``uniform``, the
default, and ``waves``) on the same benchmark records with the methods that explain events (the
perturbation methods and fused; gradient methods do not use events), then writes
``benchmarks/results/segmentation.md`` (and ``segmentation.csv``): per method and class, gt_auroc,
its random map's (same events, so the same resolution) and the margin between them, and the cells
at or below chance. A margin, not gt_auroc itself, is compared across segmentations: ``waves``
leaves the isoelectric stretch between one beat's T wave and the next P wave in no event, so every
map of it, the random one included, ranks those samples last.

    .venv/bin/python benchmarks/segmentation.py [--n-per-class 20] [--seed 160417] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd
from common import ROOT, listed_cells, localisation_parser, run_localisation_command, with_margin

from ecgxai.classes import BENCHMARK_CODES, abbreviation
from ecgxai.evaluate.compare import ALL_CLASSES
from ecgxai.explain.methods import PERTURBATION_METHODS
from ecgxai.explain.run_folder import LOCALISATION_TABLE
from ecgxai.io.manifest import environment

EVENT_METHODS = (*PERTURBATION_METHODS, "fused")


def run_kind(args: argparse.Namespace, kind: str) -> pd.DataFrame:
    """The localisation table of the event-based methods explained with segmentation ``kind``."""
    out = args.work / kind
    run_localisation_command(args, out, "--event-kind", kind, "--methods", *EVENT_METHODS)
    return with_margin(pd.read_csv(out / LOCALISATION_TABLE)).assign(event_kind=kind)


def margins(table: pd.DataFrame, rows: str, order: Sequence[str]) -> pd.DataFrame:
    """``rows`` (in ``order``) x event kind: the margin over the random map (its gt_auroc in brackets)."""
    cells = table.assign(cell=[f"{m:+.3f} ({r:.3f})" for m, r in zip(table.margin, table.random_gt_auroc,
                                                                      strict=True)])
    return cells.pivot(index=rows, columns="event_kind", values="cell").loc[list(order)].reset_index()


def at_chance(table: pd.DataFrame) -> list[str]:
    """Per segmentation, the method x class cells whose gt_auroc does not beat the random map's."""
    classes = table[table["class"] != ALL_CLASSES]
    return [f"- `{kind}`: " + listed_cells(rows[rows.margin <= 0], len(rows))
            for kind, rows in classes.groupby("event_kind", sort=False)]


def write_report(args: argparse.Namespace, table: pd.DataFrame, runtime: float) -> str:
    """The Markdown page."""
    env = environment()
    overall = table[table["class"] == ALL_CLASSES]
    by_class = (table[table["class"] != ALL_CLASSES].groupby(["class", "event_kind"], sort=False)
                [["margin", "random_gt_auroc"]].mean().reset_index())
    header = [
        "# Segmentation: uniform windows or delineated waves (localisation benchmark)", "",
        f"- Records: `generate_localisation_benchmark(n_per_class={args.n_per_class}, seed={args.seed})`, "
        "the "
        "bundled benchmark classifier, each record explained for its own diagnosis; only "
        "`--event-kind` differs between the runs (every other setting at its default).",
        f"- Methods: {', '.join(EVENT_METHODS)} (the methods that explain events).",
        f"- Machine: {env['platform']}, {os.cpu_count()} cores, python {env['python']}; run {date.today()}, "
        f"{runtime:.0f} s for this invocation (finished run folders are reused).",
        f"- Command: `python benchmarks/segmentation.py --n-per-class {args.n_per_class} --seed {args.seed} "
        f"--jobs {args.jobs} --kinds {' '.join(args.kinds)}`.", "",
        "Margin: gt_auroc minus the gt_auroc of a random map on the same events (in brackets); above 0: "
        "better than chance. `waves` puts the stretch between a T wave and the next P wave, and the cut "
        "beats at either end, in no event, so its random map already reads above 0.5: compare margins, "
        "not gt_auroc.",
    ]
    sections = [
        "\n".join(header),
        "## Cells at or below chance\n\n" + "\n".join(at_chance(table)),
        "## Per method (all classes): margin (random map's gt_auroc)\n\n"
        + margins(overall, "method", EVENT_METHODS).to_markdown(index=False),
        "## Per class, mean over the methods: margin (random map's gt_auroc)\n\n"
        + margins(by_class, "class", list(map(abbreviation, BENCHMARK_CODES))).to_markdown(index=False),
    ]
    return "\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = localisation_parser(__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["uniform", "waves"])
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "segmentation")
    parser.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "results" / "segmentation.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    table = pd.concat([run_kind(args, kind) for kind in args.kinds], ignore_index=True)
    text = write_report(args, table, time.perf_counter() - started)
    args.report.write_text(text)
    table.to_csv(args.report.with_suffix(".csv"), index=False)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
