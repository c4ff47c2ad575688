"""Robustness: max-sensitivity (Yeh et al., "On the (in)fidelity and sensitivity of explanations", 2019).

A faithful explanation of a smooth model should not change much when the input
barely does. :func:`max_sensitivity` takes an explanation and the explanations of
noisy copies of its input (plain arrays) and returns the largest relative change
``||e(x + d) - e(x)|| / ||e(x)||`` (Frobenius norms), as Quantus' MaxSensitivity.
:func:`explanation_max_sensitivity` does the whole thing for a payload: Gaussian
noise of std ``radius`` x each lead's std, re-explanation of every copy with the
payload's own method, settings and seed (:func:`reexplainer`), and comparison on the
signed lead x 0.1 s cell grid the faithfulness metrics rank. It costs one whole
explanation per copy, so the evaluator computes it only on request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ecgxai import config
from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.context import Metric, MetricContext, MetricFamily
from ecgxai.evaluate.faithfulness import cell_sums
from ecgxai.explain.explainers import explain_input
from ecgxai.explain.methods import METHODS
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import CELL_SEC, Relevance, random_like, relevance_of
from ecgxai.explain.settings import derive_seed, make_params
from ecgxai.models.base import Classifier

#: Noisy copies per record and their noise level (a fraction of each lead's standard deviation).
SENSITIVITY_SAMPLES = 10
SENSITIVITY_RADIUS = 0.05

ExplainFn = Callable[[Classifier, np.ndarray, float, str], Explanation]


def not_reexplainable(metric: str, explanation: Explanation) -> dict[str, Any]:
    """The result of a re-explaining metric for a payload whose params name no explainer method:
    NaN for the metric and its random baseline, no cost, and the reason."""
    return {metric: math.nan, f"random_{metric}": math.nan, "evaluations": 0,
            "reason": f"cannot re-explain: params name no explainer method ({explanation.method_label})"}


def reexplainer(explanation: Explanation, seed: int | None, identity: str,
                lead_names: Sequence[str] | None = None) -> ExplainFn | None:
    """A function explaining any (classifier, x, fs, target) the way ``explanation`` was made: the
    method and settings its ``params`` record, seeded from ``seed`` and ``identity`` as
    :func:`~ecgxai.explain.explainers.explain_record` seeds it (so with the run's seed and the
    record's name, the sampling matches the payload's own). None when the params do not name an
    explainer method with valid settings (fused payloads, original toolkit payloads). ``lead_names``
    default to the classifier's."""
    params = dict(explanation.params)
    method = params.pop("method", None)
    if method not in METHODS:
        return None
    try:
        settings = make_params(params)
    except (ConfigurationError, TypeError):
        return None

    def explain(classifier: Classifier, x: np.ndarray, fs: float, target: str) -> Explanation:
        return explain_input(classifier, x, target, fs=fs, method=method, params=settings, seed=seed,
                             lead_names=lead_names or classifier.lead_names, identity=identity)

    return explain


def model_leads(classifier: Classifier, x: np.ndarray, lead_names: Sequence[str] | None = None) -> list[str]:
    """The input's lead names: ``lead_names``, else the classifier's, else the standard first L."""
    return list(lead_names or classifier.lead_names or config.STANDARD_LEADS[: x.shape[1]])


def reproduces_seed(explanation: Explanation, seed: int | None, identity: str) -> bool:
    """Whether :func:`reexplainer` (``seed``, ``identity``) samples as the payload did: its recorded
    seed is the one explain_input derives from them (else sampling noise adds to any difference)."""
    method = str(explanation.params.get("method"))
    code = str(explanation.target_code or explanation.target_label)
    return explanation.seed == derive_seed(seed, identity, code, method)


def noisy_copies(x: np.ndarray, n: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """(n, T, L) copies of ``x`` (T, L) plus Gaussian noise of std ``radius`` x each lead's std."""
    x = np.asarray(x, dtype=np.float32)
    if n < 1 or not radius >= 0:
        raise ConfigurationError(f"need n >= 1 noisy copies and radius >= 0, got {n} and {radius}")
    noise = rng.standard_normal((int(n), *x.shape)) * (radius * x.std(axis=0))
    return (x[None] + noise).astype(np.float32)


def relative_change(reference: np.ndarray, perturbed: np.ndarray) -> float:
    """``||perturbed - reference|| / ||reference||`` (Frobenius); NaN when the reference is all zero."""
    reference, perturbed = np.asarray(reference, dtype=float), np.asarray(perturbed, dtype=float)
    if reference.shape != perturbed.shape:
        raise ConfigurationError(f"explanations differ in shape: {reference.shape} and {perturbed.shape}")
    scale = float(np.linalg.norm(reference))
    return float(np.linalg.norm(perturbed - reference)) / scale if scale > 0 else math.nan


def max_sensitivity(reference: np.ndarray, perturbed: Sequence[np.ndarray]) -> float:
    """The largest :func:`relative_change` from ``reference`` over the ``perturbed`` explanations
    (0 = perfectly stable; NaN when there are none or the reference is all zero)."""
    changes = [relative_change(reference, other) for other in perturbed]
    return max(changes) if changes and not any(math.isnan(c) for c in changes) else math.nan


def relevance_cells(relevance: Relevance, fs: float, duration_sec: float, cell_sec: float = CELL_SEC,
                    absolute: bool = False) -> np.ndarray:
    """(L, n) signed (or absolute) relevance per lead x ``cell_sec`` cell, as explanations are compared."""
    return cell_sums(relevance.dense(absolute=absolute), fs, duration_sec, cell_sec)


def explanation_max_sensitivity(
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
    n_samples: int = SENSITIVITY_SAMPLES,
    radius: float = SENSITIVITY_RADIUS,
    cell_sec: float = CELL_SEC,
    duration_sec: float | None = None,
) -> dict[str, Any]:
    """Max-sensitivity of ``explanation`` of ``x`` for ``target``, and of a random map.

    ``n_samples`` noisy copies (:func:`noisy_copies`, drawn from ``rng``) are re-explained by
    :func:`reexplainer`; explanations are compared on their signed relevance per lead x
    ``cell_sec`` cell over ``duration_sec`` (default T / fs). The random baseline,
    ``random_max_sensitivity``, compares ``random_relevance`` with a fresh random map of the same
    resolution per copy: an explainer whose output is noise, the least stable there is (about
    sqrt(2) and above). Without a re-explainable method both are NaN and ``reason`` says why.
    ``evaluations`` counts the model inputs (forward and gradient) the re-explanations cost.
    """
    x = np.asarray(x, dtype=np.float32)
    leads = model_leads(classifier, x, lead_names)
    duration = len(x) / fs if duration_sec is None else float(duration_sec)
    explain = reexplainer(explanation, seed, identity, leads)
    if explain is None:
        return not_reexplainable("max_sensitivity", explanation)

    def cells(relevance: Relevance) -> np.ndarray:
        return relevance_cells(relevance, fs, duration, cell_sec)

    copies = noisy_copies(x, n_samples, radius, rng)
    before = classifier.counter.evaluations
    grids = [cells(relevance_of(explain(classifier, copy, fs, str(target)), leads, len(x), fs))
             for copy in copies]
    evaluations = classifier.counter.evaluations - before
    fresh = [cells(random_like(random_relevance, rng, duration, cell_sec)) for _ in copies]
    own = cells(relevance_of(explanation, leads, len(x), fs))
    return {"max_sensitivity": max_sensitivity(own, grids),
            "random_max_sensitivity": max_sensitivity(cells(random_relevance), fresh),
            "n_samples": int(n_samples), "radius": float(radius),
            "same_seed": reproduces_seed(explanation, seed, identity), "evaluations": int(evaluations)}


def _max_sensitivity(ctx: MetricContext) -> dict[str, Any]:
    found = explanation_max_sensitivity(ctx.classifier, ctx.x, ctx.fs, ctx.code, ctx.explanation,
                                        ctx.random_relevance, ctx.rng("max_sensitivity"), seed=ctx.seed,
                                        identity=ctx.record.name, lead_names=ctx.leads,
                                        duration_sec=ctx.shown)
    return {**found, "max_sensitivity_evaluations": found["evaluations"]}


MAX_SENSITIVITY = MetricFamily(
    "max_sensitivity", _max_sensitivity, group="extra", cost_column="max_sensitivity_evaluations", metrics=(
        Metric("max_sensitivity", "Max-sensitivity (lower = more stable)", False, key=True,
               note="largest relative change of the map over noisy copies of the input"),
    ))
