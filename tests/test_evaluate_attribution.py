"""Scoring any attribution array (issue 18, item 1): an array scored by ``evaluate_attribution`` gets
the row ecgxai's own explanation gets when the arrays are the same; other layouts, cells, torch
tensors, the CLI index and its bad rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import ecgxai
from ecgxai.cli.main import main
from ecgxai.errors import ConfigurationError, InputShapeError
from ecgxai.evaluate import evaluate_payload
from ecgxai.evaluate.external import (
    attribution_explanation,
    evaluate_attribution,
    load_attribution_file,
    read_attribution_index,
)
from ecgxai.explain import explain_record
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.synth import generate_dataset

AF = "164889003"
SEED = 1


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A synthetic AF record, the demo model and ecgxai's own gradient x input explanation of it."""
    path = generate_dataset(tmp_path_factory.mktemp("af"), 1, codes=[AF], seed=2)["path"].iloc[0]
    model = ecgxai.load_model(DEMO_MODEL_PATH)
    explanation = explain_record(model, path, AF, method="gradxinput", seed=SEED)
    return path, model, explanation


def same_row(a: dict, b: dict) -> bool:
    """Equal keys and values, NaN equal to NaN."""
    def same(x, y):
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


@pytest.mark.keras
def test_an_array_scores_exactly_as_ecgxais_own_explanation_of_it(case):
    path, model, explanation = case
    hand_made = explanation.attribution.values.copy()  # (T, L): the explanation's own map
    own = evaluate_payload(explanation, model, seed=SEED)
    scored = evaluate_attribution(model, path, AF, hand_made, method=explanation.method_label, seed=SEED)
    assert same_row(own, scored)
    assert own["resolution"] == "sample" and not math.isnan(own["morf_auc"]) and own["gt_auroc"] > 0
    wrapped = attribution_explanation(model, path, AF, hand_made)  # spans derived as the method's were
    assert wrapped.perlead_spans == explanation.perlead_spans
    assert wrapped.top5_leads == explanation.top5_leads and wrapped.method_label == "external"


@pytest.mark.keras
def test_leads_by_time_and_a_record_object_give_the_same_explanation(case):
    path, model, explanation = case
    values = explanation.attribution.values
    by_time = attribution_explanation(model, path, AF, values)
    by_lead = attribution_explanation(model, ecgxai.read_record(path), AF, values.T[None])  # (1, L, T)
    assert by_lead.to_payload() == by_time.to_payload()


@pytest.mark.keras
def test_a_stretch_from_start_sec_keeps_record_seconds(case):
    path, model, explanation = case
    stretch = attribution_explanation(model, path, AF, explanation.attribution.values, start_sec=2.0)
    assert (stretch.start_sec, stretch.end_sec, stretch.attribution.start_sec) == (2.0, 10.0, 2.0)
    starts = [start for spans in stretch.perlead_spans.values() for start, _, _ in spans]
    assert min(starts) >= 2.0 and max(starts) < 10.0


@pytest.mark.keras
def test_a_torch_tensor_is_taken_as_its_values(case):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    path, model, explanation = case
    values = explanation.attribution.values
    tensor = torch.from_numpy(values.T.copy()).requires_grad_(True)  # as Captum returns it: (L, T)
    assert (attribution_explanation(model, path, AF, tensor).to_payload()
            == attribution_explanation(model, path, AF, values).to_payload())


@pytest.mark.keras
def test_a_per_cell_array_becomes_a_segment_map_over_the_cells(case):
    path, model, explanation = case
    cells = explanation.attribution.to_cells(0.1)  # (L, 100): each lead x 0.1 s cell's total
    wrapped = attribution_explanation(model, path, AF, cells, cell_sec=0.1)
    grid = wrapped.attribution
    assert grid.resolution == "segment" and grid.values.shape == (100, 12)
    assert np.array_equal(grid.segments[:3], [[0, 50], [50, 100], [100, 150]])
    np.testing.assert_allclose(grid.to_cells(0.1), cells, rtol=0, atol=1e-3 * np.abs(cells).max())
    row = evaluate_attribution(model, path, AF, cells, cell_sec=0.1, seed=SEED, ranking=False)
    assert row["resolution"] == "segment" and row["method"] == "external"
    with pytest.raises(InputShapeError, match=r"\(50, 12\)"):
        attribution_explanation(model, path, AF, cells, cell_sec=0.2)


@pytest.mark.keras
@pytest.mark.parametrize("shape", [(5000, 11), (12, 4999), (5000,), (2, 5000, 12)])
def test_a_shape_that_fits_neither_layout_is_refused_naming_the_expected_one(case, shape):
    path, model, _ = case
    with pytest.raises(InputShapeError, match=r"fits neither \(5000, 12\) nor \(12, 5000\)"):
        attribution_explanation(model, path, AF, np.zeros(shape))


def test_attribution_files_are_read_without_pickle(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ConfigurationError, match=r"objects\.npy"):
        load_attribution_file(tmp_path / "objects.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros(2), b=np.ones(2))
    with pytest.raises(ConfigurationError, match="name it 'attribution'"):
        load_attribution_file(tmp_path / "two.npz")
    np.savez(tmp_path / "named.npz", attribution=np.ones(3), other=np.zeros(2))
    assert load_attribution_file(tmp_path / "named.npz").tolist() == [1.0, 1.0, 1.0]


def test_csv_and_json_indexes_read_alike(tmp_path):
    rows = [{"record": "A0001", "class": AF, "file": "a.npy", "cell_sec": "0.1"},
            {"record": "A0002", "class": AF, "file": "b.npz", "cell_sec": ""}]
    pd.DataFrame(rows).to_csv(tmp_path / "index.csv", index=False)
    (tmp_path / "index.json").write_text(json.dumps([rows[0], {**rows[1], "cell_sec": None}]))
    expected = [rows[0], {**rows[1], "cell_sec": None}]
    assert read_attribution_index(tmp_path / "index.csv") == expected
    assert read_attribution_index(tmp_path / "index.json") == expected
    pd.DataFrame([{"record": "A0001", "file": "a.npy"}]).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ConfigurationError, match=r"short.csv: index lacks columns \['class'\]"):
        read_attribution_index(tmp_path / "short.csv")


@pytest.mark.keras
def test_cli_scores_an_index_and_skips_its_bad_rows(case, tmp_path):
    path, model, explanation = case
    values = explanation.attribution.values
    np.save(tmp_path / "own.npy", values)
    np.savez(tmp_path / "cells.npz", attribution=explanation.attribution.to_cells(0.1))
    np.save(tmp_path / "narrow.npy", values[:, :11])
    index = pd.DataFrame([
        {"record": path, "class": AF, "file": "own.npy", "cell_sec": "", "method": "gxi-own"},
        {"record": path, "class": AF, "file": "cells.npz", "cell_sec": "0.1", "method": "gxi-cells"},
        {"record": path, "class": AF, "file": "missing.npy", "cell_sec": "", "method": ""},
        {"record": path, "class": AF, "file": "narrow.npy", "cell_sec": "", "method": ""},
    ])
    index.to_csv(tmp_path / "index.csv", index=False)
    out = tmp_path / "metrics.csv"
    code = main(["evaluate", "--attributions", str(tmp_path / "index.csv"), "--model", str(DEMO_MODEL_PATH),
                 "--seed", str(SEED), "--quiet", "--out", str(out)])
    assert code == 3  # finished, some rows failed
    table = pd.read_csv(out)
    assert table["method"].tolist() == ["gxi-own", "gxi-cells"] and table["error"].isna().all()
    scored = evaluate_attribution(model, path, AF, values, method="gxi-own", seed=SEED)
    assert table.loc[0, "morf_auc"] == pytest.approx(scored["morf_auc"], rel=1e-12)
    assert table.loc[0, "strict_attauc"] == pytest.approx(scored["strict_attauc"], rel=1e-12)
    assert table["resolution"].tolist() == ["sample", "segment"]
    errors = pd.read_csv(tmp_path / "metrics.errors.csv")
    assert errors["error_type"].tolist() == ["ConfigurationError", "InputShapeError"]
    assert "row 3" in errors.loc[0, "message"] and "missing.npy" in errors.loc[0, "message"]
    assert "row 4" in errors.loc[1, "message"] and "(5000, 12)" in errors.loc[1, "message"]


@pytest.mark.keras
def test_the_readme_example_runs(tmp_path, monkeypatch):
    from test_readme_extensions import readme_module  # the README runner beside this file

    monkeypatch.chdir(tmp_path)
    found = readme_module("# score an attribution array made by any tool")
    assert found["row"]["resolution"] == "sample" and found["random_row"]["resolution"] == "segment"
    assert found["row"]["method"] == "|x|" and not math.isnan(found["random_row"]["morf_auc"])
