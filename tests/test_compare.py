"""Method comparison (``compare_methods``, ``ecgxai compare``, the report's section) on a few synthetic
records with the bundled demo model and three cheap explainers.

Every expected value is recomputed here from the files the run wrote (per-record rows, payloads,
manifest), never typed in.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.compare import ALL_CLASSES, AVERAGED, LEAD_COLUMNS, compare_methods
from ecgxai.explain.run_folder import COMPARISON_FIGURE, COMPARISON_TABLE, PER_RECORD_TABLE
from ecgxai.explain.runs import WorkItem
from ecgxai.io.manifest import read_manifest
from ecgxai.io.records import signal_file_of
from ecgxai.models.loader import load_model
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.synth import SYNTH_CODES, generate_dataset

pytestmark = pytest.mark.keras  # every test here runs a Keras model

ECGXAI = Path(sys.executable).with_name("ecgxai")
CODES = SYNTH_CODES[:2]
METHODS = ("gradxinput", "occlusion", "gradcam")
SEED = 7


@pytest.fixture(scope="module")
def items(tmp_path_factory) -> list[WorkItem]:
    """Two synthetic records of each of two diagnoses, each to be explained for its own."""
    records = generate_dataset(tmp_path_factory.mktemp("records"), 2, codes=CODES, seed=5)
    return [WorkItem(r.code, str(signal_file_of(r.path)), i) for i, r in enumerate(records.itertuples())]


@pytest.fixture(scope="module")
def model():
    return load_model(DEMO_MODEL_PATH)


@pytest.fixture(scope="module")
def run(items, model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    result = compare_methods(model, items, METHODS, out, seed=SEED, progress=False)
    assert result.errors.empty, result.errors
    return out


def tables(run: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    read = {"dtype": {"meta_code": str}}
    return pd.read_csv(run / COMPARISON_TABLE, **read), pd.read_csv(run / PER_RECORD_TABLE, **read)


def assert_same(found: float, expected: float, what: str) -> None:
    assert (math.isnan(found) and math.isnan(expected)) or found == pytest.approx(expected, rel=1e-9), what


def test_a_row_per_method_and_class_plus_all(run, items):
    table, _ = tables(run)
    expected = {(m, c) for m in METHODS for c in (*CODES, ALL_CLASSES)}
    assert set(zip(table["method"], table["meta_code"], strict=True)) == expected
    assert len(table) == len(expected)
    per_class = pd.Series([item.group_class for item in items]).value_counts()
    for row in table.itertuples():
        assert row.n == (len(items) if row.meta_code == ALL_CLASSES else per_class[row.meta_code])
    assert list(table.columns[:len(LEAD_COLUMNS)]) == LEAD_COLUMNS


def test_cost_comes_from_the_payloads_and_the_forward_pass(run, items):
    table, _ = tables(run)
    forward = read_manifest(run)["compare"]["forward_seconds_per_record"]
    assert forward > 0
    for method in METHODS:
        payloads = [json.loads(p.read_text()) for p in (run / "payloads" / method).rglob("*.json")]
        assert len(payloads) == len(items)
        row = table[(table["method"] == method) & (table["meta_code"] == ALL_CLASSES)].iloc[0]
        assert row.seconds_per_record == pytest.approx(np.mean([p["seconds"] for p in payloads]))
        evaluations = np.mean([p["model_evaluations"] for p in payloads])
        assert row.evaluations_per_record == pytest.approx(evaluations)
    np.testing.assert_allclose(table["forward_equivalents_per_record"],
                               table["seconds_per_record"] / forward, rtol=1e-9)


def test_metric_and_baseline_means_are_the_per_record_means(run):
    table, per_record = tables(run)
    metrics = [c for c in table.columns if c not in LEAD_COLUMNS]
    assert metrics and set(metrics) <= set(AVERAGED)
    assert {m for m in AVERAGED if per_record[m].notna().any()} == set(metrics)  # none left out
    assert "random_morf_auc" in metrics and "random_pointing_game" in metrics
    for row in table.itertuples(index=False):
        mine = per_record[per_record["method"] == row.method]
        if row.meta_code != ALL_CLASSES:
            mine = mine[mine["meta_code"] == row.meta_code]
        assert len(mine) == row.n
        for metric in metrics:
            assert_same(getattr(row, metric), mine[metric].mean(), f"{row.method} {row.meta_code} {metric}")


def test_baselines_are_shared_by_methods_of_one_resolution_only(run):
    _, per_record = tables(run)
    randoms = [c for c in per_record.columns if c.startswith("random_") and per_record[c].notna().any()]
    by_resolution = per_record.groupby(["mat_path", "meta_code", "resolution"])
    assert (by_resolution[randoms].nunique() <= 1).all().all()  # one random map per resolution
    sample = per_record[per_record["resolution"] == "sample"]
    assert set(sample["method"]) == {"gradxinput", "gradcam"}
    segment = per_record[per_record["resolution"] == "segment"].set_index(["mat_path", "meta_code"])
    shared = sample.drop_duplicates(["mat_path", "meta_code"]).set_index(["mat_path", "meta_code"])
    assert (segment["random_morf_auc"] != shared.loc[segment.index, "random_morf_auc"]).all()


def stamps(run: Path) -> dict[Path, int]:
    files = [*run.glob("payloads/*/*/*.json"), *run.glob("metrics/*.csv.parts/*.json")]
    return {path: path.stat().st_mtime_ns for path in files}


def test_rerun_skips_finished_work(run, items, model):
    before = stamps(run)
    assert len(before) == 2 * len(METHODS) * len(items)  # a payload and a metrics row each
    table, _ = tables(run)
    again = compare_methods(model, items, METHODS, run, seed=SEED, progress=False)
    assert stamps(run) == before
    same = [c for c in table.columns if c != "forward_equivalents_per_record"]  # the forward pass is re-timed
    pd.testing.assert_frame_equal(again.table[same].reset_index(drop=True), table[same], check_dtype=False)


def test_unknown_method_is_refused_before_any_work(items, model, tmp_path):
    with pytest.raises(ConfigurationError, match="nonsense"):
        compare_methods(model, items, ["gradxinput", "nonsense"], tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_failing_record_is_listed_and_left_out_of_the_means(items, model, tmp_path):
    good = Path(items[0].filename)
    (tmp_path / "BAD01.hea").write_text(good.with_suffix(".hea").read_text().replace(good.stem, "BAD01"))
    (tmp_path / "BAD01.mat").write_bytes(b"not a matlab file" * 10)
    bad = WorkItem(items[0].group_class, str(tmp_path / "BAD01.mat"), len(items))
    result = compare_methods(model, [bad, *items], ["gradxinput"], tmp_path / "run", seed=SEED,
                             progress=False)
    assert list(result.errors["record"]) == ["BAD01"] and list(result.errors["method"]) == ["gradxinput"]
    assert "BAD01" not in set(result.per_record["record"])
    explained = result.table[result.table["method"] == "gradxinput"].set_index("meta_code")
    assert explained.loc[ALL_CLASSES, "n"] == len(items)


def ecgxai(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ECGXAI), *map(str, args)], capture_output=True, text=True, timeout=600)


def test_command_writes_table_and_figure_and_the_report_shows_them(run, items, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)  # the command resumes the library's run: same items, methods and seed
    selection = pd.DataFrame([{"group_class": i.group_class, "filename": i.filename, "sel_idx": i.sel_idx}
                              for i in items])
    selection.to_csv(tmp_path / "selection.csv", index=False)
    before = stamps(folder)
    proc = ecgxai("compare", "--model", DEMO_MODEL_PATH, "--methods", *METHODS, "--seed", SEED,
                  "--selection", tmp_path / "selection.csv", "--out", folder)
    assert proc.returncode == 0, proc.stderr
    assert stamps(folder) == before
    assert all(method in proc.stdout for method in METHODS)
    figure = (folder / COMPARISON_FIGURE).read_text()
    assert figure.lstrip().startswith("<?xml") and "<svg" in figure
    table, _ = tables(folder)
    assert set(table["method"]) == set(METHODS)
    settings = read_manifest(folder)["compare"]
    assert settings["methods"] == list(METHODS) and settings["items"] == len(items)
    assert settings["figure"] == COMPARISON_FIGURE and settings["inputs"]["selection"]["sha256"]

    shown = ecgxai("report", folder, "--max-records", "1", "--quiet")
    assert shown.returncode == 0, shown.stderr
    page = (folder / "report.html").read_text()
    section = re.search(r'<h2 id="comparison">Method comparison per class</h2>(.*?)<h2 ', page, flags=re.S)
    assert section is not None and 'href="#comparison"' in page
    assert "<svg" in section.group(1) and "<script" not in page
    for method in METHODS:
        assert f"<td>{method}</td>" in section.group(1)
    assert "random_<wbr>morf_<wbr>auc" in section.group(1)  # each method beside its own baseline
    order = [page.index(f'id="{name}"') for name in ("answer", "comparison", "metrics", "settings")]
    assert order == sorted(order)
    assert re.search(r"cheapest: \w+ \([\d,.]+ forward passes\)", page)  # compare times the forward pass


def test_an_unsafe_item_is_reported_on_every_run_not_raised(items, model, tmp_path: Path):
    """Re-running with every safe payload written used to fail on the unsafe item's path."""
    unsafe = WorkItem("../up", items[0].filename, len(items))
    for _ in range(2):
        result = compare_methods(model, [items[0], unsafe], ["gradxinput"], tmp_path, seed=SEED,
                                 progress=False)
        assert list(result.errors["error_type"]) == ["ConfigurationError"]
        assert len(result.per_record) == 1
