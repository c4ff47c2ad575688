"""Quiet and light: no TensorFlow unless a Keras model is loaded, and no framework logs on stderr."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from ecgxai.models.keras_import import KERAS_EXTRA, stderr_hidden

ECGXAI = Path(sys.executable).with_name("ecgxai")
#: What ecgxai itself writes to stderr: its log lines (``LEVEL ecgxai...: message``) and progress bars.
OWN_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) ecgxai(\.\w+)*: |^[\w ]+: +\d+%\|")
#: A line of TensorFlow's C++ logs (absl format: severity, date, time, thread, file:line]).
FRAMEWORK_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\]")
#: Blocks TensorFlow and Keras in a child interpreter, as if the keras extra were not installed.
WITHOUT_KERAS = "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None\n"


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_import_and_help_do_not_load_tensorflow():
    code = """
import sys
import ecgxai, ecgxai.explain, ecgxai.evaluate, ecgxai.report, ecgxai.synth
from ecgxai.cli.main import main
for command in ([], ["predict"], ["explain"], ["report"]):
    try:
        main([*command, "--help"])
    except SystemExit:
        pass
print(sorted(m for m in ("tensorflow", "keras", "torch") if m in sys.modules))
"""
    proc = python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_keras_model_without_the_extra_names_it(tmp_path: Path):
    code = WITHOUT_KERAS + f"""
import ecgxai
from ecgxai.cli.main import main
from ecgxai.errors import MissingDependencyError
from ecgxai.models.zoo import DEMO_MODEL_PATH
try:
    ecgxai.load_model(DEMO_MODEL_PATH)
except MissingDependencyError as exc:
    print("load_model:", exc)
sys.exit(main(["predict", "{tmp_path}", "--model", str(DEMO_MODEL_PATH), "--out", "{tmp_path}/p.csv"]))
"""
    proc = python(code)
    assert "load_model: Keras models need TensorFlow and Keras" in proc.stdout
    assert KERAS_EXTRA in proc.stdout
    assert proc.returncode == 2
    assert "ecgxai predict: error:" in proc.stderr and KERAS_EXTRA in proc.stderr


def test_stderr_hidden_drops_descriptor_2_and_replays_it_on_error(capfd):
    with stderr_hidden():
        os.write(2, b"framework start-up chatter\n")
    assert "chatter" not in capfd.readouterr().err
    with pytest.raises(RuntimeError), stderr_hidden():
        os.write(2, b"last words before the failure\n")
        raise RuntimeError("import failed")
    assert "last words before the failure" in capfd.readouterr().err


def test_stderr_hidden_without_descriptor_2():
    proc = python("import os\nfrom ecgxai.models.keras_import import stderr_hidden\nos.close(2)\n"
                  "with stderr_hidden():\n    print('ran')\n")
    assert proc.returncode == 0 and proc.stdout.strip() == "ran"


def test_stderr_hidden_reissues_python_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with stderr_hidden():
            warnings.warn("a warning that matters", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a warning that matters"]


def test_cli_shows_python_warnings_as_ecgxai_log_lines(monkeypatch, caplog):
    from ecgxai.cli import main as cli

    def command_that_warns(args) -> int:
        warnings.warn("the framework says something", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli, "cmd_select", command_that_warns)
    with caplog.at_level(logging.WARNING, logger="ecgxai"):
        assert cli.main(["select", "--probs", "probs.csv", "--out", "selection.csv"]) == 0
    assert [r.getMessage().split(" (")[0] for r in caplog.records if r.name == "ecgxai"] == [
        "UserWarning: the framework says something"]


def _stderr_lines(stderr: str) -> list[str]:
    return [line for line in re.split(r"[\r\n]+", stderr) if line.strip()]


@pytest.mark.keras
def test_reference_commands_print_only_ecgxai_lines(reference_records, reference_dir, tmp_path):
    model = ["--model", reference_dir / "model" / "resnet_final_weights.h5", "--architecture",
             "physionet2020_resnet", "--classes", reference_dir / "snomed_classes.txt"]
    record = reference_records[0]
    commands = {
        "predict": ["predict", record, *model, "--out", tmp_path / "probs.csv"],
        "explain": ["explain", record, *model, "--method", "ig", "--targets", "164889003",
                    "--out", tmp_path / "ig"],
    }
    for name, args in commands.items():
        proc = subprocess.run([str(ECGXAI), *map(str, args)], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        lines = _stderr_lines(proc.stderr)
        assert [line for line in lines if not OWN_LINE.match(line)] == [], name
        assert any(line.startswith(f"INFO ecgxai: {name}: 1 records") for line in lines), proc.stderr
    verbose = subprocess.run([str(ECGXAI), *map(str, commands["predict"]), "--verbose"],
                             capture_output=True, text=True, timeout=600)
    assert verbose.returncode == 0, verbose.stderr
    assert any(FRAMEWORK_LINE.match(line) for line in _stderr_lines(verbose.stderr))
