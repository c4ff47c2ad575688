"""The README's "adding a method" and "adding a metric" examples work as written: each is one file's
code plus one registry entry (done here with monkeypatch instead of editing the registry)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import ecgxai
from ecgxai.evaluate import evaluator
from ecgxai.explain import EXPLAINERS, explain_record
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.synth import generate_dataset

pytestmark = pytest.mark.keras  # every test here runs a Keras model

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_module(first_line: str) -> dict:
    """Run the README's Python block that starts with ``first_line``; its namespace."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (code,) = [block for block in blocks if block.startswith(first_line)]
    namespace: dict = {}
    exec(compile(code, f"README:{first_line}", "exec"), namespace)  # the project's own README
    return namespace


@pytest.fixture(scope="module")
def record_and_model(tmp_path_factory):
    path = generate_dataset(tmp_path_factory.mktemp("af"), 1, codes=["164889003"], seed=2)["path"].iloc[0]
    return path, ecgxai.load_model(DEMO_MODEL_PATH)


def test_a_method_added_as_the_readme_shows(monkeypatch, record_and_model):
    saliency = readme_module("# src/ecgxai/explain/methods/saliency.py")["Saliency"]
    monkeypatch.setitem(EXPLAINERS, saliency.name, saliency)
    path, model = record_and_model
    explanation = explain_record(model, path, "164889003", method="saliency", seed=1)
    assert explanation.method_label == "Saliency" and explanation.model_evaluations == 2
    values = explanation.attribution.values
    assert values.shape == (5000, 12) and np.all(values >= 0) and values.max() > 0
    assert len(explanation.perlead_spans) == 5


def test_a_metric_added_as_the_readme_shows(monkeypatch, record_and_model):
    family = readme_module("# src/ecgxai/evaluate/sparsity.py")["SPARSITY"]
    monkeypatch.setattr(evaluator, "FAMILIES", (*evaluator.FAMILIES, family))
    path, model = record_and_model
    explanation = explain_record(model, path, "164889003", method="gradxinput", seed=1)
    row = evaluator.evaluate_payload(explanation, model, seed=1, ranking=False)
    assert 0 < row["gini"] < 1 and 0 < row["random_gini"] < 1
    assert row["gini"] > row["random_gini"]  # a gradient map is sparser than Gaussian noise
