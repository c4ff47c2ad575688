"""The benchmark classifier uses the masks (hybrids with a neutral record), and ``ecgxai localisation``
writes its tables, figure and report section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgxai.classes import AFIB
from ecgxai.cli.main import main
from ecgxai.evaluate.localisation_benchmark import MARGIN_SE, SCORES, TABLE_COLUMNS, localisation_table
from ecgxai.evaluate.mask_use import hybrids, mask_use, reference_auroc
from ecgxai.explain.payload import Explanation
from ecgxai.models.loader import load_model
from ecgxai.models.zoo import BENCHMARK_MODEL_PATH
from ecgxai.report.html import render_report
from ecgxai.report.run_contents import RunContents
from ecgxai.synth.benchmark import BENCHMARK_CODES, generate_pair


def test_hybrids_paste_and_remove_the_masked_region():
    record, neutral = np.ones((4, 2)), np.zeros((4, 2))
    mask = np.array([[True, False, False, False], [False, False, True, True]])  # (leads, samples)
    inputs = hybrids(record, neutral, mask)
    assert inputs[2].sum() == 3 and inputs[2][0, 0] == 1 and inputs[2][2, 1] == 1
    assert inputs[3].sum() == 5 and inputs[3][0, 0] == 0


def test_localisation_table_gives_each_cell_the_standard_error_of_its_margin_over_chance():
    """A cell's margin is told from noise by the spread of its records' margins, not by its mean alone."""
    rng = np.random.default_rng(3)
    codes = [BENCHMARK_CODES[0]] * 12 + [BENCHMARK_CODES[1]]
    per_record = pd.DataFrame({"method": "lime", "meta_code": codes, "class_name": "x", "seconds": 1.0,
                               "gt_auroc": rng.uniform(0.4, 0.9, len(codes)),
                               "random_gt_auroc": rng.uniform(0.45, 0.55, len(codes))})
    table = localisation_table(per_record, forward_seconds=0.5).set_index("class")
    margins = (per_record.gt_auroc - per_record.random_gt_auroc).to_numpy()
    assert table.loc["RBBB", MARGIN_SE] == pytest.approx(margins[:12].std(ddof=1) / np.sqrt(12))
    assert table.loc["all", MARGIN_SE] == pytest.approx(margins.std(ddof=1) / np.sqrt(len(codes)))
    assert np.isnan(table.loc["LBBB", MARGIN_SE])  # one record: no spread to measure
    assert table.loc["RBBB", "gt_auroc"] == pytest.approx(per_record.gt_auroc[:12].mean())


def test_report_gives_each_localisation_cell_its_margin_over_chance_and_its_standard_error(tmp_path):
    rng = np.random.default_rng(5)
    codes = [BENCHMARK_CODES[0]] * 6
    scores = {column: rng.uniform(0.3, 0.9, len(codes)) for pair in SCORES for column in pair}
    per_record = pd.DataFrame({"method": "lime", "meta_code": codes, "class_name": "x", "seconds": 1.0,
                               "mask_share": 0.2, "probability": 0.9, **scores})
    table = localisation_table(per_record, forward_seconds=0.5)
    margin = per_record.gt_auroc.mean() - per_record.random_gt_auroc.mean()
    run = RunContents(tmp_path, {}, [], pd.DataFrame(), localisation=table)
    html = render_report(run)
    assert f"{margin:+.3f} ± {table[MARGIN_SE].iloc[0]:.3f}" in html
    before_the_column = table.drop(columns=MARGIN_SE)  # a run written before the standard error was
    older = render_report(RunContents(tmp_path, {}, [], pd.DataFrame(), localisation=before_the_column))
    assert f"{margin:+.3f}" in older and f"{margin:+.3f} ±" not in older


@pytest.mark.keras
def test_benchmark_model_uses_the_mask():
    """Two records per class: the model finds each class on its record, not on a neutral record; pasting
    the masked region into the neutral record brings the class in, removing it takes the class out."""
    pairs = [generate_pair(code, 900 + i, name=f"T{i}") for i, code in enumerate(BENCHMARK_CODES * 2)]
    found = mask_use(load_model(BENCHMARK_MODEL_PATH), pairs)
    assert (found.p_record > 0.5).all() and (found.p_neutral < 0.5).all()
    assert found.p_record.median() < 0.99  # not saturated
    assert found.p_neutral_with_mask.median() > 0.8 and found.p_record_without_mask.median() < 0.2
    assert (found.p_neutral_with_mask > 0.5).mean() >= 0.75
    assert (found.p_record_without_mask < 0.5).mean() >= 0.75


@pytest.mark.keras
def test_masks_are_where_the_model_differs_from_the_twin():
    """Integrated Gradients from the twin (an oracle reference) finds the mask of every local class;
    from the all-zero input it finds less: the benchmark's masks hold, the reference costs."""
    local = [code for code in BENCHMARK_CODES if code != AFIB]
    pairs = [generate_pair(code, 950 + i, name=f"R{i}") for i, code in enumerate(local)]
    found = reference_auroc(load_model(BENCHMARK_MODEL_PATH), pairs, steps=8)
    assert (found.ig_from_twin > 0.9).all()
    assert (found.ig_from_twin > found.ig_from_zero).all()


@pytest.mark.keras
def test_localisation_command_writes_its_tables(tmp_path, capsys):
    out = tmp_path / "loc"
    assert main(["localisation", "--out", str(out), "--n-per-class", "1", "--seed", "7",
                 "--methods", "gradxinput", "-q"]) == 0
    table = pd.read_csv(out / "localisation.csv", dtype={"meta_code": str})
    assert list(table.columns) == TABLE_COLUMNS
    assert list(table["class"]) == ["RBBB", "LBBB", "IAVB", "PVC", "AF", "STE", "TInv", "QAb", "all"]
    assert set(table["n"][:-1]) == {1}
    assert table.gt_auroc.between(0, 1).all() and (table.mask_share < 0.9).all()
    assert (table.gt_auroc > table.random_gt_auroc).mean() >= 0.75
    per_record = pd.read_csv(out / "localisation_per_record.csv")
    assert len(per_record) == len(BENCHMARK_CODES) and (per_record.ranking_scale == "logit").all()
    assert (out / "localisation.svg").is_file() and (out / "records" / "twins").is_dir()
    html = (out / "report.html").read_text()
    assert "Localisation of planted evidence" in html and 'id="localisation-gradxinput"' in html
    assert "localisation.csv" in capsys.readouterr().out


@pytest.mark.keras
def test_localisation_command_explains_with_the_segmentation_asked_for(tmp_path):
    out = tmp_path / "loc"
    assert main(["localisation", "--out", str(out), "--n-per-class", "1", "--seed", "7",
                 "--methods", "occlusion", "--event-kind", "waves", "-q"]) == 0
    payloads = [Explanation.from_json(p.read_text()) for p in (out / "payloads").rglob("*.json")]
    assert len(payloads) == len(BENCHMARK_CODES)
    assert {p.params["event_kind"] for p in payloads} == {"waves"}
    # five waves per beat (P, PR, QRS, ST, T) of the 7 or more whole beats in 10 s, not 20 windows of 0.5 s
    assert all(p.meta["n_events"] % 5 == 0 and p.meta["n_events"] >= 35 for p in payloads)


@pytest.mark.parametrize("bad", [["--n-per-class", "x"], ["--methods", "nope"], ["--event-kind", "beats"]])
def test_localisation_command_refuses_bad_arguments(tmp_path, bad):
    with pytest.raises(SystemExit):
        main(["localisation", "--out", str(tmp_path), *bad])
