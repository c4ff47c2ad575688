"""The run folder: every Python entry point records itself in run.json, metrics rows meet their payloads
by (record, class, method) however paths are spelled, and the in-memory pipelines are the folder runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgxai.config import STANDARD_LEADS
from ecgxai.evaluate.runs import evaluate_to_files, load_payload_files
from ecgxai.explain import run_fused_pipeline_for_class, run_pipeline_for_class
from ecgxai.explain.payload import Explanation
from ecgxai.explain.run_folder import RunFolder, RunKey, metrics_by_key
from ecgxai.explain.runs import items_from_selection, payload_path, run_explanations, warm_up
from ecgxai.io.files import read_table, write_table
from ecgxai.io.manifest import read_manifest
from ecgxai.models.base import CallableClassifier
from ecgxai.report.run_contents import load_run
from ecgxai.synth import generate_dataset

SR, AF = "426783006", "164889003"
CHEAP = {"m_event": 20, "m_feat": 20, "topk_events": 2}


def sinus_probability(x: np.ndarray) -> np.ndarray:
    """A stand-in classifier: sinus rhythm the likelier the more energy leads II and V1 carry."""
    p = 1 - np.exp(-np.mean(x[:, :, [1, 6]] ** 2, axis=(1, 2)) / 0.01)
    return np.stack([p, 1 - p], axis=1)


@pytest.fixture(scope="module")
def classifier() -> CallableClassifier:
    return CallableClassifier(sinus_probability, class_names=[SR, AF], n_leads=12, input_length=5000,
                              units="mV", lead_names=STANDARD_LEADS)


@pytest.fixture(scope="module")
def selection(tmp_path_factory) -> pd.DataFrame:
    """Two synthetic sinus-rhythm records, selected for SR."""
    records = generate_dataset(tmp_path_factory.mktemp("records"), n_per_class=2, codes=[SR], seed=1)
    return pd.DataFrame({"group_class": SR, "filename": [f"{p}.mat" for p in records["path"]],
                         "sel_idx": [0, 1]})


@pytest.fixture(scope="module")
def run(tmp_path_factory, classifier, selection) -> Path:
    """LIME on the two records and their metrics, both called from Python."""
    out = tmp_path_factory.mktemp("run")
    run_explanations(classifier, items_from_selection(selection), "lime", out, params=CHEAP, seed=3,
                     progress=False)
    evaluate_to_files(load_payload_files([out / "payloads"]), classifier, out / "metrics.csv", seed=3,
                      progress=False)
    return out


def test_python_entry_points_write_the_manifest(run, classifier):
    manifest = read_manifest(run)
    explained = manifest["explain"]["lime"]
    assert explained["method"] == "lime" and explained["items"] == 2 and explained["failed"] == 0
    assert explained["seed"] == 3 and explained["m_event"] == 20 and explained["targets"] == [SR]
    assert explained["model"] == classifier.source and explained["class_names"] == [SR, AF]
    evaluated = manifest["evaluate"]["metrics.csv"]
    assert evaluated["out"] == "metrics.csv" and evaluated["rows"] == 2 and evaluated["seed"] == 3
    assert RunFolder(run).metrics_tables(manifest) == [run / "metrics.csv"]


def test_a_table_below_the_run_folder_is_named_relative_to_it(run, classifier, tmp_path):
    payloads = load_payload_files([run / "payloads"])
    evaluate_to_files(payloads, classifier, tmp_path / "metrics" / "lime.csv", seed=3, progress=False,
                      run_dir=tmp_path)
    assert read_manifest(tmp_path)["evaluate"]["metrics/lime.csv"]["out"] == "metrics/lime.csv"
    assert read_manifest(tmp_path / "metrics") == {}  # not a manifest of its own beside the table
    evaluate_to_files(payloads, classifier, tmp_path / "elsewhere" / "m.csv", seed=3, progress=False)
    assert read_manifest(tmp_path / "elsewhere")["evaluate"]["m.csv"]["out"] == "m.csv"


def test_metrics_match_payloads_by_key_however_paths_are_spelled(run, tmp_path):
    respelled = tmp_path / "run"
    RunFolder(respelled).root.mkdir()
    for path in (run / "payloads").rglob("*.json"):
        target = respelled / path.relative_to(run)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    metrics = read_table(run / "metrics.csv", dtype={"meta_code": str})
    # the same rows with mat_path relative and .hea instead of absolute .mat; one row of another class
    metrics["mat_path"] = [f"records/{Path(p).stem}.hea" for p in metrics["mat_path"]]
    other = metrics.iloc[:1].assign(meta_code=AF, strict_attauc=-1.0)
    write_table(pd.concat([metrics, other], ignore_index=True), respelled / "metrics.csv")

    loaded = load_run(respelled)
    assert len(loaded.entries) == 2
    for entry in loaded.entries:
        rows = loaded.metric_rows(entry)
        assert len(rows) == 1 and rows["meta_code"].tolist() == [SR]
        assert rows["record"].tolist() == [entry.record] and rows["strict_attauc"].iloc[0] != -1.0
    assert RunKey.of_row(other.iloc[0]) in metrics_by_key(loaded.metrics)


def test_a_failed_metrics_row_carries_its_key(run, classifier, tmp_path):
    payload = load_payload_files([run / "payloads"])[0]
    payload.mat_path = str(tmp_path / "GONE.mat")
    table, _ = evaluate_to_files([payload], classifier, tmp_path / "metrics.csv", progress=False)
    assert table["error"].notna().all()
    assert RunKey.of_row(table.iloc[0]) == RunKey.of_payload(payload) == RunKey("GONE", SR, "LIME")


def _stored(explanation: Explanation | dict) -> dict:
    """An explanation as its payload file holds it (the map at storage precision), without its timing."""
    stored = json.loads(Explanation.from_payload(explanation).to_json())
    return {k: v for k, v in stored.items() if k != "seconds"}


def test_the_pipeline_and_the_folder_run_give_the_same_explanations(run, classifier, selection):
    payloads, table = run_pipeline_for_class(SR, selection, classifier, params=CHEAP, seed=3, progress=False)
    assert list(payloads) == [0, 1] and table["error"].isna().all()
    for item in items_from_selection(selection):
        on_disk = json.loads(payload_path(run, "lime", item).read_text())
        assert _stored(payloads[item.sel_idx]) == _stored(on_disk)


def test_fused_is_the_same_in_memory_and_in_a_folder(classifier, selection, tmp_path):
    fused, lime, shap = run_fused_pipeline_for_class(SR, selection, classifier, params=CHEAP, seed=3,
                                                     progress=False)
    table, errors = run_explanations(classifier, items_from_selection(selection), "fused", tmp_path,
                                     params=CHEAP, seed=3, progress=False)
    assert len(table) == len(lime) == len(shap) == 2 and errors.empty
    for item in items_from_selection(selection):
        assert fused[item.sel_idx]["method_label"] == "LIME+TimeSHAP"
        assert _stored(fused[item.sel_idx]) == _stored(json.loads(payload_path(tmp_path, "fused", item)
                                                                  .read_text()))


def test_warm_up_explains_once_keeps_nothing_and_skips_a_finished_run(tmp_path, run, classifier, selection):
    items = items_from_selection(selection)
    before = classifier.counter.evaluations
    warm_up(classifier, items, "fused", tmp_path, params=CHEAP, seed=3)  # LIME and TimeSHAP, once each
    assert classifier.counter.evaluations > before and not list(tmp_path.iterdir())
    before = classifier.counter.evaluations
    warm_up(classifier, items, "lime", run, params=CHEAP, seed=3)  # every LIME payload is there
    assert classifier.counter.evaluations == before
