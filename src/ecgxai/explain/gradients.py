"""Gradient explainers for differentiable classifiers, on the class logit.

Both return a dense (T, L) attribution; :func:`ecgxai.explain.spans.spans_from_dense`
turns it into spans on any segmentation.
"""

from __future__ import annotations

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.models.base import Classifier


def gradient_x_input(classifier: Classifier, x: np.ndarray, target: int) -> tuple[np.ndarray, int]:
    """Gradient of the logit times the input: (T, L) attribution and gradient evaluations (1)."""
    grad = classifier.gradient(x[None], target, score="logit")[0]
    return grad * x, 1


def integrated_gradients(
    classifier: Classifier, x: np.ndarray, target: int, steps: int = 16,
    baseline: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Integrated Gradients from a baseline (zeros by default), midpoint Riemann sum.

    All ``steps`` interpolated inputs go to the model in one batch. Returns the
    (T, L) attribution and the number of gradient evaluations.
    """
    if steps < 1:
        raise ConfigurationError(f"steps must be >= 1, got {steps}")
    base = np.zeros_like(x) if baseline is None else np.asarray(baseline, dtype=x.dtype)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(x.dtype)
    path = base[None] + alphas[:, None, None] * (x - base)[None]
    grads = classifier.gradient(path, target, score="logit", batch_size=steps)
    return (x - base) * grads.mean(axis=0), steps
