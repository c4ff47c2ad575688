"""The bundled demo classifier: its model card, its input convention, and its accuracy on fresh data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ecgxai.errors import ModelLoadError
from ecgxai.models import load_model
from ecgxai.models.loader import model_card_path
from ecgxai.models.predict import predict_records
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.synth import SYNTH_CODES, generate_dataset, synthetic_batch

pytestmark = pytest.mark.keras  # every test here runs a Keras model

#: Seed of a held-out set that neither training nor the recorded held-out scores used.
FRESH_SEED = (20261125, 7)


@pytest.fixture(scope="module")
def demo_model():
    return load_model(DEMO_MODEL_PATH)


def balanced_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean over classes of the share of that class's records ranked first for it."""
    predicted = probs.argmax(axis=1)
    return float(np.mean([(predicted[labels == k] == k).mean() for k in np.unique(labels)]))


def test_bundled_model_is_small_and_its_card_describes_it(demo_model):
    card = json.loads(model_card_path(DEMO_MODEL_PATH).read_text())
    assert DEMO_MODEL_PATH.stat().st_size < 2_000_000
    assert demo_model.class_names == tuple(card["class_names"]) == SYNTH_CODES
    assert demo_model.units == card["units"] == "mV"
    assert demo_model.input_length == card["input_length"] == 5000
    assert card["held_out"]["balanced_accuracy"] >= 0.9


def test_balanced_accuracy_on_fresh_held_out_records(demo_model):
    x, labels = synthetic_batch(20, seed=FRESH_SEED, randomise_levels=True)
    assert balanced_accuracy(demo_model.predict(x), labels) >= 0.9


def test_records_written_to_disk_are_classified_through_the_file_path(demo_model, tmp_path: Path):
    index = generate_dataset(tmp_path, n_per_class=2, seed=FRESH_SEED[0])
    result = predict_records(demo_model, list(index["path"]), progress=False)
    assert result.errors.empty
    probs = result.probs[list(SYNTH_CODES)].to_numpy()
    labels = index["code"].map(SYNTH_CODES.index).to_numpy()
    assert balanced_accuracy(probs, labels) >= 0.9


def test_model_card_settings_can_be_overridden_and_a_broken_card_is_refused(tmp_path: Path):
    copy = tmp_path / "demo.keras"
    copy.write_bytes(DEMO_MODEL_PATH.read_bytes())
    model_card_path(copy).write_text("{not json")
    with pytest.raises(ModelLoadError, match="model card"):
        load_model(copy)
    model_card_path(copy).write_text(json.dumps({"class_names": list(SYNTH_CODES), "units": "mV"}))
    assert load_model(copy, units="adc").units == "adc"
