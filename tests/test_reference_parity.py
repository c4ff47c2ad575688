"""The reference ResNet, loaded through the zoo, reproduces the original toolkit's stored probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ecgxai

pytestmark = pytest.mark.keras  # every test here runs a Keras model


def test_probabilities_match_seed_results_on_all_70_records(reference_dir, reference_model):
    seed = pd.read_csv(reference_dir / "seed-results" / "seed_model_probs.csv", dtype={"record": str})
    files = [reference_dir / "records" / f"{name}.mat" for name in seed["record"]]
    classes = ecgxai.load_class_names(reference_dir / "snomed_classes.npy")
    assert list(seed.columns[2:]) == list(classes) == list(reference_model.class_names)

    probs = ecgxai.batched_predict_all(reference_model, files, batch_size=16, maxlen=5000,
                                       progress=False)

    expected = seed[list(classes)].to_numpy(dtype=np.float64)
    assert probs.shape == (70, 27) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-5)


def test_reference_model_convention_is_raw_adc_padded_to_5000(reference_model):
    assert reference_model.units == "adc"
    assert reference_model.input_shape == (5000, 12)
    assert reference_model.lead_names == ecgxai.config.STANDARD_LEADS
