"""The evaluator against the original toolkit's own published evaluation of its own payloads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgxai.evaluate import METRIC_COLUMNS, evaluate_all_payloads

pytestmark = pytest.mark.keras  # every test here runs a Keras model

EXACT = ["strict_attauc", "lenient_attauc", "strict_p_at_k", "lenient_p_at_k", "n_tokens"]


@pytest.fixture(scope="module")
def seed_payloads(reference_dir):
    return json.loads((reference_dir / "seed-results" / "seed_fused_payloads.json").read_text())


@pytest.fixture(scope="module")
def priors_off(seed_payloads, reference_model, reference_dir):
    return evaluate_all_payloads(seed_payloads, model=reference_model, data_root=reference_dir,
                                 ranking=False, progress=False)


def _merged(mine: pd.DataFrame, reference_dir: Path, name: str) -> pd.DataFrame:
    seed = pd.read_csv(reference_dir / "seed-results" / f"seed_eval_fused_{name}.csv",
                       dtype={"record": str, "meta_code": str})
    merged = mine.merge(seed, on=["record", "meta_code"], suffixes=("", "_seed"))
    assert len(merged) == 70
    return merged


def test_plausibility_reproduces_the_original_exactly(priors_off, reference_dir):
    merged = _merged(priors_off, reference_dir, "priors_off")
    for column in EXACT:
        np.testing.assert_allclose(merged[column], merged[f"{column}_seed"], rtol=0, atol=1e-12,
                                   err_msg=column)
    assert not priors_off["priors_used"].any() and priors_off["error"].isna().all()


def test_deletion_agrees_with_the_original(priors_off, reference_dir):
    merged = _merged(priors_off, reference_dir, "priors_off")
    # Targeted deletion is deterministic: it differs only by numerics between machines.
    assert (merged["deletion_auc"] - merged["deletion_auc_seed"]).abs().max() < 0.01
    # The control deletes *random* negatives (another generator than the original's): close, not equal.
    gain_diff = (merged["faithfulness_gain"] - merged["faithfulness_gain_seed"]).abs()
    assert gain_diff.median() < 0.01 and gain_diff.max() < 0.06


def test_prior_blend_is_off_by_default_labelled_when_on_and_inflates(seed_payloads, reference_model,
                                                                    reference_dir, priors_off):
    sinus = {"426783006": seed_payloads["426783006"]}
    on = evaluate_all_payloads(sinus, model=reference_model, data_root=reference_dir, ranking=False,
                               use_priors=True, progress=False)
    assert on["priors_used"].all()
    merged = _merged(pd.concat([on, priors_off[priors_off.meta_code == "164889003"]]), reference_dir,
                     "priors_on")
    sinus_rows = merged[merged.meta_code == "426783006"]
    matches = (sinus_rows["lenient_attauc"] - sinus_rows["lenient_attauc_seed"]).abs() < 1e-12
    assert matches.sum() >= 34  # the original's sinus-rhythm prior is its lenient-lead mask
    off_sinus = priors_off[priors_off.meta_code == "426783006"]["lenient_attauc"].mean()
    assert on["lenient_attauc"].mean() > off_sinus  # the blend inflates plausibility


def test_rows_have_every_column_random_baseline_and_errors(seed_payloads, reference_model, reference_dir,
                                                           tmp_path):
    two = dict(list(seed_payloads["164889003"].items())[:2])
    broken = dict(two[next(iter(two))], mat_path=str(tmp_path / "missing.mat"))
    table = evaluate_all_payloads({**two, "broken": broken}, method_label="fused", model=reference_model,
                                  data_root=reference_dir, progress=False)
    assert list(table.columns) == METRIC_COLUMNS
    good = table[table["error"].isna()]
    assert len(good) == 2 and (good["method"] == "fused").all()
    for key in ("morf_auc", "lerf_auc", "insertion_auc"):
        assert good[key].notna().all() and good[f"random_{key}"].notna().all()
    assert table["error"].iloc[2].startswith("RecordNotFoundError")
    # The delineation-based ground truth: AF uses all five P/PR/QRS/ST/T windows per beat.
    assert good["lenient_attauc_delin"].between(0, 1).all()
    assert (good["n_tokens_delin"] > 0).all() and (good["n_tokens_delin"] % 12 == 0).all()


def test_cli_evaluate_writes_table_summary_and_resumes(reference_dir, tmp_path):
    payload = json.loads((reference_dir / "seed-results" / "seed_fused_payloads.json").read_text())
    payload_file = tmp_path / "payloads.json"
    payload_file.write_text(json.dumps({"426783006": dict(list(payload["426783006"].items())[:2])}))
    out = tmp_path / "metrics.csv"
    command = [str(Path(sys.executable).with_name("ecgxai")), "evaluate", str(payload_file), "--model",
               str(reference_dir / "model" / "resnet_final_weights.h5"), "--architecture",
               "physionet2020_resnet", "--data-root", str(reference_dir), "--quiet", "--out", str(out)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    table = pd.read_csv(out, dtype={"meta_code": str})
    assert len(table) == 2 and table["error"].isna().all()
    summary = pd.read_csv(out.with_name("metrics.summary.csv"), dtype={"meta_code": str})
    assert summary.loc[0, "strict_attauc_n"] == 2
    assert summary.loc[0, "strict_attauc_mean"] == pytest.approx(table["strict_attauc"].mean())
    parts = sorted(out.with_name("metrics.csv.parts").glob("*.json"))
    assert len(parts) == 2
    stamp = parts[0].stat().st_mtime_ns
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and parts[0].stat().st_mtime_ns == stamp  # reused, not recomputed
    pd.testing.assert_frame_equal(pd.read_csv(out, dtype={"meta_code": str}), table)
