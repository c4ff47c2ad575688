"""Model-parameter randomisation check (Adebayo et al., "Sanity checks for saliency maps", 2018).

An explanation that survives the randomisation of the model's weights does not
explain the model. :func:`randomise_layers` re-initialises the top layers of a
classifier (a copy, made by its backend; the original is untouched); :func:`model_randomisation_check`
explains one input with the original model and after cascading randomisation of
the top 1, 2, ... layers and reports how similar each explanation stays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ecgxai import config
from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.rankings import spearman
from ecgxai.explain.attribution import cell_edges
from ecgxai.explain.explainers import explain_input
from ecgxai.explain.methods import METHODS
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import CELL_SEC, relevance_of
from ecgxai.explain.settings import ExplainParams, derive_seed
from ecgxai.models.base import Classifier

ExplainFn = Callable[[Classifier, np.ndarray, float, str], Explanation]


def randomise_layers(classifier: Classifier, n_layers: int, seed: int | None = None) -> Classifier:
    """A copy of ``classifier`` whose top ``n_layers`` weighted layers are re-initialised.

    Layers with trainable weights are counted from the output backwards
    (:meth:`~ecgxai.models.base.Classifier.weighted_layers`) and re-initialised by
    :meth:`~ecgxai.models.base.Classifier.randomised`. Each layer draws from its own generator
    seeded by ``seed`` and the layer's name, so randomising 1 then 2 layers is a cascade: the
    top layer gets the same values in both.
    """
    names = classifier.weighted_layers()
    if not 0 <= int(n_layers) <= len(names):
        raise ConfigurationError(f"n_layers must lie in 0..{len(names)} (layers with weights), "
                                 f"got {n_layers}")
    run_seed = config.resolve_seed(seed)
    return classifier.randomised({name: derive_seed(run_seed, "randomise_layers", name)
                                  for name in names[: int(n_layers)]})


def attribution_grid(
    explanation: Explanation | Mapping[str, Any],
    lead_names: Sequence[str],
    duration_sec: float | None = None,
    cell_sec: float = CELL_SEC,
) -> np.ndarray:
    """(leads, cells) |relevance| (the map's, else the spans' overlap x |weight|) on ``cell_sec``
    cells over ``duration_sec`` (default the explanation's ``page_seconds``) from its start."""
    exp = Explanation.from_payload(explanation)
    duration = float(duration_sec if duration_sec is not None else exp.page_seconds)
    edges = cell_edges(duration, cell_sec) + float(exp.start_sec or 0.0)
    relevance = relevance_of(exp, lead_names)
    return np.stack([relevance.window_mass(lead, edges[:, 0], edges[:, 1]) for lead in lead_names]) \
        if lead_names else np.zeros((0, len(edges)))


def _explainer(method: str | ExplainFn, params: ExplainParams | Mapping[str, Any] | None,
               seed: int | None, identity: str) -> tuple[str, ExplainFn]:
    if callable(method):
        return getattr(method, "__name__", type(method).__name__), method
    if method not in METHODS:
        raise ConfigurationError(f"unknown method {method!r}; choose from {', '.join(METHODS)} "
                                 "or pass a callable (classifier, x, fs, target) -> Explanation")

    def explain(classifier: Classifier, x: np.ndarray, fs: float, target: str) -> Explanation:
        return explain_input(classifier, x, target, fs=fs, method=method, params=params, seed=seed,
                             lead_names=classifier.lead_names, identity=identity)

    return method, explain


def model_randomisation_check(
    classifier: Classifier,
    x: np.ndarray,
    fs: float,
    target: str,
    method: str | ExplainFn = "gradxinput",
    layers: Sequence[int] = (1, 2, 3),
    seed: int | None = None,
    params: ExplainParams | Mapping[str, Any] | None = None,
    threshold: float = 0.5,
    *,
    identity: str = "",
) -> dict[str, Any]:
    """Cascading model-parameter randomisation test for one model input ``x`` (T, L).

    ``x`` is explained for ``target`` with the original model and after randomising
    the top ``n`` weighted layers for each ``n`` in ``layers`` (increasing; see
    :func:`randomise_layers`). ``method`` is an explainer name or a callable
    ``(classifier, x, fs, target) -> Explanation``; explanations are compared on their whole
    maps (spans when a callable's explanation has none).

    Similarity = Spearman correlation of |relevance| on a (lead x 0.1 s) grid (:func:`attribution_grid`)
    between the original explanation and each randomised one (NaN when either grid is
    constant). ``flagged`` is True when the similarity after the last step is still
    above ``threshold``, i.e. the explanation does not depend on the model's weights
    (a NaN similarity flags only when the two grids are identical).

    Returns ``method``, ``target``, ``threshold``, ``layers``, ``steps`` (per step:
    ``n_layers``, randomised layer names, ``similarity``), ``similarity`` (list),
    ``final_similarity``, ``flagged``, ``original`` and ``randomised`` (Explanations).
    """
    steps_n = [int(n) for n in layers]
    if not steps_n or any(n < 1 for n in steps_n) or steps_n != sorted(set(steps_n)):
        raise ConfigurationError(f"layers must be increasing positive counts, got {list(layers)}")
    names = classifier.weighted_layers()
    if steps_n[-1] > len(names):
        raise ConfigurationError(f"the model has {len(names)} layers with weights; cannot randomise "
                                 f"{steps_n[-1]}")
    x = np.asarray(x, dtype=np.float32)
    label, explain = _explainer(method, params, seed, identity)
    leads = list(classifier.lead_names or config.STANDARD_LEADS[: x.shape[1]])
    original = explain(classifier, x, fs, str(target))
    duration = len(x) / fs
    base_grid = attribution_grid(original, leads, duration)

    steps, randomised = [], []
    for n in steps_n:
        model_n = randomise_layers(classifier, n, seed)
        explanation = explain(model_n, x, fs, str(target))
        grid = attribution_grid(explanation, leads, duration)
        similarity = spearman(base_grid, grid)
        steps.append({"n_layers": n, "layers": list(names[:n]), "similarity": similarity,
                      "identical": bool(np.allclose(base_grid, grid))})
        randomised.append(explanation)
    last = steps[-1]
    final = last["similarity"]
    flagged = last["identical"] if math.isnan(final) else bool(final > threshold)
    return {
        "method": label,
        "target": str(target),
        "threshold": threshold,
        "layers": steps_n,
        "steps": steps,
        "similarity": [step["similarity"] for step in steps],
        "final_similarity": final,
        "flagged": flagged,
        "original": original,
        "randomised": randomised,
    }
