"""Model-parameter randomisation similarity (Adebayo et al., "Sanity checks for saliency maps", 2018).

An explanation that stays the same when the model's weights are replaced by random
ones does not explain the model. :func:`randomisation_similarity` is the Spearman
rank correlation of two relevance maps (plain arrays);
:func:`explanation_randomisation` re-explains a payload's input with its own method,
settings and seed on a copy of the classifier whose weighted layers are all
re-initialised (:func:`~ecgxai.evaluate.sanity.randomise_layers`, the end of
Adebayo's cascade) and compares the two on |relevance| per lead x 0.1 s cell (the map, or
the spans), as :func:`~ecgxai.evaluate.sanity.model_randomisation_check` does. Low
similarity is good. It costs one whole explanation (and a model copy, made once per
classifier and seed), so the evaluator computes it only on request.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ecgxai import config
from ecgxai.evaluate.context import Metric, MetricContext, MetricFamily
from ecgxai.evaluate.rankings import spearman
from ecgxai.evaluate.robustness import model_leads, not_reexplainable, reexplainer, relevance_cells
from ecgxai.evaluate.sanity import randomise_layers
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import CELL_SEC, Relevance, random_like, relevance_of
from ecgxai.models.base import Classifier

_RANDOMISED: weakref.WeakKeyDictionary[Classifier, dict[tuple[int, int], Classifier]] = \
    weakref.WeakKeyDictionary()


def randomisation_similarity(original: np.ndarray, randomised: np.ndarray) -> float:
    """Spearman rank correlation of two relevance maps of the same shape: 1 when the randomised
    model's explanation ranks points as the trained model's does, about 0 when unrelated; NaN when
    either map is constant."""
    return spearman(original, randomised)


def randomised_classifier(classifier: Classifier, n_layers: int | None = None,
                          seed: int | None = None) -> Classifier:
    """:func:`~ecgxai.evaluate.sanity.randomise_layers` of the top ``n_layers`` weighted layers (all
    by default), made once per classifier, layer count and seed and reused for every record."""
    n = len(classifier.weighted_layers()) if n_layers is None else int(n_layers)
    key = (n, config.resolve_seed(seed))
    made = _RANDOMISED.setdefault(classifier, {})
    if key not in made:
        made[key] = randomise_layers(classifier, n, key[1])
    return made[key]


def explanation_randomisation(
    classifier: Classifier,
    x: np.ndarray,
    fs: float,
    target: str,
    explanation: Explanation,
    random_relevance: Relevance,
    rng: np.random.Generator,
    *,
    seed: int | None,
    identity: str,
    lead_names: Sequence[str] | None = None,
    n_layers: int | None = None,
    cell_sec: float = CELL_SEC,
    duration_sec: float | None = None,
) -> dict[str, Any]:
    """Similarity of ``explanation`` to its re-explanation on the randomised classifier (compared on
    |relevance| per lead x ``cell_sec`` cell), and the random baseline: ``random_relevance`` against a
    fresh random map of the same resolution (drawn from ``rng``), what an explainer whose output is
    noise scores (about 0). NaN, with a ``reason``, when the payload cannot be re-explained;
    ``evaluations`` counts the randomised model's inputs."""
    x = np.asarray(x, dtype=np.float32)
    leads = model_leads(classifier, x, lead_names)
    explain = reexplainer(explanation, seed, identity, leads)
    if explain is None:
        return not_reexplainable("randomisation_similarity", explanation)
    duration = len(x) / fs if duration_sec is None else float(duration_sec)

    def cells(relevance: Relevance | Explanation) -> np.ndarray:
        if isinstance(relevance, Explanation):
            relevance = relevance_of(relevance, leads, len(x), fs)
        return relevance_cells(relevance, fs, duration, cell_sec, absolute=True)

    model = randomised_classifier(classifier, n_layers, seed)
    before = model.counter.evaluations
    other = explain(model, x, fs, str(target))
    evaluations = model.counter.evaluations - before
    fresh = random_like(random_relevance, rng, duration, cell_sec)
    return {
        "randomisation_similarity": randomisation_similarity(
            cells(explanation), cells(other)),
        "random_randomisation_similarity": randomisation_similarity(cells(random_relevance), cells(fresh)),
        "randomised_layers": list(model.randomised_layers),
        "evaluations": int(evaluations),
    }


def _randomisation(ctx: MetricContext) -> dict[str, Any]:
    found = explanation_randomisation(ctx.classifier, ctx.x, ctx.fs, ctx.code, ctx.explanation,
                                      ctx.random_relevance, ctx.rng("randomisation"), seed=ctx.seed,
                                      identity=ctx.record.name, lead_names=ctx.leads, duration_sec=ctx.shown)
    return {**found, "randomisation_evaluations": found["evaluations"]}


RANDOMISATION = MetricFamily(
    "randomisation", _randomisation, group="extra", cost_column="randomisation_evaluations", metrics=(
        Metric("randomisation_similarity", "Similarity after model randomisation (lower = better)", False,
               key=True, note="Spearman of the map before and after the model's weights are randomised"),
    ))
