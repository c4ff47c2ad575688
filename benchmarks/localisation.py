"""Ground-truth localisation of every explainer on synthetic records with planted evidence masks.

``--per-class`` records of each synthetic diagnosis (``ecgxai.synth``, each with a lead x
sample mask of where its diagnosis shows) are explained for their own diagnosis by the
bundled demo model with every method; "fused" is LIME + TimeSHAP fused with the class's
weights from the same two payloads. Each explanation is scored against the mask
(``ground_truth_localisation``: AUROC of |weight| per lead and sample, top-span hit and its
chance level) and its cost recorded. Writes ``benchmarks/results/localisation.md`` and
``localisation.csv`` (one row per record and method).

    .venv/bin/python benchmarks/localisation.py [--per-class 5] [--seed 42]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
from common import ROOT

import ecgxai
from ecgxai.evaluate.compare import forward_seconds_per_record
from ecgxai.evaluate.localisation import ground_truth_localisation
from ecgxai.explain.explainers import explain_record
from ecgxai.explain.methods import METHODS
from ecgxai.explain.pipeline import fuse_for_class
from ecgxai.io.manifest import environment, file_sha256
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.synth import SYNTH_CLASSES, generate_dataset

ORDER = ("lime", "timeshap", "fused", "ig", "gradxinput")


def explain_all(classifier: ecgxai.Classifier, records: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One row per (record, method): localisation scores, target probability and cost."""
    first = records.iloc[0]
    for method in METHODS:  # warm-up: traces the compiled functions before anything is timed
        explain_record(classifier, f"{first.path}.mat", first.code, method=method, seed=seed)
    rows = []
    for rec in records.itertuples():
        record = ecgxai.read_record(f"{rec.path}.mat")
        forward = forward_seconds_per_record(classifier, ecgxai.preprocess_for_model(
            record, maxlen=classifier.input_length, units=classifier.units, lead_names=classifier.lead_names))
        payloads = {m: explain_record(classifier, record, rec.code, method=m, seed=seed) for m in METHODS}
        payloads["fused"] = fuse_for_class(payloads["lime"], payloads["timeshap"], rec.code)
        for method in ORDER:
            explanation = payloads[method]
            scores = ground_truth_localisation(explanation, rec.path, rec.code, classifier.lead_names,
                                               record.fs)
            rows.append({"record": rec.record, "code": rec.code, "method": method,
                         "probability": payloads["lime"].probability, **scores,
                         "model_evaluations": explanation.model_evaluations, "seconds": explanation.seconds,
                         "forward_pass_equivalents": explanation.seconds / forward})
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-method means over all records."""
    return runs.assign(above_half=runs.gt_auroc > 0.5).groupby("method", sort=False).agg(
        records=("record", "count"), gt_auroc=("gt_auroc", "mean"), gt_auroc_sem=("gt_auroc", "sem"),
        share_auroc_above_half=("above_half", "mean"), top_hit=("gt_top_hit", "mean"),
        top_hit_chance=("gt_top_hit_chance", "mean"), model_evaluations=("model_evaluations", "mean"),
        forward_pass_equivalents=("forward_pass_equivalents", "mean"),
        seconds_per_record=("seconds", "mean")).reset_index()


def per_class(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Class x method: mean gt_auroc (with the model's mean probability), and top hit (chance)."""
    scores = ["gt_auroc", "gt_top_hit", "gt_top_hit_chance"]
    means = runs.groupby(["code", "method"], sort=False)[scores].mean()
    classes = runs.groupby("code", sort=False).agg(n=("record", "nunique"), p_target=("probability", "mean"))
    classes.insert(0, "class", [SYNTH_CLASSES[c].abbreviation for c in classes.index])
    auroc = classes.join(means["gt_auroc"].unstack()[list(ORDER)])
    cells = means.apply(lambda r: f"{r.gt_top_hit:.2f} ({r.gt_top_hit_chance:.2f})", axis=1)
    hits = classes[["class", "n"]].join(cells.unstack()[list(ORDER)])
    return auroc.reset_index(), hits.reset_index()


def reading(summary: pd.DataFrame, auroc: pd.DataFrame, runs: pd.DataFrame) -> str:
    """A few sentences stating what the tables show, computed from them."""
    s = summary.set_index("method")
    best, worst = s.gt_auroc.idxmax(), s.gt_auroc.idxmin()
    paired = runs.pivot(index="record", columns="method", values="gt_auroc")
    gap = paired[best] - paired[worst]
    margin = (s.top_hit - s.top_hit_chance).sort_values()
    class_means = auroc.set_index("class")[list(ORDER)].mean(axis=1).sort_values()
    class_hits = runs.groupby("code").gt_top_hit.mean().rename(lambda c: SYNTH_CLASSES[c].abbreviation)
    p = runs.drop_duplicates("record").probability
    settled = ("more than two standard errors." if gap.mean() >= 2 * gap.sem() else
               "less than two standard errors: this run does not settle the ranking of the methods.")
    lines = [
        f"Mean ground-truth AUROC (0.5 = chance) runs from {s.gt_auroc[worst]:.3f} ({worst}) to "
        f"{s.gt_auroc[best]:.3f} ({best}), and {(s.gt_auroc - 2 * s.gt_auroc_sem > 0.5).sum()} of "
        f"{len(s)} methods are more than two standard errors above 0.5. The gap between {best} and "
        f"{worst} is {gap.mean():.3f} ± {gap.sem():.3f} (paired over the same {len(gap)} records), "
        + settled,
        f"The top-ranked span beats a random span of the same explanation for {(margin > 0).sum()} of "
        f"{len(s)} methods, by at most {margin.max():.2f} ({margin.max() * s.records.max():.1f} records of "
        f"{s.records.max()}; top hit minus chance: " + ", ".join(f"{m} {v:+.2f}" for m, v in margin.items())
        + ").",
        f"The top-span hit rate ranges over {class_hits.max() - class_hits.min():.2f} between classes and "
        f"{s.top_hit.max() - s.top_hit.min():.2f} between methods; averaged over methods it is "
        f"{', '.join(f'{c} {v:.2f}' for c, v in class_hits.sort_values().items())}, and AUROC runs from "
        f"{class_means.iloc[0]:.3f} ({class_means.index[0]}) to {class_means.iloc[-1]:.3f} "
        f"({class_means.index[-1]}). The model gives the planted diagnosis a mean probability of "
        f"{p.mean():.2f} ({(p > 0.5).sum()} of {len(p)} records above 0.5), so low scores do not come from "
        "the model missing the diagnosis; the mask marks where the generator planted the evidence, which "
        "need not be what this model relies on.",
        f"Cost: {s.model_evaluations['gradxinput']:.0f} model evaluations per record for gradxinput, "
        f"{s.model_evaluations['ig']:.0f} for ig, {s.model_evaluations['lime']:.0f} for LIME and TimeSHAP "
        f"each and {s.model_evaluations['fused']:.0f} for fused ({s.seconds_per_record['fused']:.2f} s vs "
        f"{s.seconds_per_record['gradxinput']:.3f} s per record).",
    ]
    return " ".join(lines)


def write_report(out: Path, args: argparse.Namespace, classifier: ecgxai.Classifier, records: pd.DataFrame,
                 runs: pd.DataFrame, runtime: float) -> None:
    """The per-record CSV and the Markdown report (header, tables, reading)."""
    summary = summarise(runs)
    auroc, hits = per_class(runs)
    env = environment()
    header = [
        "# Ground-truth localisation on synthetic records", "",
        f"- Model: bundled demo CNN `{DEMO_MODEL_PATH.name}` (sha256 {file_sha256(DEMO_MODEL_PATH)[:12]}), "
        f"{classifier.n_classes} classes, "
        f"input {classifier.input_length} samples x {classifier.n_leads} leads.",
        f"- Records: {len(records)} synthetic records, {args.per_class} per code for the "
        f"{records.code.nunique()} codes of `ecgxai.synth.SYNTH_CODES`, "
        f"`generate_dataset(seed={args.seed})` with default noise levels; "
        "each explained for its own (planted) diagnosis.",
        f"- Explainer seed: {args.seed}. Fused = `fuse_for_class` (class fusion weights) of the same "
        "LIME and TimeSHAP payloads; its cost is the sum of theirs.",
        f"- Machine: {env['platform']}, {os.cpu_count()} cores, python {env['python']}, "
        f"tensorflow {env['tensorflow']}, ecgxai {env['ecgxai']}; run {date.today()}, "
        f"total runtime {runtime:.0f} s.",
        f"- Command: `.venv/bin/python benchmarks/localisation.py --per-class {args.per_class} "
        f"--seed {args.seed}`; per-record rows in `{out.with_suffix('.csv').name}`.", "",
        "gt_auroc: AUROC of |weight| per lead and sample (zero outside spans) against the mask; "
        "top_hit: share of records whose largest-|weight| span overlaps the mask on its lead; "
        "top_hit_chance: mean share of an explanation's spans that overlap the mask (a random span's hit "
        "rate); model_evaluations: samples through the model (forward + gradient); "
        "forward_pass_equivalents: seconds / seconds of one record's forward pass.",
    ]
    sections = [
        "\n".join(header),
        "## Per method\n\n" + summary.round(4).to_markdown(index=False),
        "## Per class: mean gt_auroc (p_target: mean model probability of the planted code)\n\n"
        + auroc.round(3).to_markdown(index=False),
        "## Per class: top-span hit rate (chance level)\n\n" + hits.to_markdown(index=False),
        "## Reading\n\n" + reading(summary, auroc, runs),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out.with_suffix(".csv"), index=False)
    out.write_text("\n\n".join(sections) + "\n")
    print(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=5, help="records per synthetic code")
    parser.add_argument("--seed", type=int, default=42, help="dataset and explainer seed")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "localisation.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    classifier = ecgxai.load_model(DEMO_MODEL_PATH)
    with tempfile.TemporaryDirectory() as folder:
        records = generate_dataset(folder, args.per_class, seed=args.seed)
        runs = explain_all(classifier, records, args.seed)
    write_report(args.out, args, classifier, records, runs, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
