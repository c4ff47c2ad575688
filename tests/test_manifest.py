"""The run manifest: sections merged into RUN_DIR/run.json, environment recorded, corrupt files refused."""

from __future__ import annotations

import hashlib
import json

import pytest

from ecgxai.errors import ConfigurationError, ManifestError
from ecgxai.io.files import check_safe_name
from ecgxai.io.manifest import file_sha256, manifest_path, read_manifest, update_manifest


def test_absent_manifest_reads_as_empty(tmp_path):
    assert read_manifest(tmp_path) == {}


def test_round_trip_records_settings_environment_and_time(tmp_path):
    path = update_manifest(tmp_path, "explain", {"lime": {"seed": 7, "targets": ["164889003"]}})
    assert path == tmp_path / "run.json"
    manifest = read_manifest(tmp_path)
    assert manifest["explain"]["lime"] == {"seed": 7, "targets": ["164889003"]}
    assert manifest["explain"]["updated"] == manifest["updated"]
    assert manifest["environment"]["ecgxai"] and manifest["environment"]["numpy"]
    assert {"python", "platform", "tensorflow", "keras", "wfdb", "neurokit2"} <= set(manifest["environment"])
    assert json.loads(path.read_text()) == manifest


def test_sections_and_their_keys_merge(tmp_path):
    update_manifest(tmp_path, "explain", {"lime": {"seed": 1}})
    update_manifest(tmp_path, "evaluate", {"metrics.csv": {"priors": False}})
    update_manifest(tmp_path, "explain", {"ig": {"seed": 2}})
    update_manifest(tmp_path, "explain", {"lime": {"seed": 3}})
    manifest = read_manifest(tmp_path)
    assert manifest["explain"]["lime"] == {"seed": 3}
    assert manifest["explain"]["ig"] == {"seed": 2}
    assert manifest["evaluate"]["metrics.csv"] == {"priors": False}


def test_non_json_values_are_stored_as_text(tmp_path):
    update_manifest(tmp_path, "demo", {"out": tmp_path / "x"})
    assert read_manifest(tmp_path)["demo"]["out"] == str(tmp_path / "x")


@pytest.mark.parametrize("content, problem", [("{not json", "not valid JSON"),
                                              ("[1, 2]", "must be a JSON object")])
def test_corrupt_manifest_is_a_clear_error(tmp_path, content, problem):
    manifest_path(tmp_path).write_text(content)
    with pytest.raises(ManifestError, match=problem):
        read_manifest(tmp_path)
    with pytest.raises(ManifestError):
        update_manifest(tmp_path, "explain", {"lime": {}})
    assert manifest_path(tmp_path).read_text() == content  # left as it was for the user to inspect


def test_file_sha256_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 5000
    (tmp_path / "model.h5").write_bytes(data)
    assert file_sha256(tmp_path / "model.h5", chunk_size=1000) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("name", "dots", "safe"), [
    ("A0001", False, True), ("SYN_00001-b", False, True), ("HR.01", True, True), ("HR.01", False, False),
    ("a..b", True, False), ("-x", False, False), ("_x", False, False), ("a/b", True, False),
    ("", False, False), ("x" * 100, False, True), ("x" * 101, False, False),
])
def test_one_safe_name_rule_for_records_classes_and_files(name, dots, safe):
    """Records written (no dots), records read and class folders (dots) share one rule."""
    if safe:
        assert check_safe_name(name, "record name", dots=dots) == name
    else:
        with pytest.raises(ConfigurationError, match="unsafe record name"):
            check_safe_name(name, "record name", dots=dots)
