"""The ``ecgxai`` command as a user runs it: installed entry point, real records, real model."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ecgxai
from ecgxai.explain import Explanation
from ecgxai.io.manifest import file_sha256, read_manifest

ECGXAI = Path(sys.executable).with_name("ecgxai")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ECGXAI), *map(str, args)], capture_output=True, text=True, timeout=600)


def test_help_lists_subcommands_and_examples():
    top = run("--help")
    assert top.returncode == 0
    assert "predict" in top.stdout and "select" in top.stdout
    sub = run("predict", "--help")
    assert sub.returncode == 0 and "examples:" in sub.stdout and "--architecture" in sub.stdout


@pytest.fixture(scope="module")
def records_with_one_bad(reference_records, tmp_path_factory) -> Path:
    """Six real records plus one whose .mat is garbage, in a fresh folder."""
    folder = tmp_path_factory.mktemp("records")
    for mat in reference_records[:3] + reference_records[-3:]:
        shutil.copy(mat, folder)
        shutil.copy(mat.with_suffix(".hea"), folder)
    shutil.copy(reference_records[0].with_suffix(".hea"), folder / "BAD01.hea")
    (folder / "BAD01.hea").write_text(
        (folder / "BAD01.hea").read_text().replace(reference_records[0].stem, "BAD01"))
    (folder / "BAD01.mat").write_bytes(b"not a matlab file" * 10)
    return folder


@pytest.fixture(scope="module")
def predicted(records_with_one_bad, reference_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "probs.parquet"
    proc = run("predict", records_with_one_bad, "--model",
               reference_dir / "model" / "resnet_final_weights.h5", "--architecture",
               "physionet2020_resnet", "--classes", reference_dir / "snomed_classes.txt",
               "--quiet", "--out", out)
    return proc, out


def test_predict_skips_bad_record_and_reports_it(predicted, records_with_one_bad, reference_model):
    proc, out = predicted
    assert proc.returncode == 3, proc.stderr
    assert "6 of 7 records done, 1 failed" in proc.stderr
    table = pd.read_parquet(out)
    assert sorted(table["record"]) == sorted(p.stem for p in records_with_one_bad.glob("*.mat")
                                             if p.stem != "BAD01")
    errors = pd.read_csv(out.with_name("probs.errors.csv"))
    assert list(errors["record"]) == ["BAD01"] and errors["error_type"][0] == "CorruptRecordError"
    # Same numbers as the library call.
    expected = ecgxai.batched_predict_all(reference_model, list(table["path"]), progress=False)
    np.testing.assert_allclose(table[list(reference_model.class_names)].to_numpy(), expected, atol=1e-6)


@pytest.mark.keras
def test_select_reads_predict_output(predicted, tmp_path):
    _, probs = predicted
    out = tmp_path / "selection.csv"
    proc = run("select", "--probs", probs, "--k", "2", "--min-prob", "0.5", "--require-label",
               "--out", out)
    assert proc.returncode == 0, proc.stderr
    selection = pd.read_csv(out, dtype={"group_class": str})
    assert set(selection["group_class"]) == {"164889003", "426783006"}
    assert (selection.groupby("group_class").size() == 2).all()
    table = pd.read_parquet(probs)
    for row in selection.itertuples():
        assert row.prob_meta == pytest.approx(table.loc[row.sel_idx, row.group_class], abs=1e-6)


@pytest.mark.parametrize(
    "args, reason",
    [
        (["predict", "nowhere", "--model", "m.keras", "--out", "p.csv"], "model file not found"),
        (["select", "--probs", "missing.csv", "--out", "s.csv"], "table file not found"),
        (["select", "--probs", "p.csv", "--targets", "999999", "--out", "s.csv"], "999999"),
    ],
)
def test_bad_input_exits_2_with_one_line_reason(args, reason, tmp_path):
    pd.DataFrame({"record": ["A"], "path": ["A"], "164889003": [0.9]}).to_csv(tmp_path / "p.csv",
                                                                               index=False)
    proc = subprocess.run([str(ECGXAI), *args], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0]


@pytest.mark.keras
def test_explain_writes_payloads_and_resumes(reference_records, reference_dir, tmp_path):
    records = [reference_records[0], reference_records[-1]]
    args = ["explain", *records, "--model", reference_dir / "model" / "resnet_final_weights.h5",
            "--architecture", "physionet2020_resnet", "--method", "gradxinput", "--targets", "164889003",
            "--quiet", "--out", tmp_path]
    first = run(*args)
    assert first.returncode == 0, first.stderr
    files = sorted((tmp_path / "payloads" / "gradxinput" / "164889003").glob("*.json"))
    assert [f.stem for f in files] == sorted(r.stem for r in records)
    payload = Explanation.from_json(files[0].read_text())
    assert payload.mat_path.endswith(".mat") and payload.target_code == "164889003"
    table = pd.read_csv(tmp_path / "gradxinput.csv")
    assert len(table) == 2
    settings = read_manifest(tmp_path)["explain"]["gradxinput"]
    assert settings["items"] == 2 and settings["targets"] == ["164889003"]
    assert settings["model_sha256"] == file_sha256(reference_dir / "model" / "resnet_final_weights.h5")
    assert settings["seed"] == ecgxai.config.RANDOM_SEED and settings["event_kind"] == "uniform"

    stamps = {f: f.stat().st_mtime_ns for f in files}
    files[0].unlink()  # an interrupted run: one payload missing
    second = run(*args)
    assert second.returncode == 0, second.stderr
    # only the missing payload is recomputed
    assert files[0].is_file() and files[1].stat().st_mtime_ns == stamps[files[1]]
    assert Explanation.from_json(files[0].read_text()).perlead_spans == payload.perlead_spans


@pytest.mark.keras
def test_explain_rejects_unknown_target(reference_records, reference_dir, tmp_path):
    model = reference_dir / "model" / "resnet_final_weights.h5"
    proc = run("explain", reference_records[0], "--model", model, "--architecture", "physionet2020_resnet",
               "--targets", "999999", "--out", tmp_path)
    assert proc.returncode == 2 and "999999" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "payloads").exists()
