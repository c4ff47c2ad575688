"""Every registered explainer through the same checks, on the planted-effect Keras CNN of
``test_explainers_more`` (P(class 0) rises with the mean of lead V2 inside 4.0-4.5 s).

A method registered in ``ecgxai.explain.methods.EXPLAINERS`` is picked up here without edits:
determinism under a seed, model evaluations equal to the counter and to the method's own
forecast, a map with a value for every lead and every event, and the planted effect found.
"""

from __future__ import annotations

import numpy as np
import pytest

from ecgxai.errors import ConfigurationError
from ecgxai.explain import EXPLAINERS, Attribution, Explanation, explain_input, get_explainer
from ecgxai.explain.methods import METHOD_LABELS, Explainer
from ecgxai.explain.settings import make_params
from ecgxai.signal.events import make_event_segments
from test_explainers import CODES, FS, LEADS, PLANT_END, PLANT_LEAD, PLANT_START, planted_signal
from test_explainers_more import planted_conv_keras  # noqa: F401 - the fixture

#: Cheaper than the defaults (which the other tests run) and the same for every method.
SETTINGS = {"m_event": 60, "m_feat": 40, "topk_events": 3, "shapley_permutations": 2, "ig_steps": 8,
            "smoothgrad_samples": 4}


def planted_events() -> list[tuple[int, int]]:
    """The events every method segments the planted input into under SETTINGS."""
    settings = make_params(SETTINGS).for_class(CODES[0])
    return make_event_segments(planted_signal(), FS, settings.segmentation(), LEADS)


def explain(model, method: str, seed: int = 11) -> Explanation:
    return explain_input(model, planted_signal(), CODES[0], fs=FS, method=method, params=SETTINGS, seed=seed)


@pytest.fixture(scope="module", params=sorted(EXPLAINERS))
def explained(request, planted_conv_keras):  # noqa: F811 - the imported fixture
    """(method, model, explanation, model evaluations counted around it) per registered method."""
    before = planted_conv_keras.counter.evaluations
    explanation = explain(planted_conv_keras, request.param)
    return request.param, planted_conv_keras, explanation, planted_conv_keras.counter.evaluations - before


def test_a_method_is_one_class_in_the_registry(explained):
    method, _, explanation, _ = explained
    cls = get_explainer(method)
    assert issubclass(cls, Explainer) and cls.name == method
    assert explanation.method_label == METHOD_LABELS[method] == cls.label
    assert explanation.attribution.method == method and explanation.params["method"] == method


def test_same_seed_same_map(explained):
    method, model, explanation, _ = explained
    again = explain(model, method)
    assert again.attribution == explanation.attribution
    assert again.perlead_spans == explanation.perlead_spans


def test_model_evaluations_match_the_counter_and_the_forecast(explained):
    method, model, explanation, counted = explained
    explainer = get_explainer(method)(model, make_params(SETTINGS))
    forecast = explainer.expected_evaluations(len(planted_events()), len(LEADS))
    assert explanation.model_evaluations == counted == 1 + forecast  # 1: the explained probability


def test_every_lead_and_event_has_a_value(explained):
    _, _, explanation, _ = explained
    attribution = explanation.attribution
    assert isinstance(attribution, Attribution)
    events = planted_events()
    assert attribution.segments.tolist() == [list(e) for e in events]
    assert attribution.lead_names == tuple(LEADS)
    grid = attribution.segment_values()
    assert grid.shape == (len(events), len(LEADS)) and np.all(np.isfinite(grid))
    assert attribution.to_samples().shape == (len(planted_signal()), len(LEADS))
    # the spans are a cut of the map: the top events on the top leads, nothing else
    assert sum(len(spans) for spans in explanation.perlead_spans.values()) == 3 * 5


def test_the_planted_effect_is_found(explained):
    _, _, explanation, _ = explained
    cells = explanation.attribution.to_cells(0.5)          # (leads, 0.5 s cells)
    lead, cell = np.unravel_index(np.argmax(cells), cells.shape)
    assert LEADS[lead] == LEADS[PLANT_LEAD]
    assert cell * 0.5 < PLANT_END / FS and (cell + 1) * 0.5 > PLANT_START / FS


def test_an_unknown_method_is_refused_before_any_work(planted_conv_keras):  # noqa: F811
    before = planted_conv_keras.counter.evaluations
    with pytest.raises(ConfigurationError, match="unknown method 'limes'"):
        explain(planted_conv_keras, "limes")
    assert planted_conv_keras.counter.evaluations == before
