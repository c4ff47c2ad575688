"""Gradient x input (Shrikumar et al. 2016) on the class logit."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ecgxai.explain.methods.base import GradientExplainer
from ecgxai.models.base import Classifier


def gradient_x_input(classifier: Classifier, x: np.ndarray, target: int) -> tuple[np.ndarray, int]:
    """Gradient of the logit times the input, for one input (T, L) or a batch (N, T, L).

    Returns the attribution (same shape as ``x``) and the gradient evaluations (one per input).
    """
    batch = x if x.ndim == 3 else x[None]
    grad = classifier.gradient(batch, target, score="logit")
    attribution = grad * batch
    return (attribution if x.ndim == 3 else attribution[0]), len(batch)


class GradientXInput(GradientExplainer):
    """d logit / d x times x, per sample and lead: one gradient per input."""

    name: ClassVar[str] = "gradxinput"
    label: ClassVar[str] = "GradientXInput"

    def attribute_batch(self, batch: np.ndarray, index: int, rng: np.random.Generator) -> np.ndarray:
        """Gradient x input of each input."""
        return gradient_x_input(self.classifier, batch, index)[0]

    def evaluations_per_input(self) -> int:
        """One gradient."""
        return 1
