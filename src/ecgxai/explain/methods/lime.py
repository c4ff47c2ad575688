"""LIME (Ribeiro et al. 2016) over events and leads: random masks, an exponential kernel, weighted ridge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ecgxai import classes
from ecgxai.explain.methods.base import PerturbationExplainer
from ecgxai.explain.perturbation import apply_link, lead_keep_probabilities
from ecgxai.explain.settings import Link


def weighted_ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """Coefficients of ridge regression with an unpenalised intercept and sample weights."""
    w = w / w.sum()
    x_mean, y_mean = w @ x, w @ y
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ (xc * w[:, None]) + alpha / len(y) * np.eye(x.shape[1])
    return np.linalg.solve(gram, xc.T @ (w * yc))


@dataclass(frozen=True)
class LimeSurrogate:
    """LIME: Bernoulli masks, exponential kernel on cosine distance, weighted ridge (alpha=1)."""

    kernel_width: float = 0.25
    alpha: float = 1.0
    link: Link = "identity"
    name: str = "LIME"

    def sample(self, n_players: int, n_samples: int, rng: np.random.Generator,
               keep_prob: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Random masks, the all-on mask first; weights from the LIME kernel."""
        p = np.full(n_players, 0.5) if keep_prob is None else np.asarray(keep_prob, dtype=float)
        masks = rng.random((n_samples, n_players)) < p
        masks[0] = True
        return masks, self.kernel(masks)

    def n_masks(self, n_players: int, n_samples: int) -> int:
        """Every sample offered is used."""
        return n_samples

    def kernel(self, masks: np.ndarray) -> np.ndarray:
        """sqrt(exp(-d^2 / width^2)) with d the cosine distance to the all-on mask (LIME's kernel)."""
        on = masks.sum(axis=1)
        cosine = np.where(on > 0, on / np.sqrt(np.maximum(on, 1) * masks.shape[1]), 0.0)
        distance = 1.0 - cosine
        return np.sqrt(np.exp(-(distance**2) / self.kernel_width**2))

    def fit(self, masks: np.ndarray, outputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Weighted ridge coefficients of the linked outputs on the masks."""
        y = apply_link(outputs, self.link)
        return weighted_ridge(masks.astype(np.float64), y, weights, self.alpha)


class Lime(PerturbationExplainer):
    """LIME on the class probability: masked events (then leads) zeroed, ``kernel_width`` 0.25.

    With ``use_lead_priors`` (off by default) lead masks keep the class's classically read leads
    more often (``LEAD_PRIOR_BY_SNOMED``); the prior is recorded in the map's and payload's meta.
    """

    name: ClassVar[str] = "lime"
    label: ClassVar[str] = "LIME"

    def surrogate(self) -> LimeSurrogate:
        """LIME's kernel and ridge on the chosen link."""
        return LimeSurrogate(kernel_width=self.settings.kernel_width, link=self.link)

    def lead_keep_prob(self, code: str, lead_names: tuple[str, ...]) -> tuple[np.ndarray | None, Any]:
        """The class's lead prior as mask keep-probabilities, when priors are on."""
        if not self.settings.use_lead_priors:
            return None, "off"
        prior = classes.lead_prior_for(code)
        strength = self.settings.prior_strength
        recorded = {"lead_prior": prior, "strength": strength}
        return lead_keep_probabilities(lead_names, prior, strength), recorded
