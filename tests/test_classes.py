"""The class registry: the reference class files resolve, every fact is defined once and read from there."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import pytest

import ecgxai
import ecgxai.evaluate
import ecgxai.explain
from ecgxai import classes, config
from ecgxai.classes import (
    AFIB,
    NSR,
    PVC,
    RBBB,
    SCORED_CLASSES,
    SCORED_CODES,
    UNSCORED_CLASSES,
    EvaluationRegion,
    diagnosis_class,
    evaluation_region,
)
from ecgxai.errors import ConfigurationError, UnknownClassError
from ecgxai.explain.settings import ExplainParams
from ecgxai.signal.windows import beat_windows
from ecgxai.synth.benchmark import IMPLANTS

SRC = Path(__file__).resolve().parents[1] / "src" / "ecgxai"
ALL_CLASSES = (*SCORED_CLASSES, *UNSCORED_CLASSES)


def test_every_code_of_the_reference_class_file_resolves(reference_dir: Path) -> None:
    codes = (reference_dir / "snomed_classes.txt").read_text().split()
    assert len(codes) == 27 and tuple(codes) == SCORED_CODES
    for code in codes:
        assert diagnosis_class(code).code == code
        assert diagnosis_class(int(code)) is diagnosis_class(f" {code} ")


def test_names_and_abbreviations_are_the_challenge_csv(reference_dir: Path) -> None:
    with (reference_dir / "dx_mapping_scored.csv").open(newline="") as fh:
        rows = [(r["SNOMED CT Code"].strip(), r["Dx"].strip(), r["Abbreviation"].strip())
                for r in csv.DictReader(fh)]
    assert [(c.code, c.name, c.abbreviation) for c in SCORED_CLASSES] == rows
    assert [classes.class_name(code) for code, _, _ in rows] == [name for _, name, _ in rows]
    assert [classes.abbreviation(code) for code, _, _ in rows] == [abbr for _, _, abbr in rows]


@pytest.mark.parametrize("bad", ["12345", "", "sinus", "55930002"])
def test_unknown_codes_are_refused_by_name(bad: str) -> None:
    for lookup in (diagnosis_class, classes.class_name, evaluation_region, classes.synth_recipe):
        with pytest.raises(UnknownClassError, match=repr(bad)):
            lookup(bad)


def test_every_class_code_is_written_once_in_the_source() -> None:
    """A class's code appears as a string literal exactly once under src/ (its table entry or constant):
    a second table elsewhere would repeat it."""
    literals: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isdigit():
                literals.setdefault(node.value, []).append(str(path.relative_to(SRC)))
    for c in ALL_CLASSES:
        assert literals.get(c.code) == ["classes/table.py"], (c.code, literals.get(c.code))


# --- evaluation regions ---------------------------------------------------------------------------------


def test_every_class_has_a_cited_region_of_standard_leads_and_windows() -> None:
    for c in ALL_CLASSES:
        region = evaluation_region(c.code)
        assert region is c.region and isinstance(region, EvaluationRegion)
        assert region.lenient_leads[: len(region.strict_leads)] == region.strict_leads, c.code
        assert set(region.lenient_leads) <= set(config.STANDARD_LEADS), c.code
        assert region.windows and set(region.windows) <= set(config.WINDOW_TYPES), c.code
        assert len(region.source.strip()) > 20, c.code


def test_original_regions_of_af_and_sinus_rhythm() -> None:
    af, sinus = evaluation_region(AFIB), evaluation_region(NSR)
    assert (af.strict_leads, af.windows) == (("II", "V1"), ("beat",))
    assert af.lenient_leads == ("II", "V1", "V2", "aVF", "I", "V5", "V6", "aVR")
    assert (sinus.strict_leads, sinus.windows) == (("II", "V1"), ("pre",))
    assert sinus.lenient_leads == ("II", "V1", "I", "aVF", "V2")


def test_clinical_lead_choices() -> None:
    assert evaluation_region(RBBB).strict_leads == ("V1", "V2")
    assert {"I", "aVL", "V5", "V6"} <= set(evaluation_region(RBBB).lenient_leads)
    assert set(evaluation_region("164909002").strict_leads) == {"I", "aVL", "V5", "V6"}
    assert evaluation_region("10370003").windows[0] == "pace"
    assert set(evaluation_region("251146004").lenient_leads) == set(config.STANDARD_LEADS)


@pytest.mark.parametrize("strict, lenient, windows, source", [
    (("II",), ("V1",), ("beat",), "x"),  # strict lead not among the lenient ones
    (("II",), ("II", "V7"), ("beat",), "x"),  # no such lead
    (("II",), ("II",), ("d_qrs",), "x"),  # not a fixed window type
    (("II",), ("II",), ("beat",), " "),  # no source
    ("II", ("II",), ("beat",), "x"),  # a string, not a tuple
])
def test_malformed_regions_are_refused(strict, lenient, windows, source) -> None:
    with pytest.raises(ConfigurationError):
        EvaluationRegion(strict, lenient, windows, source)


def test_equivalent_codes_are_aliases_sharing_region_and_defaults() -> None:
    for a, b in classes.EQUIVALENT_CODES:
        assert classes.equivalents(a) == (a, b) and classes.equivalents(b) == (b, a)
        assert evaluation_region(a) == evaluation_region(b)
        assert classes.window_sec_for(a) == classes.window_sec_for(b)
        assert classes.lead_prior_for(a) == classes.lead_prior_for(b)
    assert classes.equivalents(AFIB) == (AFIB,)
    assert classes.make_target_meta(["17338001"]) == {
        "17338001": {"name": "ventricular premature beats", "aliases": ["17338001", PVC]}}


def test_wide_qrs_classes_get_the_longer_terminal_window() -> None:
    assert {"164909002", RBBB, "713427006", "713426002", "698252002"} == classes.WIDE_QRS_CODES
    r_times = [1.0]
    assert beat_windows(r_times, 70.0, "qrs_term", RBBB)[0][1] == pytest.approx(1.20)
    assert beat_windows(r_times, 70.0, "qrs_term", AFIB)[0][1] == pytest.approx(1.16)


# --- explanation defaults -------------------------------------------------------------------------------


def test_explanation_defaults_come_from_the_table() -> None:
    assert classes.window_sec_for(NSR) == 0.25 and classes.window_sec_for(PVC) == 0.4
    assert classes.window_sec_for(RBBB) == classes.BASE_WINDOW_SEC == 0.5
    assert classes.window_sec_for("999999") == classes.BASE_WINDOW_SEC
    assert classes.lead_prior_for(AFIB)["V1"] == 1.0 and classes.lead_prior_for(RBBB) == {}
    assert classes.fusion_weights_for(AFIB) == classes.DEFAULT_FUSION_WEIGHTS
    assert ExplainParams().for_class(NSR).window_sec == 0.25


def test_tuning_the_original_dicts_changes_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ecgxai.explain.WINDOW_SEC_BY_SNOMED is classes.WINDOW_SEC_BY_SNOMED
    monkeypatch.setitem(classes.WINDOW_SEC_BY_SNOMED, RBBB, 0.3)
    monkeypatch.setitem(classes.FUSION_WEIGHTS_BY_SNOMED, RBBB, (0.7, 0.3))
    assert ExplainParams().for_class(RBBB).window_sec == 0.3
    assert classes.fusion_weights_for(RBBB) == (0.7, 0.3)
    classes.lead_prior_for(AFIB)["V1"] = 0.0  # a copy: the table keeps its prior
    assert classes.lead_prior_for(AFIB)["V1"] == 1.0 and diagnosis_class(AFIB).window_sec == 0.5


# --- synthesis ------------------------------------------------------------------------------------------


def test_synthesised_classes_have_recipes_and_the_benchmark_plants_its_codes() -> None:
    recipes = {c.code for c in SCORED_CLASSES if c.synth is not None}
    assert recipes == set(classes.SYNTH_CODES) and len(classes.SYNTH_CODES) == 8
    assert classes.synth_recipe(NSR).rhythm == "sinus" and classes.synth_recipe(AFIB).pr_ms is None
    assert classes.synth_recipe(PVC).n_pvc == (1, 3)
    with pytest.raises(UnknownClassError, match="cannot be synthesised"):
        classes.synth_recipe("164931005")  # ST elevation: planted by the benchmark only
    assert set(IMPLANTS) == set(classes.BENCHMARK_CODES)
    assert [classes.abbreviation(c) for c in classes.BENCHMARK_CODES] == [
        "RBBB", "LBBB", "IAVB", "PVC", "AF", "STE", "TInv", "QAb"]


def test_original_names_stay_aliases_of_the_registry() -> None:
    assert ecgxai.evaluate.REGISTRY is classes.EVALUATION_REGIONS and set(ecgxai.evaluate.REGISTRY) == set(
        SCORED_CODES)
    assert ecgxai.evaluate.RegistryEntry is EvaluationRegion
    assert ecgxai.evaluate.registry_entry(AFIB) is evaluation_region(AFIB)
    assert classes.make_target_meta([AFIB, NSR]) == ecgxai.TARGET_META
    assert ecgxai.SCORED_CLASSES is SCORED_CLASSES
