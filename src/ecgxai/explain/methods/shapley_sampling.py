"""Shapley values by permutation sampling (Castro et al. 2009) with antithetic permutations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.explain.methods.base import PerturbationExplainer
from ecgxai.explain.perturbation import apply_link
from ecgxai.explain.settings import Link


@dataclass(frozen=True)
class ShapleySamplingSurrogate:
    """Shapley values from ``permutations`` random player orders, each also walked in reverse.

    A walk adds players one at a time from the empty to the full coalition; a player's value is
    its mean marginal contribution over the walks. The full and empty coalitions are shared, so
    the cost is 2 + 2 * permutations * (D - 1) evaluations, and the values always add up to
    f(full) - f(empty). The reverse walk (antithetic sampling) cancels much of the variance
    that comes from a player's position (Mitchell et al. 2022).
    """

    permutations: int = 5
    link: Link = "identity"
    name: str = "ShapleySampling"

    def sample(self, n_players: int, n_samples: int, rng: np.random.Generator,
               keep_prob: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """[full, empty, then the D - 1 proper prefixes of each walk]; ``n_samples`` is unused."""
        self._check(n_players)
        anchors = np.array([np.ones(n_players, bool), np.zeros(n_players, bool)])
        orders = [rng.permutation(n_players) for _ in range(self.permutations)]
        walks = [walk for order in orders for walk in (order, order[::-1])]
        prefixes = [_prefix_masks(walk)[1:-1] for walk in walks]
        masks = np.vstack([anchors, *prefixes])
        return masks, np.ones(len(masks))

    def n_masks(self, n_players: int, n_samples: int) -> int:
        """2 + 2 * permutations * (D - 1), whatever is offered."""
        self._check(n_players)
        return 2 + 2 * self.permutations * (n_players - 1)

    def _check(self, n_players: int) -> None:
        if self.permutations < 1 or n_players < 1:
            raise ConfigurationError(f"Shapley sampling needs >= 1 permutation and >= 1 player, "
                                     f"got {self.permutations}, {n_players}")

    def fit(self, masks: np.ndarray, outputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Mean marginal contribution of each player over the walks found in ``masks``."""
        y = apply_link(outputs, self.link)
        d = masks.shape[1]
        if d == 1:
            return np.array([y[0] - y[1]])
        n_walks = (len(masks) - 2) // (d - 1)
        inner = masks[2:].reshape(n_walks, d - 1, d)
        edge = np.ones((n_walks, 1, d), bool)
        path = np.concatenate([~edge, inner, edge], axis=1)               # (walks, D + 1, D)
        values = np.concatenate([np.full((n_walks, 1), y[1]), y[2:].reshape(n_walks, d - 1),
                                 np.full((n_walks, 1), y[0])], axis=1)    # (walks, D + 1)
        added = path[:, 1:] & ~path[:, :-1]                                # (walks, D, D) one-hot
        return np.einsum("ws,wsd->d", np.diff(values, axis=1), added.astype(np.float64)) / n_walks


def _prefix_masks(order: np.ndarray) -> np.ndarray:
    """(D + 1, D) coalitions along a walk: empty, first player, first two, ..., all."""
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return np.arange(len(order) + 1)[:, None] > rank[None, :]


class ShapleySampling(PerturbationExplainer):
    """Shapley sampling on the class probability, ``shapley_permutations`` antithetic permutations."""

    name: ClassVar[str] = "shapley_sampling"
    label: ClassVar[str] = "ShapleySampling"

    def surrogate(self) -> ShapleySamplingSurrogate:
        """Permutation sampling with the chosen number of permutations and link."""
        return ShapleySamplingSurrogate(permutations=self.settings.shapley_permutations, link=self.link)

    def describe(self) -> dict[str, Any]:
        """The number of permutations."""
        return {"permutations": self.settings.shapley_permutations}
