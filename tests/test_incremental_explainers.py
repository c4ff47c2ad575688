"""Perturbation explainers through the incremental engine give the maps of the full forward pass.

Occlusion of every cell alone, and the lead games of LIME and TimeSHAP, send inputs that differ
from the record inside one window; with an engine they are computed incrementally. The maps must
equal the full-pass ones within 1e-4 (plus one step of the map's float16 storage precision).
"""

from __future__ import annotations

import numpy as np
import pytest

import ecgxai
from ecgxai.explain import explain_record
from ecgxai.models.zoo import DEMO_MODEL_PATH
from ecgxai.synth import generate_dataset

pytestmark = pytest.mark.keras  # every test here runs a Keras model

SETTINGS = {
    "occlusion": {"hierarchy": "flat", "window_sec": 0.1},
    "lime": {},
    "timeshap": {},
}
#: The same games, smaller, for the reference ResNet, whose full passes are ~40x the demo CNN's.
SMALL = {
    "occlusion": {"hierarchy": "flat", "window_sec": 0.5},
    "lime": {"m_event": 40, "m_feat": 40},
    "timeshap": {"m_event": 40, "m_feat": 40},
}


def assert_same_maps(model, record, code: str, settings: dict = SETTINGS) -> None:
    """Each method's map with the model's engine equals its map on the full forward pass."""
    def explain_all() -> dict:
        return {method: explain_record(model, record, code, method=method, params=params, seed=4)
                for method, params in settings.items()}

    assert model.incremental() is not None
    fast = explain_all()
    model.use_incremental = False
    try:
        full = explain_all()
    finally:
        model.use_incremental = True
    for method in settings:
        a, b = fast[method].attribution, full[method].attribution
        step = np.abs(b.values).max() * 2.0**-10
        np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-4 + step, err_msg=method)
        assert fast[method].model_evaluations == full[method].model_evaluations


def test_demo_cnn(tmp_path):
    model = ecgxai.load_model(DEMO_MODEL_PATH)
    path = generate_dataset(tmp_path, 1, codes=["59118001"], seed=8)["path"].iloc[0]
    assert_same_maps(model, path, "59118001")


def test_reference_resnet(reference_model, reference_records):
    assert_same_maps(reference_model, reference_records[40], "164889003", SMALL)


def test_the_counter_records_the_share_computed(reference_model, reference_records):
    counter = reference_model.counter
    before_samples, before_fraction = counter.forward_samples, counter.forward_fraction
    explanation = explain_record(reference_model, reference_records[3], "426783006", method="occlusion",
                                 params=SETTINGS["occlusion"], seed=1)
    calls = counter.forward_samples - before_samples
    assert calls == explanation.model_evaluations == 1 + 1 + 100 * 12   # probability, all-on, every cell
    assert counter.forward_fraction - before_fraction < calls / 10     # a small share actually computed
