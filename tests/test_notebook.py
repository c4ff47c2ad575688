"""The walkthrough notebook runs top to bottom, headless, on the bundled default and on the reference data."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.keras  # every test here runs a Keras model

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the dev extra")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


def run_notebook(monkeypatch: pytest.MonkeyPatch, **env: str) -> nbformat.NotebookNode:
    """Execute every cell in a fresh kernel (an error in any cell fails the test); return the notebook."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return notebook


def outputs_of(notebook: nbformat.NotebookNode) -> str:
    """All text and SVG/HTML the cells produced."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.extend(str(v) for k, v in output.get("data", {}).items() if k != "image/png")
    return "\n".join(parts)


def test_walkthrough_on_the_bundled_synthetic_data(monkeypatch):
    notebook = run_notebook(monkeypatch, ECGXAI_WALKTHROUGH_DATA="synthetic")
    text = outputs_of(notebook)
    assert "right bundle branch block" in text
    assert "<svg" in text  # the 12-lead chart, the comparison and the metric figure display inline
    assert "gt_auroc" in text


def test_walkthrough_on_the_reference_data(monkeypatch, reference_dir):
    notebook = run_notebook(monkeypatch, ECGXAI_WALKTHROUGH_DATA="reference",
                            ECGXAI_REFERENCE=str(reference_dir))
    text = outputs_of(notebook)
    assert "atrial fibrillation" in text and "<svg" in text
