"""The attribution map: conversions, storage precision, JSON round trips and size on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ecgxai
from ecgxai.errors import ConfigurationError
from ecgxai.explain import Attribution, Explanation, explain_record
from ecgxai.explain.attribution import sample_attribution, segment_attribution

LEADS = tuple(ecgxai.config.STANDARD_LEADS)
FS = 500.0


def random_sample_map(seed: int = 0, n: int = 5000) -> Attribution:
    rng = np.random.default_rng(seed)
    values = rng.standard_t(3, size=(n, 12)) * np.exp(rng.normal(0, 2, (1, 12)))
    return sample_attribution(values, [(0, n // 2), (n // 2, n)], LEADS, FS, scale="logit", method="test")


def test_values_keep_the_stated_precision():
    rng = np.random.default_rng(1)
    raw = rng.standard_normal((5000, 12)) * 1e-6          # gradients are often tiny
    attribution = sample_attribution(raw, [(0, 5000)], LEADS, FS, scale="logit", method="test")
    peak = np.abs(raw).max()
    error = np.abs(attribution.values - raw)
    assert np.all(error <= np.maximum(np.abs(raw) * 2.0**-11, peak * 6e-8))
    assert error.max() > 0  # it is rounded, not kept exactly


@pytest.mark.parametrize("resolution", ["sample", "segment"])
def test_json_round_trip_is_exact_at_storage_precision(resolution):
    if resolution == "sample":
        attribution = random_sample_map()
    else:
        grid = np.random.default_rng(2).standard_normal((20, 12))
        events = [(250 * i, 250 * (i + 1)) for i in range(20)]
        attribution = segment_attribution(grid, events, LEADS, 5000, FS, scale="probability", method="lime",
                                          segment_weights=grid.sum(1) * 1.1, meta={"link": "identity"},
                                          settings={"window_sec": 0.5})
    text = json.dumps(attribution.to_json_dict())
    again = Attribution.from_json_dict(json.loads(text))
    assert again == attribution
    np.testing.assert_array_equal(again.to_samples(), attribution.to_samples())


def test_segment_values_spread_evenly_over_their_samples():
    grid = np.arange(24, dtype=float).reshape(2, 12)
    attribution = segment_attribution(grid, [(100, 200), (300, 350)], LEADS, 500, FS, scale="logit",
                                      method="t")
    dense, kept = attribution.to_samples(), attribution.segment_values()
    np.testing.assert_allclose(kept, grid, rtol=2.0**-11)  # storage precision
    np.testing.assert_allclose(dense[100:200].sum(axis=0), kept[0])
    np.testing.assert_allclose(dense[300:350].sum(axis=0), kept[1])
    assert np.all(dense[:100] == 0) and np.all(dense[200:300] == 0) and np.all(dense[350:] == 0)


def test_cells_sum_or_average_the_samples():
    attribution = random_sample_map(n=1000)
    dense = attribution.to_samples()
    sums = attribution.to_cells(0.1, "sum")
    means = attribution.to_cells(0.1, "mean")
    assert sums.shape == means.shape == (12, 20)
    np.testing.assert_allclose(sums[:, 3], dense[150:200].sum(axis=0))
    np.testing.assert_allclose(means[:, 3], dense[150:200].mean(axis=0))
    np.testing.assert_allclose(attribution.to_cells(0.3).sum(axis=1), dense.sum(axis=0))  # last cell short


@pytest.mark.parametrize("change, message", [
    ({"values": np.full((5000, 12), np.nan)}, "NaN"),
    ({"values": np.zeros((5000, 11))}, "cannot hold"),
    ({"segments": np.array([[0, 3000], [2000, 5000]])}, "non-overlapping"),
    ({"segments": np.array([[0, 6000]])}, "within"),
    ({"resolution": "beat"}, "resolution"),
])
def test_malformed_maps_are_refused(change, message):
    fields = {"values": np.zeros((5000, 12)), "segments": np.array([[0, 5000]]), "lead_names": LEADS,
              "resolution": "sample", "n_samples": 5000, "fs": FS, "model_fs": FS, "scale": "logit",
              "method": "test"}
    with pytest.raises(ConfigurationError, match=message):
        Attribution(**{**fields, **change})


def test_a_payload_without_a_map_still_loads():
    original = {"mat_path": "A0001.mat", "target_label": "164889003", "method_label": "LIME+TimeSHAP",
                "page_seconds": 10.0, "perlead_spans": {"II": [[1.0, 1.5, 0.3]]}, "lead_scores": {"II": 0.3},
                "top5_leads": ["II"], "meta": {}}
    explanation = Explanation.from_payload(original)
    assert explanation.attribution is None
    assert "attribution" not in explanation.to_payload()
    assert Explanation.from_json(explanation.to_json()) == explanation


@pytest.mark.keras
def test_a_sample_level_payload_is_compact_on_disk(tmp_path):
    """A 10 s, 12-lead, 500 Hz Integrated Gradients map (the demo model on a synthetic record)."""
    from ecgxai.models.zoo import DEMO_MODEL_PATH
    from ecgxai.synth import generate_dataset

    records = generate_dataset(tmp_path / "records", 1, codes=["164889003"], seed=5)
    model = ecgxai.load_model(DEMO_MODEL_PATH)
    explanation = explain_record(model, records["path"].iloc[0], "164889003", method="ig", seed=1)
    assert explanation.attribution.resolution == "sample"
    assert explanation.attribution.values.shape == (5000, 12)
    path = tmp_path / "payload.json"
    path.write_text(explanation.to_json())
    assert path.stat().st_size <= 150_000
    assert Explanation.from_json(path.read_text()) == explanation


def test_a_reference_map_is_compact_on_disk(tmp_path, reference_model, reference_records):
    explanation = explain_record(reference_model, reference_records[0], "164889003", method="ig", seed=1)
    path = tmp_path / "payload.json"
    path.write_text(explanation.to_json())
    assert path.stat().st_size <= 150_000
    assert Explanation.from_json(path.read_text()) == explanation
