"""How a hierarchical perturbation game fills the events outside its top k, measured by MoRF.

Events outside the top ``topk_events`` get no lead-level game; their event weight must be spread
over the leads. Two rules, on the same LIME and TimeSHAP explanations of the first ``--per-class``
reference records per target group: ``share`` (w / L per lead) and ``profile`` (w times the mean
share of |lead weight| each lead holds in the top events, what ``two_level_grid`` does). Each map
is scored by the evaluator (MoRF, insertion, ROAD, faithfulness correlation beside the random map).

    .venv/bin/python benchmarks/two_level_fill.py [--per-class 5]
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd
from common import reference_parser, reference_setup, write_results

from ecgxai.evaluate.evaluator import evaluate_payload
from ecgxai.explain import explain_record
from ecgxai.explain.perturbation import TwoLevelResult, two_level_grid

SCORES = ("morf_auc", "random_morf_auc", "insertion_auc", "road_morf_auc", "faithfulness_correlation")


def share_grid(result: TwoLevelResult, n_leads: int) -> np.ndarray:
    """The alternative rule: each other event's weight shared equally over the leads."""
    grid = np.repeat(result.event_weights[:, None] / n_leads, n_leads, axis=1)
    for j, weights in result.lead_weights.items():
        grid[j] = weights
    return grid


def main(argv: list[str] | None = None) -> int:
    parser = reference_parser(__doc__.splitlines()[0], per_class=5, out_name="two-level-fill.csv")
    args = parser.parse_args(argv)
    setup = reference_setup(args)
    if setup is None:
        return 2
    classifier, records = setup
    rows = []
    for record in records.itertuples():
        path = args.reference / "records" / f"{record.record}.mat"
        for method in ("lime", "timeshap"):
            explanation = explain_record(classifier, path, record.group_class, method=method, seed=args.seed)
            attribution = explanation.attribution
            top = attribution.meta["top_events"]
            leads = {j: attribution.values[j] for j in top}
            result, n_leads = TwoLevelResult(attribution.segment_weights, top, leads, 0), attribution.n_leads
            assert np.allclose(attribution.values, two_level_grid(result, n_leads), rtol=1e-3, atol=1e-12)
            grids = {"profile": two_level_grid(result, n_leads), "share": share_grid(result, n_leads)}
            for rule, grid in grids.items():
                variant = dataclasses.replace(explanation, attribution=attribution.with_values(grid))
                row = evaluate_payload(variant, classifier, seed=args.seed)
                rows.append({"record": record.record, "class": record.group_class, "method": method,
                             "rule": rule, **{k: row[k] for k in SCORES}})
    per_record = pd.DataFrame(rows)
    table = per_record.groupby(["method", "class", "rule"], as_index=False)[list(SCORES)].mean()
    table.insert(3, "n", per_record.groupby(["method", "class", "rule"]).size().to_numpy())
    write_results(table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
