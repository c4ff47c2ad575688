"""Gradient explainers for differentiable classifiers, on the class logit.

Each returns a dense (T, L) attribution; :func:`ecgxai.explain.spans.spans_from_dense`
turns it into spans on any segmentation. Gradient x input, Integrated Gradients,
Grad-CAM (time-only, spread to leads) and SmoothGrad, a noise tunnel around any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.models.base import Classifier

CamSpread = Literal["guided", "all_leads"]


def gradient_x_input(classifier: Classifier, x: np.ndarray, target: int) -> tuple[np.ndarray, int]:
    """Gradient of the logit times the input, for one input (T, L) or a batch (N, T, L).

    Returns the attribution (same shape as ``x``) and the gradient evaluations (one per input).
    """
    batch = x if x.ndim == 3 else x[None]
    grad = classifier.gradient(batch, target, score="logit")
    attribution = grad * batch
    return (attribution if x.ndim == 3 else attribution[0]), len(batch)


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


def smooth_grad(attribute: Callable[[np.ndarray], np.ndarray], x: np.ndarray, samples: int,
                sigma: float, rng: np.random.Generator) -> np.ndarray:
    """SmoothGrad noise tunnel: the mean attribution over ``samples`` noisy copies of ``x`` (T, L).

    Noise is Gaussian with standard deviation ``sigma`` times the input's standard deviation
    (all leads and samples together, so relative lead amplitudes are kept; Smilkov et al. 2017).
    ``attribute`` maps a batch (N, T, L) to attributions (N, T, L): the base method applied
    to each noisy input, as Captum's NoiseTunnel does.
    """
    if samples < 1:
        raise ConfigurationError(f"smoothgrad_samples must be >= 1, got {samples}")
    if sigma < 0:
        raise ConfigurationError(f"smoothgrad_sigma must be >= 0, got {sigma}")
    scale = float(sigma) * float(np.std(x))
    noise = rng.standard_normal((samples, *x.shape)).astype(x.dtype) * np.asarray(scale, x.dtype)
    return attribute(x[None] + noise).mean(axis=0)
