"""``auto`` picks by what the model allows: cell occlusion where perturbations run incrementally within
the budget, the best gradient method for other models with gradients, cell occlusion for a black box."""

from __future__ import annotations

import numpy as np
import pytest

import ecgxai
from ecgxai.explain.methods import (
    AUTO,
    AUTO_BUDGET,
    AUTO_CHOICE,
    CELL_OCCLUSION,
    cell_occlusion_cost,
    model_kind,
    resolve_method,
)
from ecgxai.models.zoo import DEMO_MODEL_PATH

T, L = 1000, 12


@pytest.mark.keras
@pytest.mark.parametrize(("window_cost", "kind"), [(0.01, "incremental"), (1.0, "gradients")])
def test_cell_occlusion_only_where_the_engine_keeps_it_within_budget(monkeypatch, window_cost, kind):
    model = ecgxai.load_model(DEMO_MODEL_PATH)
    monkeypatch.setattr(model.incremental(), "window_cost", lambda width: window_cost)
    cells = 12 * 100  # 5000 samples at 500 Hz in 0.1 s cells, every lead
    assert cell_occlusion_cost(model) == pytest.approx(cells * window_cost)
    assert (cell_occlusion_cost(model) <= AUTO_BUDGET) == (kind == "incremental")
    assert model_kind(model) == kind and resolve_method(AUTO, model)[0] == AUTO_CHOICE[kind][0]


@pytest.mark.keras
def test_the_engine_measures_a_window_once():
    engine = ecgxai.load_model(DEMO_MODEL_PATH).incremental()
    first = engine.window_cost(50)
    assert np.isfinite(first) and first > 0
    assert engine.window_cost(50) == first  # cached: a second measurement would differ


@pytest.mark.keras
def test_your_settings_win_over_autos(monkeypatch):
    model = ecgxai.load_model(DEMO_MODEL_PATH)
    monkeypatch.setattr(model.incremental(), "window_cost", lambda width: 0.01)
    assert resolve_method(AUTO, model) == CELL_OCCLUSION
    method, params = resolve_method(AUTO, model, {"window_sec": 0.2, "event_kind": "uniform"})
    assert method == "occlusion"
    assert params == {"hierarchy": "flat", "window_sec": 0.2, "event_kind": "uniform"}  # yours win


def test_a_black_box_gets_cell_occlusion():
    model = ecgxai.load_model(lambda x: np.full((len(x), 2), 0.5, np.float32), class_names=["1", "2"],
                              input_length=T)
    assert model_kind(model) == "black box" and resolve_method(AUTO, model) == CELL_OCCLUSION


def test_a_model_with_gradients_but_no_engine_gets_the_gradient_method():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    torch.manual_seed(0)
    flat = torch.nn.Sequential(torch.nn.Conv1d(L, 4, 5, padding=2), torch.nn.Flatten(),
                               torch.nn.Linear(4 * T, 2))  # dense over time: no local trunk
    model = ecgxai.load_model(flat, class_names=["1", "2"], input_length=T, input_layout="NLT",
                              output_activation="sigmoid")
    assert model.differentiable and model.incremental() is None
    assert model_kind(model) == "gradients" and resolve_method(AUTO, model) == AUTO_CHOICE["gradients"]


@pytest.mark.keras
def test_a_named_method_is_kept_with_its_settings():
    model = ecgxai.load_model(DEMO_MODEL_PATH)
    assert resolve_method("lime", model, {"m_event": 50}) == ("lime", {"m_event": 50})
