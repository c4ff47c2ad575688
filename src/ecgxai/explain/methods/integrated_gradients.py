"""Integrated Gradients (Sundararajan et al. 2017) on the class logit, from a zero baseline."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.explain.methods.base import GradientExplainer
from ecgxai.models.base import Classifier


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


class IntegratedGradients(GradientExplainer):
    """Integrated Gradients with ``ig_steps`` (16) midpoint steps from the all-zero input."""

    name: ClassVar[str] = "ig"
    label: ClassVar[str] = "IntegratedGradients"

    def attribute_batch(self, batch: np.ndarray, index: int, rng: np.random.Generator) -> np.ndarray:
        """Integrated Gradients of each input (its steps in one model batch)."""
        return np.stack([integrated_gradients(self.classifier, x, index, steps=self.settings.ig_steps)[0]
                         for x in batch])

    def evaluations_per_input(self) -> int:
        """``ig_steps`` gradients."""
        return self.settings.ig_steps
