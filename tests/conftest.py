"""Shared fixtures: the reference material in ../shared/reference (skipped with a reason when absent),
and headless Chromium to open reports in."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("ECGXAI_REFERENCE", ROOT.parent / "shared" / "reference"))
REFERENCE_MISSING = f"reference material not found at {REFERENCE} (set ECGXAI_REFERENCE)"
KERAS_MISSING = "needs TensorFlow and Keras, not installed: pip install 'ecgxai[keras]'"
CHROMIUM = shutil.which("chromium")
#: The window a report's first screen must fit ...
FIRST_SCREEN = {"width": 1400, "height": 900}
#: ... and what must be on it: the comparison figure and the summary table (page px, top and bottom).
FIRST_SCREEN_BOXES = """Object.fromEntries(["#comparison-figure svg", "#summary-table table"].map(s => {
    const r = document.querySelector(s)?.getBoundingClientRect();
    return [s, r ? [r.top + window.scrollY, r.bottom + window.scrollY] : null]; }))"""
#: Fixtures that load or build Keras models: a test using any of them (directly or through another
#: fixture) is marked ``keras``; tests that load Keras models themselves carry the mark.
KERAS_FIXTURES = frozenset({"reference_model", "demo_model", "planted_keras", "planted_conv_keras",
                            "tiny_keras", "small_keras"})


def keras_installed() -> bool:
    """True when the keras extra (TensorFlow and Keras) is importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("tensorflow", "keras"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests using Keras fixtures ``keras``; without the keras extra such tests skip with the reason."""
    skip = None if keras_installed() else pytest.mark.skip(reason=KERAS_MISSING)
    for item in items:
        if KERAS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.keras)
        if skip and item.get_closest_marker("keras"):
            item.add_marker(skip)


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


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven through playwright (its own browser builds are not used)."""
    if CHROMIUM is None:
        pytest.skip("chromium not installed (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright not installed (pip install -e .[dev])")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def first_screen(browser) -> Callable[[Path], dict[str, list[float] | None]]:
    """A function opening a report at 1400 x 900: the top and bottom (px) of its comparison figure and
    summary table, None for one that is missing."""
    def measure(report: Path) -> dict[str, list[float] | None]:
        page = browser.new_page(viewport=FIRST_SCREEN)
        page.goto(report.resolve().as_uri(), wait_until="load")
        boxes = page.evaluate(FIRST_SCREEN_BOXES)
        page.close()
        return boxes

    return measure
