"""Fusion of a LIME and a TimeSHAP payload, on hand-built payloads with hand-worked values.

Conventions of the hand-built payloads: lead II, LIME weight 0.8 (its max on II,
so normalised to 1.0) and TimeSHAP weight 0.5 next to an anchor span of |weight|
1.0 at [5, 6) so that 0.5 stays 0.5 after normalisation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ecgxai.errors import ConfigurationError
from ecgxai.explain.fusion import fuse_lime_timeshap_payload as fuse
from ecgxai.explain.payload import Explanation

MAT = "records/A0001.mat"
ANCHOR = (5.0, 6.0, -1.0)  # TimeSHAP's |max| on II; fuses to a solo span of beta x -1


def payload(spans: dict, **extra) -> dict:
    """A minimal original-format payload for record MAT."""
    return {"mat_path": MAT, "target_label": "AF", "method_label": "X", "page_seconds": 10.0,
            "perlead_spans": spans, **extra}


def overlap_pair(t_weight: float) -> tuple[dict, dict]:
    """LIME II [0,1) 0.8 (-> 1.0); TimeSHAP II [0,1) t_weight plus the anchor."""
    return payload({"II": [(0.0, 1.0, 0.8)]}), payload({"II": [(0.0, 1.0, t_weight), ANCHOR]})


def spans_of(exp: Explanation, lead: str = "II") -> list[tuple[float, float, float]]:
    return exp.perlead_spans.get(lead, [])


def assert_spans(actual, expected) -> None:
    assert len(actual) == len(expected), actual
    for got, want in zip(actual, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-9), (actual, expected)


# --- combining an overlap ------------------------------------------------------


@pytest.mark.parametrize(("agg", "weights", "expected"), [
    ("geomean", (0.5, 0.5), math.sqrt(0.5)),            # sqrt(1.0 x 0.5)
    ("mean", (0.5, 0.5), 0.75),                         # (1.0 + 0.5) / 2
    ("min", (0.5, 0.5), 0.5),
    ("max", (0.5, 0.5), 1.0),
    ("geomean", (3, 1), 0.5 ** 0.25),                   # 1.0^0.75 x 0.5^0.25 = 0.8409
    ("mean", (3, 1), 0.875),                            # 0.75 x 1.0 + 0.25 x 0.5
    ("min", (3, 1), 0.5),                               # min/max ignore method weights
    ("max", (3, 1), 1.0),
])
def test_each_agg_on_a_same_sign_overlap(agg, weights, expected):
    fused = fuse(*overlap_pair(0.5), agg=agg, method_weights=weights)
    assert_spans(spans_of(fused), [(0.0, 1.0, expected), (5.0, 6.0, -0.35)])
    assert fused.meta["agreement_vs_solo"]["II"] == pytest.approx(
        {"agreement_mass": expected, "conflict_mass": 0.0, "solo_mass": 0.35})


def test_same_sign_negative_overlap_keeps_the_sign():
    fused = fuse(payload({"II": [(0.0, 1.0, -0.8)]}), payload({"II": [(0.0, 1.0, -0.5), ANCHOR]}),
                 agg="mean")
    assert_spans(spans_of(fused), [(0.0, 1.0, -0.75), (5.0, 6.0, -0.35)])


# --- sign policies on an opposite-sign overlap (1.0 vs -0.5) ---------------------


@pytest.mark.parametrize(("agg", "weights", "expected"), [
    ("mean", (0.5, 0.5), 0.25),                         # net 0.25, equals the signed mean
    ("geomean", (0.5, 0.5), math.sqrt(0.5) / 3),        # sqrt(0.5) x |0.25| / 0.75
    ("max", (0.5, 0.5), 1.0 / 3),                       # 1.0 x 0.25 / 0.75
    ("mean", (1, 3), -0.125),                           # net 0.25 - 0.375 < 0: TimeSHAP's sign wins
])
def test_penalize_shrinks_by_the_surviving_share(agg, weights, expected):
    fused = fuse(*overlap_pair(-0.5), agg=agg, method_weights=weights, sign_policy="penalize")
    assert_spans(spans_of(fused), [(0.0, 1.0, expected), (5.0, 6.0, -0.35)])
    parts = fused.meta["agreement_vs_solo"]["II"]
    assert parts == pytest.approx({"agreement_mass": 0.0, "conflict_mass": abs(expected), "solo_mass": 0.35})


def test_penalize_cancels_equal_and_opposite_evidence():
    fused = fuse(payload({"II": [(0.0, 1.0, 0.8)]}), payload({"II": [(0.0, 1.0, -0.3)]}), agg="mean")
    assert fused.perlead_spans == {}  # 1.0 vs -1.0 -> 0, pruned by tau
    fused = fuse(payload({"II": [(0.0, 1.0, 0.8)]}), payload({"II": [(0.0, 1.0, -0.3)]}), tau=0.0)
    assert_spans(spans_of(fused), [(0.0, 1.0, 0.0)])


def test_drop_removes_the_conflict():
    fused = fuse(*overlap_pair(-0.5), agg="mean", sign_policy="drop")
    assert_spans(spans_of(fused), [(5.0, 6.0, -0.35)])
    assert fused.meta["agreement_vs_solo"]["II"]["conflict_mass"] == 0.0


def test_abs_ignores_signs_everywhere():
    fused = fuse(*overlap_pair(-0.5), agg="mean", sign_policy="abs")
    assert_spans(spans_of(fused), [(0.0, 1.0, 0.75), (5.0, 6.0, 0.35)])
    assert fused.meta["agreement_vs_solo"]["II"] == pytest.approx(
        {"agreement_mass": 0.0, "conflict_mass": 0.75, "solo_mass": 0.35})


# --- solo spans, elementary intervals, pruning, merging ------------------------


@pytest.mark.parametrize(("beta", "expected"), [(0.35, 0.35), (1.0, 1.0), (0.5, 0.5)])
def test_solo_spans_are_scaled_by_beta(beta, expected):
    fused = fuse(payload({"II": [(0.0, 1.0, 0.8), (2.0, 3.0, -0.4)]}), payload({}), beta=beta)
    assert_spans(spans_of(fused), [(0.0, 1.0, expected), (2.0, 3.0, -0.5 * expected)])
    assert fused.meta["agreement_vs_solo"]["II"]["solo_mass"] == pytest.approx(1.5 * expected)


def test_beta_zero_drops_solo_spans():
    assert fuse(payload({"II": [(0.0, 1.0, 0.8)]}), payload({}), beta=0.0).perlead_spans == {}


def test_partial_overlap_is_cut_into_elementary_intervals():
    fused = fuse(payload({"II": [(0.0, 1.0, 0.8)]}), payload({"II": [(0.5, 1.5, 0.5), ANCHOR]}))
    assert_spans(spans_of(fused), [(0.0, 0.5, 0.35),               # LIME solo: 0.35 x 1.0
                                   (0.5, 1.0, math.sqrt(0.5)),     # overlap: sqrt(1.0 x 0.5)
                                   (1.0, 1.5, 0.175),              # TimeSHAP solo: 0.35 x 0.5
                                   (5.0, 6.0, -0.35)])
    assert fused.meta["agreement_vs_solo"]["II"] == pytest.approx(
        {"agreement_mass": 0.5 * math.sqrt(0.5), "conflict_mass": 0.0, "solo_mass": 0.175 + 0.0875 + 0.35})


def test_a_methods_own_overlapping_spans_take_the_larger_weight():
    fused = fuse(payload({"II": [(0.0, 2.0, 0.5), (1.0, 3.0, -1.0)]}), payload({}), beta=1.0)
    assert_spans(spans_of(fused), [(0.0, 1.0, 0.5), (1.0, 3.0, -1.0)])


def test_pruning_abs_mode_uses_the_weight():
    lime = payload({"II": [(0.0, 1.0, 1.0), (2.0, 3.0, 0.1)]})  # solo 0.35 and 0.035
    assert_spans(spans_of(fuse(lime, payload({}), tau=0.04)), [(0.0, 1.0, 0.35)])
    assert_spans(spans_of(fuse(lime, payload({}), tau=0.03)), [(0.0, 1.0, 0.35), (2.0, 3.0, 0.035)])


def test_pruning_mass_mode_uses_duration_times_weight():
    lime = payload({"II": [(0.0, 1.0, 1.0), (2.0, 2.1, 1.0)]})  # solo 0.35 each; masses 0.35, 0.035
    assert_spans(spans_of(fuse(lime, payload({}), tau=0.04, tau_mode="mass")), [(0.0, 1.0, 0.35)])
    assert_spans(spans_of(fuse(lime, payload({}), tau=0.04, tau_mode="abs")),
                 [(0.0, 1.0, 0.35), (2.0, 2.1, 0.35)])


def test_merging_close_similar_spans_uses_the_duration_weighted_mean():
    fused = fuse(payload({"II": [(0.0, 1.0, 1.0), (1.01, 2.0, 0.9)]}), payload({}), beta=1.0)
    assert_spans(spans_of(fused), [(0.0, 2.0, (1.0 * 1.0 + 0.99 * 0.9) / 1.99)])  # 0.950251
    parts = fused.meta["agreement_vs_solo"]["II"]
    assert parts["solo_mass"] == pytest.approx(fused.meta["lead_masses"]["II"]) == pytest.approx(
        2.0 * 1.891 / 1.99)


def test_partial_overlap_merges_when_weights_agree():
    fused = fuse(payload({"II": [(0.0, 1.0, 0.8)]}), payload({"II": [(0.5, 1.5, 0.5)]}), beta=1.0)
    assert_spans(spans_of(fused), [(0.0, 1.5, 1.0)])  # solo 1.0 | overlap 1.0 | solo 1.0


@pytest.mark.parametrize("second", [(1.05, 2.0, 0.9), (1.0, 2.0, 0.5)],
                         ids=["gap 0.05 > gap_merge", "weights 0.5 apart > wt_merge_tol"])
def test_no_merge_when_far_apart_or_dissimilar(second):
    fused = fuse(payload({"II": [(0.0, 1.0, 1.0), second]}), payload({}), beta=1.0)
    assert_spans(spans_of(fused), [(0.0, 1.0, 1.0), second])


def test_no_merge_across_a_sign_change():
    spans = [(0.0, 1.0, 0.05), (1.0, 2.0, -0.05), (3.0, 4.0, 1.0)]
    fused = fuse(payload({"II": spans}), payload({}), beta=1.0, tau=0.0)
    assert_spans(spans_of(fused), spans)


def test_negative_gap_merge_disables_merging():
    fused = fuse(payload({"II": [(0.0, 1.0, 1.0), (1.0, 2.0, 1.0)]}), payload({}), beta=1.0, gap_merge=-1)
    assert_spans(spans_of(fused), [(0.0, 1.0, 1.0), (1.0, 2.0, 1.0)])


# --- lead scores, top leads, meta ---------------------------------------------


def test_lead_scores_blend_with_method_weights():
    lime = payload({"II": [(0, 1, 1.0)]}, lead_scores={"II": 3.0, "V1": 1.0})   # shares 0.75, 0.25
    shap = payload({"II": [(0, 1, 1.0)]}, lead_scores={"II": 1.0, "aVR": -1.0})  # shares 0.5, -0.5
    fused = fuse(lime, shap, method_weights=(0.6, 0.4))
    assert fused.lead_scores == pytest.approx({"II": 0.6 * 0.75 + 0.4 * 0.5, "V1": 0.6 * 0.25,
                                               "aVR": 0.4 * -0.5})


def test_lead_scores_fall_back_to_span_masses():
    lime = payload({"II": [(0, 2, 0.5)], "V1": [(0, 1, 1.0)]})  # masses 1.0, 1.0 -> shares 0.5, 0.5
    shap = payload({"II": [(0, 1, 1.0)]}, lead_scores={"II": 2.0})
    fused = fuse(lime, shap, method_weights=(1, 3))
    assert fused.lead_scores == pytest.approx({"II": 0.25 * 0.5 + 0.75 * 1.0, "V1": 0.25 * 0.5})


def test_topk_and_forced_leads():
    lime = payload({"II": [(0, 3, 1.0)], "V1": [(0, 2, -1.0)], "aVR": [(0, 1, 1.0)]})  # masses 3, 2, 1
    assert fuse(lime, payload({}), beta=1.0, topk=2).top5_leads == ["II", "V1"]
    fused = fuse(lime, payload({}), beta=1.0, topk=2, force_leads=("V6", "V1", "V6"))
    assert fused.top5_leads == ["V6", "V1", "II"]
    assert "V6" not in fused.perlead_spans and fused.meta["lead_masses"] == pytest.approx(
        {"II": 3.0, "V1": 2.0, "aVR": 1.0})
    assert fuse(lime, payload({}), topk=0, force_leads="aVR").top5_leads == ["aVR"]


def test_meta_masses_add_up_to_the_lead_mass():
    lime = payload({"II": [(0.0, 1.0, 0.8), (2.0, 3.0, 0.4)]})     # -> 1.0, 0.5
    shap = payload({"II": [(0.5, 1.5, 0.5), (2.0, 3.0, -1.0)]})     # max 1.0: 0.5, -1.0
    fused = fuse(lime, shap)
    conflict = math.sqrt(0.5) * 0.25 / 0.75                         # net 0.25 - 0.5, total 0.75
    assert_spans(spans_of(fused), [(0.0, 0.5, 0.35), (0.5, 1.0, math.sqrt(0.5)), (1.0, 1.5, 0.175),
                                   (2.0, 3.0, -conflict)])
    parts = fused.meta["agreement_vs_solo"]["II"]
    assert parts == pytest.approx({"agreement_mass": 0.5 * math.sqrt(0.5), "conflict_mass": conflict,
                                   "solo_mass": 0.5 * 0.35 + 0.5 * 0.175})
    assert sum(parts.values()) == pytest.approx(fused.meta["lead_masses"]["II"])


def test_meta_masses_add_up_after_merging_across_a_gap():
    lime = payload({"II": [(0.0, 1.0, 0.8), (1.01, 2.0, 0.76)]})   # 1.0, 0.95
    shap = payload({"II": [(0.0, 1.0, 1.0)]})
    fused = fuse(lime, shap, beta=1.0)
    assert len(spans_of(fused)) == 1
    parts = fused.meta["agreement_vs_solo"]["II"]
    assert sum(parts.values()) == pytest.approx(fused.meta["lead_masses"]["II"])
    assert parts["agreement_mass"] / parts["solo_mass"] == pytest.approx(1.0 / (0.99 * 0.95))


def test_settings_and_identity_fields():
    lime = Explanation(mat_path=MAT, target_label="AF", method_label="LIME", page_seconds=10.0,
                       perlead_spans={"II": [(0, 1, 0.8)]}, target_code="164889003", record="A0001",
                       sel_idx=7, probability=0.93, model_evaluations=100, seconds=1.5)
    shap = Explanation(mat_path=MAT, target_label="other", method_label="TimeSHAP", page_seconds=12.0,
                       perlead_spans={"II": [(0, 1, 0.5)]}, model_evaluations=50, seconds=2.0)
    fused = fuse(lime, shap, agg="min", method_label="fused", force_leads=["II"])
    assert (fused.mat_path, fused.target_label, fused.method_label, fused.page_seconds) == (
        MAT, "AF", "fused", 10.0)
    assert (fused.target_code, fused.record, fused.sel_idx, fused.probability) == (
        "164889003", "A0001", 7, 0.93)
    assert (fused.model_evaluations, fused.seconds) == (150, 3.5)
    assert fused.meta["settings"] == fused.params == {
        "agg": "min", "beta": 0.35, "tau": 0.02, "tau_mode": "abs", "topk": 5, "method_weights": [0.5, 0.5],
        "sign_policy": "penalize", "gap_merge": 0.02, "wt_merge_tol": 0.15, "force_leads": ["II"],
        "method_label": "fused"}
    assert Explanation.from_json(fused.to_json()) == fused


def test_accepts_dicts_explanations_and_json_payloads():
    lime, shap = payload({"II": [(0.0, 1.0, 0.8)]}), payload({"II": [(0.5, 1.5, 0.5), ANCHOR]})
    from_dicts = fuse(lime, shap)
    from_objects = fuse(Explanation.from_payload(lime), Explanation.from_payload(shap))
    from_json = fuse(json.loads(json.dumps(lime)), json.loads(json.dumps(shap)))
    assert isinstance(json.loads(json.dumps(lime))["perlead_spans"]["II"][0], list)
    assert from_dicts == from_objects == from_json
    assert from_dicts.perlead_spans["II"][1] == pytest.approx((0.5, 1.0, math.sqrt(0.5)))


def test_empty_payloads_fuse_to_an_empty_explanation():
    fused = fuse(payload({}), payload({"II": []}))
    assert (fused.perlead_spans, fused.top5_leads, fused.meta["lead_masses"]) == ({}, [], {})
    assert fuse(payload({}), payload({}), force_leads=("II",)).top5_leads == ["II"]


def test_an_empty_mat_path_matches_any_record():
    fused = fuse(payload({"II": [(0, 1, 0.8)]}, mat_path=""), payload({"II": [(0, 1, 0.5)]}), agg="max")
    assert fused.mat_path == "" and fused.perlead_spans == {"II": [(0.0, 1.0, 1.0)]}


# --- the original's payloads --------------------------------------------------


def _seed_payloads(reference_dir: Path) -> list[dict]:
    data = json.loads((reference_dir / "seed-results" / "seed_fused_payloads.json").read_text())
    return [p for records in data.values() for p in records.values()]


def _peak_normalised(spans: dict) -> dict:
    out = {}
    for lead, lead_spans in spans.items():
        peak = max(abs(w) for _, _, w in lead_spans)
        out[lead] = [(s, e, w / peak) for s, e, w in lead_spans]
    return out


def test_seed_payloads_refuse_with_themselves(reference_dir):
    payloads = _seed_payloads(reference_dir)
    assert len(payloads) == 70
    for p in payloads:
        fused = fuse(p, p, agg="mean", tau=0.0, gap_merge=-1.0)
        expected = _peak_normalised(p["perlead_spans"])
        assert list(fused.perlead_spans) == list(expected)
        for lead, spans in expected.items():
            assert_spans(fused.perlead_spans[lead], spans)
            parts = fused.meta["agreement_vs_solo"][lead]
            assert parts["solo_mass"] == parts["conflict_mass"] == 0.0
            assert parts["agreement_mass"] == pytest.approx(fused.meta["lead_masses"][lead])
        assert fused.lead_scores == pytest.approx(p["lead_scores"])
        assert fused.mat_path == p["mat_path"] and fused.method_label == "LIME+TimeSHAP"


def test_seed_payloads_fuse_with_defaults(reference_dir):
    for p in _seed_payloads(reference_dir):
        fused = fuse(p, p, force_leads=("II",))
        masses = fused.meta["lead_masses"]
        for lead, parts in fused.meta["agreement_vs_solo"].items():
            assert sum(parts.values()) == pytest.approx(masses[lead])
        ranked = sorted(masses, key=lambda lead: -masses[lead])
        assert fused.top5_leads == ["II", *[lead for lead in ranked[:5] if lead != "II"]]
        assert all(abs(w) <= 1.0 + 1e-12 for spans in fused.perlead_spans.values() for _, _, w in spans)


# --- argument validation ------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"agg": "median"}, {"sign_policy": "flip"}, {"tau_mode": "rel"}, {"beta": -0.1}, {"tau": -0.01},
    {"beta": float("nan")}, {"beta": "0.3"}, {"method_weights": (1.0,)}, {"method_weights": (1, 2, 3)},
    {"method_weights": (-1, 2)}, {"method_weights": (0, 0)}, {"method_weights": ("a", 1)},
    {"method_weights": 0.5}, {"topk": -1}, {"topk": 2.5}, {"gap_merge": float("inf")},
])
def test_bad_arguments_are_configuration_errors(kwargs):
    lime, shap = overlap_pair(0.5)
    with pytest.raises(ConfigurationError) as info:
        fuse(lime, shap, **kwargs)
    assert isinstance(info.value, ValueError)
    assert next(iter(kwargs)) in str(info.value)


def test_payloads_of_different_records_are_refused():
    lime, shap = overlap_pair(0.5)
    with pytest.raises(ConfigurationError, match="different records"):
        fuse(lime, {**shap, "mat_path": "records/A0002.mat"})


@pytest.mark.parametrize("bad", [{"mat_path": MAT}, payload({"II": [(0, 1, float("nan"))]})])
def test_unusable_payloads_are_refused(bad):
    with pytest.raises(ConfigurationError, match="payload_T"):
        fuse(payload({"II": [(0, 1, 0.8)]}), bad)
