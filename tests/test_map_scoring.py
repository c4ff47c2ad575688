"""An explanation is scored from its whole map; its spans are a cut of it (the original format).

When the spans hold everything the map holds (every event on every lead), scoring the map and
scoring the spans agree; when the spans drop detail (the default cut: the top 5 events on the top
5 leads), they differ. Synthetic RBBB record with its planted mask, bundled demo model.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

import ecgxai
from ecgxai.evaluate.evaluator import evaluate_payload
from ecgxai.explain import explain_record
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.synth import generate_dataset

pytestmark = pytest.mark.keras  # every test here runs a Keras model

RBBB, SEED = "59118001", 3
#: Metrics read from the dense relevance: a constant factor between map and spans cannot move them.
DENSE = ("morf_auc", "lerf_auc", "insertion_auc", "road_morf_auc", "faithfulness_correlation", "gt_auroc",
         "pointing_game", "relevance_mass_accuracy", "relevance_rank_accuracy")
#: Token metrics: the map sums whole samples, the spans integrate exact seconds (a sample at the edges).
TOKENS = ("strict_attauc", "lenient_attauc", "strict_attauc_delin", "lenient_attauc_delin")


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    path = generate_dataset(tmp_path_factory.mktemp("rbbb"), 1, codes=[RBBB], seed=SEED)["path"].iloc[0]
    return ecgxai.load_model(DEMO_MODEL_PATH), path


def rows(setting, params):
    """The metrics row of an occlusion explanation scored from its map and from its spans alone."""
    model, path = setting
    explanation = explain_record(model, path, RBBB, method="occlusion", seed=SEED,
                                 params={"hierarchy": "flat", "window_sec": 0.5, **params})
    spans_only = dataclasses.replace(explanation, attribution=None)
    return (evaluate_payload(explanation, model, seed=SEED), evaluate_payload(spans_only, model, seed=SEED),
            explanation)


def test_map_and_spans_agree_when_the_spans_hold_the_whole_map(setting):
    by_map, by_spans, explanation = rows(setting, {"keep_leads": None, "topk_events": None})
    assert sum(len(s) for s in explanation.perlead_spans.values()) == 20 * 12   # every event, every lead
    assert by_map["resolution"] == "segment" and by_spans["resolution"] == "spans"
    for metric in DENSE:
        assert by_map[metric] == pytest.approx(by_spans[metric], abs=1e-12), metric
    for metric in TOKENS:
        assert by_map[metric] == pytest.approx(by_spans[metric], abs=0.01), metric


def test_map_and_spans_differ_where_the_spans_drop_detail(setting):
    by_map, by_spans, explanation = rows(setting, {})
    assert sum(len(s) for s in explanation.perlead_spans.values()) == 5 * 5     # the original's cut
    differing = [m for m in (*DENSE, *TOKENS) if not math.isclose(by_map[m], by_spans[m], abs_tol=1e-9)]
    assert {"morf_auc", "insertion_auc", "gt_auroc", "strict_attauc"} <= set(differing)
