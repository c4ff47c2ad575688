"""Localisation benchmark: ``ecgxai localisation`` on fresh records, written up in Markdown.

Runs ``ecgxai localisation --out OUT --n-per-class N --seed S --jobs J`` (all methods, the bundled
benchmark classifier; a finished run folder is reused), then writes
``benchmarks/results/localisation.md`` (and the table as ``localisation.csv``): the per-method and
per-class tables, whether every method beats its random baseline on every class, and the
classifier's validity figures on the same records (:mod:`ecgxai.evaluate.mask_use`).

    .venv/bin/python benchmarks/localisation.py [--n-per-class 20] [--seed 160417] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
from common import ROOT, listed_cells, localisation_parser, run_localisation_command, with_margin

from ecgxai.classes import BENCHMARK_CODES, abbreviation
from ecgxai.evaluate.compare import ALL_CLASSES
from ecgxai.evaluate.localisation_benchmark import MARGIN_SE, SCORES
from ecgxai.evaluate.mask_use import NEUTRALS, REFERENCES, mask_use, mask_use_summary, reference_auroc
from ecgxai.explain.methods import GRADIENT_METHODS
from ecgxai.explain.run_folder import BENCHMARK_RECORDS, LOCALISATION_TABLE, RunFolder
from ecgxai.io.manifest import environment, file_sha256
from ecgxai.models.loader import load_model
from ecgxai.models.zoo import BENCHMARK_MODEL_PATH
from ecgxai.synth.benchmark import NOT_LOCALISABLE, generate_pair

#: Where the write-up goes unless ``--report`` says otherwise.
DEFAULT_REPORT = ROOT / "benchmarks" / "results" / "localisation.md"


def per_class_auroc(table: pd.DataFrame) -> pd.DataFrame:
    """Class x method mean gt_auroc (random map's in brackets)."""
    cells = table.assign(cell=[f"{a:.3f} ({r:.3f})" for a, r in zip(table.gt_auroc, table.random_gt_auroc,
                                                                     strict=True)])
    return cells.pivot(index="class", columns="method", values="cell").loc[
        [*map(abbreviation, BENCHMARK_CODES), ALL_CLASSES], list(dict.fromkeys(table.method))].reset_index()


def checks(table: pd.DataFrame) -> list[str]:
    """The issue's criteria, computed from the table."""
    classes = table[table["class"] != ALL_CLASSES]
    classes = with_margin(classes)
    means = classes.groupby("method", sort=False).gt_auroc.mean()
    gradient = means[means.index.isin(GRADIENT_METHODS)]
    beaten = classes[classes.margin <= 0]
    unclear = classes[~(classes.margin.abs() >= 2 * classes[MARGIN_SE])]  # no spread (one record): unclear
    return [f"- Best gradient method: {gradient.idxmax()}, mean gt_auroc over the "
            f"{classes['class'].nunique()} localisable classes {gradient.max():.3f} (target >= 0.90: "
            f"{'met' if gradient.max() >= 0.90 else 'not met'}); best of all methods: {means.idxmax()} "
            f"{means.max():.3f}.",
            "- Method x class cells where gt_auroc does not beat the method's random map: "
            + listed_cells(beaten, len(classes)),
            "- Cells whose mean margin over the random map is within two standard errors of zero (not told "
            f"apart from chance with {classes.n.min()} records a class): "
            + listed_cells(unclear, len(classes), lambda r: f" {r.margin:+.3f} +- {r[MARGIN_SE]:.3f}"),
            f"- Not localisable, not scored: {'; '.join(NOT_LOCALISABLE.values())}."]


def run_pairs(out: Path) -> list:
    """The run's benchmark pairs (record and twin), rebuilt from their seeds."""
    records = pd.read_csv(RunFolder(out).file(BENCHMARK_RECORDS), dtype={"code": str})
    return [generate_pair(row.code, int(row.seed), name=row.record) for row in records.itertuples()]


def validity(out: Path) -> pd.DataFrame:
    """Mask-use medians per class on the run's own records, for each kind of neutral record."""
    pairs, classifier = run_pairs(out), load_model(BENCHMARK_MODEL_PATH)
    tables = [mask_use_summary(mask_use(classifier, pairs, kind)).assign(neutral=kind) for kind in NEUTRALS]
    found = pd.concat(tables, ignore_index=True)
    found.insert(0, "class", found.pop("code").map(abbreviation))
    return found


def reference_section(out: Path) -> str:
    """Mean gt_auroc per class of Integrated Gradients from the zero input and from the twin (oracle)."""
    found = reference_auroc(load_model(BENCHMARK_MODEL_PATH), run_pairs(out))
    means = found.groupby("code", sort=False)[list(REFERENCES)].mean()
    means.loc[ALL_CLASSES] = means.mean()
    means.index = [code if code == ALL_CLASSES else abbreviation(code) for code in means.index]
    return ("## Masks or methods? Integrated Gradients from the zero input and from the twin\n\n"
            "The same records, Integrated Gradients (16 steps, class logit) from its default reference, "
            "the all-zero input, and from the record's own twin, an oracle reference no explainer is "
            "given (diagnostic only). Mean gt_auroc per class; `all`: mean over classes.\n\n"
            + means.round(3).rename_axis("class").reset_index().to_markdown(index=False))


def _report_option(report: Path) -> str:
    """`` --report PATH`` for a report written elsewhere than :data:`DEFAULT_REPORT` (else nothing)."""
    path = report.resolve()
    if path == DEFAULT_REPORT:
        return ""
    return f" --report {path.relative_to(ROOT) if path.is_relative_to(ROOT) else report}"


def write_report(args: argparse.Namespace, runtime: float) -> str:
    """The Markdown text."""
    table = pd.read_csv(args.out / LOCALISATION_TABLE, dtype={"meta_code": str})
    card = json.loads(BENCHMARK_MODEL_PATH.with_name(BENCHMARK_MODEL_PATH.name + ".json").read_text())
    env = environment()
    overall = table[table["class"] == ALL_CLASSES].drop(columns=["class", "meta_code", "class_name"])
    shown = ["method", "n", *(c for pair in SCORES for c in pair), "mask_share", "probability", "saturated",
             "morf_auc", "random_morf_auc", "forward_equivalents_per_record"]
    held = card["held_out"]
    header = [
        "# Localisation of planted evidence (benchmark records with exact masks)", "",
        f"- Model: bundled benchmark CNN `{BENCHMARK_MODEL_PATH.name}` (sha256 "
        f"{file_sha256(BENCHMARK_MODEL_PATH)[:12]}); held-out recall per class "
        f"{min(held['recall_per_class'].values()):.2f}-{max(held['recall_per_class'].values()):.2f}, median "
        f"probability of a present class {held['median_present_probability']:.3f} (model card).",
        f"- Records: `ecgxai.synth.generate_localisation_benchmark(n_per_class={args.n_per_class}, "
        f"seed={args.seed})`, a seed used neither in development nor in training (training: "
        f"{card['recipe']['seed']} with sub-seeds 11-13); each record explained for its own diagnosis by "
        "every method with default settings; ranking metrics on the logit scale.",
        f"- Machine: {env['platform']}, {os.cpu_count()} cores, python {env['python']}, tensorflow "
        f"{env['tensorflow']}; run {date.today()}, {runtime:.0f} s for this invocation (a finished run "
        "folder is reused, not recomputed).",
        f"- Command: `python benchmarks/localisation.py --n-per-class {args.n_per_class} --seed {args.seed} "
        f"--jobs {args.jobs} --out {args.out}{_report_option(args.report)}`.", "",
        "Scores: gt_auroc (AUROC of |relevance| against the mask), gt_top_hit (top cell on the mask; "
        "chance: share of cells on it), pointing game, relevance mass and rank accuracy, each beside the "
        "same score of a random map of the method's resolution; mask_share: the mask's share of the "
        "record; saturated: share of rows with p > 0.99.",
    ]
    sections = [
        "\n".join(header),
        "## Checks\n\n" + "\n".join(checks(table)),
        "## Per method (all classes)\n\n" + overall[shown].round(3).to_markdown(index=False),
        "## Per class: mean gt_auroc (random map's)\n\n" + per_class_auroc(table).to_markdown(index=False),
        "## Does the model use the mask? (medians per class, same records)\n\n"
        "p_record: the record; p_neutral: a neutral record; p_neutral_with_mask: the neutral record with "
        "the record's masked region pasted in; p_record_without_mask: the record with its masked region "
        "replaced by the neutral record's. Neutral `sibling`: another person on the record's beat times; "
        "`other`: the next record's twin (unrelated beat times).\n\n"
        + validity(args.out).round(3).to_markdown(index=False),
        reference_section(args.out),
    ]
    return "\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = localisation_parser(__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "localisation")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    code = run_localisation_command(args, args.out)
    text = write_report(args, time.perf_counter() - started)
    args.report.write_text(text)
    pd.read_csv(args.out / LOCALISATION_TABLE).to_csv(args.report.with_suffix(".csv"), index=False)
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
