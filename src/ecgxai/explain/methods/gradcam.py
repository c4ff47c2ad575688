"""Grad-CAM (Selvaraju et al. 2017) in one dimension, spread to the leads by the input gradient."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.explain.methods.base import GradientExplainer
from ecgxai.explain.settings import CamSpread
from ecgxai.models.base import Classifier


def upsample_linear(values: np.ndarray, length: int) -> np.ndarray:
    """Stretch (N, T') rows to (N, length) by linear interpolation between cell centres.

    Cell i of T' covers input samples [i, i + 1) * length / T', so its value sits at the centre
    of that stretch (as ``align_corners=False`` resizing does); edges hold the end values.
    """
    n_cells = values.shape[1]
    centres = (np.arange(n_cells) + 0.5) * length / n_cells - 0.5
    grid = np.arange(length)
    return np.stack([np.interp(grid, centres, row) for row in values]).astype(np.float32)


def grad_cam(classifier: Classifier, x: np.ndarray, target: int, layer: str | None = None
             ) -> np.ndarray:
    """1-D Grad-CAM of a batch (N, T, L): ReLU(sum_c alpha_c A_c(t)), upsampled to (N, T).

    ``A`` is the (N, T', C) output of ``layer`` (default: the last 1-D convolution) and
    ``alpha_c`` the time average of d logit / d A_c (Selvaraju et al. 2017). One gradient
    evaluation per input.
    """
    activations, gradients = classifier.conv_activation_gradient(x, target, layer)
    alpha = gradients.mean(axis=1, keepdims=True)
    cam = np.maximum((alpha * activations).sum(axis=2), 0.0)
    return upsample_linear(cam, x.shape[1])


def guided_grad_cam(classifier: Classifier, x: np.ndarray, target: int, layer: str | None = None,
                    spread: CamSpread = "guided") -> tuple[np.ndarray, int]:
    """Grad-CAM spread to the leads, for one input (T, L) or a batch (N, T, L).

    Grad-CAM says *when* (it has no lead axis). ``"guided"`` multiplies it by the input
    gradient's magnitude, CAM(t) * |d logit / d x(t, lead)|: Guided Grad-CAM with the plain
    gradient in place of guided backpropagation and absolute values, as used for ECGs; it says
    which lead at that time the score is sensitive to (two gradient evaluations per input).
    ``"all_leads"`` gives every lead the same CAM(t) (one evaluation; leads tie in the ranking).
    Returns the non-negative attribution (shape of ``x``) and the gradient evaluations.
    """
    if spread not in ("guided", "all_leads"):
        raise ConfigurationError(f"gradcam_spread must be 'guided' or 'all_leads', got {spread!r}")
    batch = x if x.ndim == 3 else x[None]
    cam = grad_cam(classifier, batch, target, layer)[:, :, None]
    if spread == "guided":
        attribution = cam * np.abs(classifier.gradient(batch, target, score="logit"))
        evaluations = 2 * len(batch)
    else:
        attribution = np.repeat(cam, batch.shape[2], axis=2)
        evaluations = len(batch)
    return (attribution if x.ndim == 3 else attribution[0]), evaluations


class GradCam(GradientExplainer):
    """Guided 1-D Grad-CAM on ``gradcam_layer`` (default the last Conv1D); non-negative values on a
    relative scale (CAM x |gradient|), so it says where the evidence lies, not its sign. Keras and
    torch models only."""

    name: ClassVar[str] = "gradcam"
    label: ClassVar[str] = "GradCAM"
    scale: ClassVar[str] = "relative"

    def prepare(self) -> dict[str, Any]:
        """Resolve (and check) the layer before any model work."""
        return {"layer": self.classifier.conv_layer(self.settings.gradcam_layer),
                "spread": self.settings.gradcam_spread}

    def attribute_batch(self, batch: np.ndarray, index: int, rng: np.random.Generator) -> np.ndarray:
        """Guided Grad-CAM of each input."""
        return guided_grad_cam(self.classifier, batch, index, self.settings.gradcam_layer,
                               self.settings.gradcam_spread)[0]

    def evaluations_per_input(self) -> int:
        """Two gradients when guided, one for ``all_leads``."""
        return 2 if self.settings.gradcam_spread == "guided" else 1
