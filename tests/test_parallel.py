"""Parallel, distributed and interrupted runs give the serial run's results, record for record.

Runs use the bundled demo classifier on synthetic records plus one corrupt record,
so every backend must also report the same failures and keep going. Workers run with fewer
math-library threads than the serial process, and oneDNN sums in a different order with a different
thread count, so numbers are compared to float32 round-off (``ROUND_OFF``), everything else exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.runs import evaluate_to_files, load_payload_files
from ecgxai.explain.payload import Explanation
from ecgxai.explain.runs import WorkItem, items_from_records, payload_path, run_explanations
from ecgxai.io.dataset import find_records
from ecgxai.models.loader import load_model
from ecgxai.models.predict import predict_records
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.parallel import Execution, TaskFailure, run_tasks
from ecgxai.synth import SYNTH_CODES, generate_dataset

TARGETS = list(SYNTH_CODES[:2])
GOOD_RECORDS = 6
#: Fields that record how long something took, and so differ between any two runs.
TIMING = ("seconds",)
ECGXAI = Path(sys.executable).with_name("ecgxai")
SIGKILL = getattr(signal, "SIGKILL", None)
#: Relative difference float32 round-off of another summation order may leave in a result.
ROUND_OFF = 1e-5


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory) -> Path:
    """Six synthetic records and one whose signal file is cut short."""
    folder = tmp_path_factory.mktemp("records")
    table = generate_dataset(folder, n_per_class=1, codes=SYNTH_CODES[:GOOD_RECORDS], seed=3)
    donor = Path(table["path"][0])
    (folder / "BAD01.hea").write_text(donor.with_suffix(".hea").read_text().replace(donor.name, "BAD01"))
    (folder / "BAD01.mat").write_bytes(donor.with_suffix(".mat").read_bytes()[:300])
    return folder


@pytest.fixture(scope="module")
def model():
    return load_model(DEMO_MODEL_PATH)


@pytest.fixture(scope="module")
def items(records_dir: Path) -> list[WorkItem]:
    return items_from_records(find_records(records_dir), TARGETS)


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory, model, items) -> Path:
    out = tmp_path_factory.mktemp("serial")
    run_explanations(model, items, "lime", out, seed=5, progress=False)
    return out


def payload_tree(run_dir: Path) -> dict[str, dict]:
    """Every payload of a run, by relative path, without its timing fields, its map decoded."""
    return {str(path.relative_to(run_dir)): _untimed(json.loads(path.read_text()))
            for path in sorted((run_dir / "payloads").rglob("*.json"))}


def _untimed(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key not in TIMING}


def assert_same_maps(got: dict, expected: dict) -> None:
    """The maps of two payloads agree to their storage precision (one float16 step of the peak)."""
    maps = [Explanation.from_payload(p).attribution.to_samples() for p in (got, expected)]
    np.testing.assert_allclose(maps[0], maps[1], rtol=0, atol=float(np.abs(maps[1]).max()) * 2.0 ** -10)


def assert_same_values(got, expected, where: str = "") -> None:
    """Equal structure and exactly equal non-numbers; numbers equal to float32 round-off."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), where
        for key in expected:
            assert_same_values(got[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert_same_values(a, b, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert isinstance(got, float) and np.isclose(got, expected, rtol=ROUND_OFF, atol=1e-12,
                                                     equal_nan=True), where
    else:
        assert got == expected, where


def run_table(run_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run_dir / name).drop(columns=list(TIMING), errors="ignore")


def assert_same_tables(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns and rows; JSON text cells compared as values, numbers to round-off."""
    assert list(got.columns) == list(expected.columns) and len(got) == len(expected)
    assert_same_values(_cells(got), _cells(expected))


def _cells(table: pd.DataFrame) -> list[list]:
    return [[_cell(value) for value in row] for row in table.itertuples(index=False)]


def _cell(value):
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value.item() if isinstance(value, np.generic) else value


def assert_same_run(run_dir: Path, serial_dir: Path) -> None:
    expected, got = payload_tree(serial_dir), payload_tree(run_dir)
    assert len(expected) == 2 * GOOD_RECORDS and got.keys() == expected.keys()
    for name in expected:
        assert_same_maps(got[name], expected[name])
        assert_same_values({**got[name], "attribution": None}, {**expected[name], "attribution": None}, name)
    assert_same_tables(run_table(run_dir, "lime.csv"), run_table(serial_dir, "lime.csv"))
    pd.testing.assert_frame_equal(run_table(run_dir, "lime.errors.csv"),
                                  run_table(serial_dir, "lime.errors.csv"))


@pytest.mark.keras
def test_serial_run_reports_the_corrupt_record_and_explains_the_rest(serial_run: Path):
    errors = pd.read_csv(serial_run / "lime.errors.csv")
    assert list(errors["record"]) == ["BAD01"] * len(TARGETS)
    assert set(errors["error_type"]) == {"CorruptRecordError"}
    assert len(pd.read_csv(serial_run / "lime.csv")) == 2 * GOOD_RECORDS


@pytest.mark.keras
@pytest.mark.parametrize("execution", [Execution(jobs=2), Execution(dask_local=2)], ids=["jobs2", "dask"])
def test_parallel_explanations_equal_the_serial_run(tmp_path: Path, model, items, serial_run: Path,
                                                    execution: Execution):
    run_explanations(model, items, "lime", tmp_path, seed=5, progress=False, execution=execution)
    assert_same_run(tmp_path, serial_run)


@pytest.fixture(scope="module")
def dask_scheduler():
    """The address of a Dask LocalCluster with two worker processes on loopback."""
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.mark.keras
@pytest.mark.parametrize("backend", ["jobs2", "dask_scheduler"])
def test_parallel_predict_and_evaluate_equal_serial(tmp_path: Path, model, records_dir: Path,
                                                    serial_run: Path, backend: str, request):
    execution = (Execution(jobs=2) if backend == "jobs2"
                 else Execution(scheduler=request.getfixturevalue("dask_scheduler")))
    records = find_records(records_dir)
    serial, parallel = (predict_records(model, records, progress=False, execution=e)
                        for e in (None, execution))
    pd.testing.assert_frame_equal(parallel.probs, serial.probs)
    pd.testing.assert_frame_equal(parallel.errors, serial.errors)
    assert list(parallel.errors["record"]) == ["BAD01"]

    payloads = load_payload_files([serial_run / "payloads"])
    tables = [evaluate_to_files(payloads, model, tmp_path / f"{name}.csv", seed=5, progress=False,
                                execution=e)[0] for name, e in (("serial", None), ("parallel", execution))]
    assert len(tables[0]) == 2 * GOOD_RECORDS and tables[0]["error"].isna().all()
    assert_same_tables(tables[1], tables[0])


@pytest.mark.keras
def test_run_in_process_needs_no_model_file_but_workers_do(tmp_path: Path, model, items):
    classifier = load_model(model.model, class_names=model.class_names)  # a Keras object, not a file
    assert classifier.spec is None
    with pytest.raises(ConfigurationError, match="loaded from a file"):
        run_explanations(classifier, items[:1], "lime", tmp_path, progress=False, execution=2)


def _payload_count(run_dir: Path) -> int:
    return len(list((run_dir / "payloads").rglob("*.json")))


def _wait_for_payloads(run_dir: Path, process: subprocess.Popen | threading.Thread, at_least: int = 1,
                       timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while _payload_count(run_dir) < at_least:
        alive = process.poll() is None if isinstance(process, subprocess.Popen) else process.is_alive()
        assert alive and time.monotonic() < deadline, "the run ended or stalled before writing a payload"
        time.sleep(0.02)


@pytest.mark.keras
@pytest.mark.skipif(SIGKILL is None, reason="needs POSIX signals")
def test_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path: Path, records_dir: Path,
                                                                      serial_run: Path):
    command = [str(ECGXAI), "explain", "-q", "--model", str(DEMO_MODEL_PATH), "--method", "lime",
               "--targets", *TARGETS, "--seed", "5", "--jobs", "2", "--out", str(tmp_path), str(records_dir)]
    first = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        _wait_for_payloads(tmp_path, first)
    finally:
        os.killpg(first.pid, SIGKILL)  # the run and its worker processes, mid-write or not
        first.wait()
    written = _payload_count(tmp_path)
    assert 0 < written < 2 * GOOD_RECORDS, "the kill did not land partway"
    for path in (tmp_path / "payloads").rglob("*.json"):
        Explanation.from_json(path.read_text())  # every file present is whole

    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 3, second.stderr
    assert f"{2 * GOOD_RECORDS} of {2 * GOOD_RECORDS + 2} records done, 2 failed" in second.stderr
    assert_same_run(tmp_path, serial_run)
    table = pd.read_csv(tmp_path / "lime.csv", dtype={"group_class": str})
    assert not table.duplicated(["group_class", "record"]).any()
    manifest = json.loads((tmp_path / "run.json").read_text())["explain"]["lime"]
    assert manifest["execution"] == {"backend": "processes", "jobs": 2, "scheduler": None, "dask_local": None}
    assert manifest["inputs"]["n_records"] == GOOD_RECORDS + 1
    assert len(manifest["model_sha256"]) == 64


def _worker_processes() -> list:
    import psutil

    return [child for child in psutil.Process().children() if "spawn_main" in " ".join(child.cmdline())]


@pytest.mark.keras
@pytest.mark.skipif(SIGKILL is None, reason="needs POSIX signals")
def test_a_killed_worker_is_replaced_and_its_records_retried(tmp_path: Path, model, items,
                                                              serial_run: Path):
    run = threading.Thread(target=run_explanations, args=(model, items, "lime", tmp_path),
                           kwargs={"seed": 5, "progress": False, "execution": 2})
    run.start()
    _wait_for_payloads(tmp_path, run)
    victims = _worker_processes()
    assert victims, "no worker process to kill"
    victims[0].send_signal(SIGKILL)
    assert _payload_count(tmp_path) < 2 * GOOD_RECORDS, "the kill did not land partway"
    run.join(timeout=600)
    assert not run.is_alive()
    assert_same_run(tmp_path, serial_run)


def _exit_on_three(value: int) -> int:
    """A task whose item 3 kills its worker process outright (as a crash in native code would)."""
    if value == 3:
        os._exit(1)
    return value * 10


def test_a_record_that_kills_its_worker_is_reported_and_the_rest_finish():
    results = dict(run_tasks(_exit_on_three, list(range(6)), 2, progress=False))
    assert results.pop(3) == TaskFailure("WorkerDied", "the worker process died running this record")
    assert results == {i: i * 10 for i in range(6) if i != 3}


@pytest.mark.parametrize(("group_class", "filename"), [
    ("../up", "data/A0001.mat"), ("/etc", "data/A0001.mat"), ("a/b", "data/A0001.mat"),
    ("164889003", "data/...mat"), ("164889003", "data/.hidden.mat"), ("164889003", "data/a b;c.mat"),
])
@pytest.mark.keras
def test_unsafe_names_are_rejected_and_nothing_is_written_outside_the_run(
        tmp_path: Path, model, group_class: str, filename: str):
    out = tmp_path / "run"
    item = WorkItem(group_class, filename, 0)
    with pytest.raises(ConfigurationError, match="safe"):
        payload_path(out, "lime", item)
    table, errors = run_explanations(model, [item], "lime", out, progress=False)
    assert table.empty and list(errors["error_type"]) == ["ConfigurationError"]
    outside = [p for p in tmp_path.rglob("*") if out not in p.parents and p != out]
    assert outside == []


def test_nothing_on_the_results_path_uses_pickle():
    """Results are JSON, CSV or Parquet: no pickle, joblib or pickled numpy anywhere in the package."""
    source = Path(__file__).resolve().parents[1] / "src" / "ecgxai"
    banned = ("import pickle", "from pickle", "joblib", "read_pickle", "to_pickle", "allow_pickle=True",
              "cloudpickle", "dill")
    found = [(path.name, word) for path in source.rglob("*.py") for word in banned
             if word in path.read_text()]
    assert found == []
