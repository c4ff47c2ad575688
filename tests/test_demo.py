"""``ecgxai demo`` end to end on a few benchmark records: every step's output, and resuming."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from ecgxai.cli.main import main
from ecgxai.config import REPORT_MAX_RECORDS
from ecgxai.evaluate.localisation import LOCALISATION_KEYS
from ecgxai.explain.methods import AUTO_CHOICE, model_kind
from ecgxai.models.loader import load_model
from ecgxai.models.zoo import BENCHMARK_MODEL_PATH
from ecgxai.synth import BENCHMARK_CODES

#: The demo report (24 records, REPORT_MAX_RECORDS record sections drawn) stays under this size.
REPORT_LIMIT_BYTES = 5_000_000


def projected_report_bytes(html: str, drawn: int) -> float:
    """The report's size with REPORT_MAX_RECORDS record sections: the page outside its ``drawn`` record
    sections, plus those scaled up (8 sections of the demo project 4.44 MB; 24 records measure 4.44)."""
    sections = re.findall(r'<section class="record".*?</section>', html, flags=re.S)
    inside = sum(len(section.encode()) for section in sections)
    return len(html.encode()) - inside + inside * REPORT_MAX_RECORDS / drawn


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--n", "8", "--seed", "5", "-q"]) == 0
    return out


@pytest.mark.keras
def test_demo_writes_every_step(demo_run, capsys):
    probs = pd.read_csv(demo_run / "probs.csv", dtype={"record": str})
    assert len(probs) == 8 and set(BENCHMARK_CODES) <= set(probs.columns)
    selection = pd.read_csv(demo_run / "selection.csv", dtype={"group_class": str})
    assert sorted(selection["group_class"]) == sorted(BENCHMARK_CODES)  # one record of each diagnosis
    chosen, settings = AUTO_CHOICE[model_kind(load_model(BENCHMARK_MODEL_PATH))]
    for method in (chosen, "lime", "timeshap", "fused"):
        assert len(list((demo_run / "payloads" / method).rglob("*.json"))) == 8
    payload = json.loads(next((demo_run / "payloads" / chosen).rglob("*.json")).read_text())
    assert {key: payload["params"][key] for key in settings} == settings  # auto's settings were used
    metrics = pd.read_csv(demo_run / "metrics.csv", dtype={"meta_code": str})
    assert len(metrics) == 16 and metrics["error"].isna().all()
    assert metrics[list(LOCALISATION_KEYS)].notna().all().all()  # every record carries its planted mask
    assert metrics["gt_auroc"].between(0, 1).all()
    assert (metrics["ranking_scale"] == "logit").all() and (metrics["morf_auc"] < 0.95).mean() > 0.5
    located = pd.read_csv(demo_run / "localisation.csv")
    assert set(located["method"]) == {chosen, "fused"}
    assert set(located["class"]) == {"RBBB", "LBBB", "IAVB", "PVC", "AF", "STE", "TInv", "QAb", "all"}
    assert (located.loc[located["class"] == "all", "n"] == 8).all()
    manifest = json.loads((demo_run / "run.json").read_text())
    assert manifest["demo"]["records"] == 8 and manifest["demo"]["methods"] == [chosen, "fused"]
    assert manifest["demo"]["methods_requested"] == ["auto", "fused"]
    html = (demo_run / "report.html").read_text()
    assert "<img" in html and "LOC00001" in html and 'id="localisation"' in html
    assert html.count("<img") == 16  # one chart per record and evaluated method (not LIME's and TimeSHAP's)
    assert projected_report_bytes(html, 8) < REPORT_LIMIT_BYTES
    assert manifest["demo"]["forward_seconds_per_record"] > 0
    assert re.search(r"cheapest: \w+ \([\d,.]+ forward passes\)", html)  # cost in forward passes
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # self-contained: nothing fetched


@pytest.mark.keras
def test_demo_report_answers_on_the_first_screen(demo_run, first_screen):
    boxes = first_screen(demo_run / "report.html")
    assert all(box is not None and 0 < box[0] < box[1] <= 900 for box in boxes.values()), boxes


@pytest.mark.keras
def test_demo_rerun_resumes_without_recomputing(demo_run):
    payloads = sorted((demo_run / "payloads").rglob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in payloads]
    before = pd.read_csv(demo_run / "metrics.csv")
    assert main(["demo", "--out", str(demo_run), "--n", "8", "--seed", "5", "-q"]) == 0
    assert [p.stat().st_mtime_ns for p in payloads] == stamps
    after = pd.read_csv(demo_run / "metrics.csv")
    numeric = before.select_dtypes("number").columns
    np.testing.assert_array_equal(before[numeric].to_numpy(), after[numeric].to_numpy())


def test_demo_without_records_is_a_usage_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--n", "0"]) == 2
    assert "at least one record" in capsys.readouterr().err
