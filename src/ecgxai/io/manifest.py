"""The run manifest ``RUN_DIR/run.json``: what produced a run folder, section by section.

Each command that writes into a run folder (``explain``, ``evaluate``, ``predict``,
``demo``) merges its settings into its own section, so the folder says which model,
classes, methods and seeds made it, with the library versions and when. A section
is merged key by key: ``{"lime": {...}}`` then ``{"ig": {...}}`` keeps both.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from ecgxai.errors import ManifestError
from ecgxai.io.files import read_json_object, write_json_atomic

MANIFEST_NAME = "run.json"
ENVIRONMENT_PACKAGES = ("ecgxai", "numpy", "tensorflow", "keras", "wfdb", "neurokit2")


def manifest_path(run_dir: str | Path) -> Path:
    """Where the manifest of ``run_dir`` lives."""
    return Path(run_dir) / MANIFEST_NAME


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Python, platform and the versions of the packages that shape results (None if absent)."""
    return {"python": platform.python_version(), "platform": platform.platform(),
            **{package: _version(package) for package in ENVIRONMENT_PACKAGES}}


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (model files can be large)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The manifest of ``run_dir`` as a dict; empty when the folder has none."""
    return read_json_object(manifest_path(run_dir), ManifestError, "run manifest (delete or fix it)")


def update_manifest(run_dir: str | Path, section: str, settings: Mapping[str, Any]) -> Path:
    """Merge ``settings`` into ``section`` of the run's manifest (atomically); return its path.

    The section's keys are updated one level deep and stamped with the time; the
    ``environment`` is refreshed to the one doing this update.
    """
    manifest = read_manifest(run_dir)
    previous = manifest.get(section, {})
    if not isinstance(previous, dict):
        raise ManifestError(f"{manifest_path(run_dir)}: section {section!r} is not a JSON object")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest[section] = {**previous, **json.loads(json.dumps(dict(settings), default=str)), "updated": now}
    manifest["environment"] = environment()
    manifest["updated"] = now
    path = manifest_path(run_dir)
    write_json_atomic(path, manifest)
    return path
