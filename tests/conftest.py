"""Shared fixtures: the reference material in ../shared/reference (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("ECGXAI_REFERENCE", ROOT.parent / "shared" / "reference"))
REFERENCE_MISSING = f"reference material not found at {REFERENCE} (set ECGXAI_REFERENCE)"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(REFERENCE_MISSING)
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The reference folder (records/, model/, seed-results/, class table)."""
    return _require(REFERENCE)


@pytest.fixture(scope="session")
def reference_records(reference_dir: Path) -> list[Path]:
    """The 70 reference ``.mat`` paths, sorted by name."""
    return sorted((reference_dir / "records").glob("*.mat"))


@pytest.fixture(scope="session")
def reference_model(reference_dir: Path):
    """The reference ResNet loaded once per session through the zoo."""
    import ecgxai

    return ecgxai.load_model(reference_dir / "model" / "resnet_final_weights.h5",
                             architecture="physionet2020_resnet")
