"""SmoothGrad (Smilkov et al. 2017): any registered gradient method averaged over noisy copies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.explain.methods.base import GradientExplainer


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


class SmoothGrad(GradientExplainer):
    """The noise tunnel around ``smoothgrad_base`` (any registered gradient method but itself, as
    :func:`~ecgxai.explain.methods.check_settings` checks):
    ``smoothgrad_samples`` copies with noise sd ``smoothgrad_sigma`` x the input's sd."""

    name: ClassVar[str] = "smoothgrad"
    label: ClassVar[str] = "SmoothGrad"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from ecgxai.explain.methods import check_settings, get_explainer  # the registry imports this module

        base = check_settings(self.settings).smoothgrad_base
        self.base = get_explainer(base)(self.classifier, self.settings)

    @property
    def scale(self) -> str:  # type: ignore[override]
        """The base method's scale."""
        return self.base.scale

    def prepare(self) -> dict[str, Any]:
        """The base method's checks, and the tunnel's settings."""
        return {**self.base.prepare(), "base": self.base.name, "samples": self.settings.smoothgrad_samples,
                "sigma": self.settings.smoothgrad_sigma}

    def attribute_batch(self, batch: np.ndarray, index: int, rng: np.random.Generator) -> np.ndarray:
        """The tunnel around each input of the batch."""
        return np.stack([smooth_grad(lambda noisy: self.base.attribute_batch(noisy, index, rng), x,
                                     self.settings.smoothgrad_samples, self.settings.smoothgrad_sigma, rng)
                         for x in batch])

    def evaluations_per_input(self) -> int:
        """The base method's evaluations for each noisy copy."""
        return self.settings.smoothgrad_samples * self.base.evaluations_per_input()
