"""How perturbation explainers sample masks and turn model outputs into weights.

Two strategies share one two-level engine (:mod:`ecgxai.explain.perturbation`):

- :class:`LimeSurrogate`: random binary masks (the all-on mask first), LIME's
  exponential kernel on the cosine distance to the all-on mask, weighted ridge.
- :class:`KernelShapSurrogate`: coalitions stratified by size with the Shapley
  kernel (D-1)/(C(D,s) s (D-s)), sizes enumerated exactly where the budget allows,
  the rest sampled in complementary pairs; the empty and full coalitions anchor an
  efficiency-constrained weighted least squares (Lundberg & Lee 2017; Covert &
  Lee 2021 for paired sampling).
- :class:`OcclusionSurrogate`: the all-on mask, then each player masked alone;
  a player's weight is the drop of the (linked) score when it is masked.
- :class:`ShapleySamplingSurrogate`: permutation sampling of Shapley values
  (Castro et al. 2009) with antithetic permutations (each walked forwards and
  backwards); every prefix coalition is one model evaluation.

Occlusion and Shapley sampling set their own budget (players, permutations) and
ignore the ``n_samples`` the engine offers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from scipy.special import logit as _logit

from ecgxai.errors import ConfigurationError

Link = Literal["identity", "logit"]


class Surrogate(Protocol):
    """Sampling + fitting strategy of a perturbation explainer."""

    name: str

    def sample(self, n_players: int, n_samples: int, rng: np.random.Generator,
               keep_prob: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Masks (M, D) bool (True = player kept) and their regression weights (M,)."""
        ...

    def fit(self, masks: np.ndarray, outputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """One attribution per player from model outputs (M,) on the masks."""
        ...


def apply_link(p: np.ndarray, link: Link) -> np.ndarray:
    """Map probabilities through the link (logit clipped away from 0 and 1)."""
    if link == "identity":
        return np.asarray(p, dtype=np.float64)
    if link == "logit":
        return _logit(np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7))
    raise ConfigurationError(f"link must be 'identity' or 'logit', got {link!r}")


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


def shapley_kernel_mass(n_players: int) -> np.ndarray:
    """Total Shapley kernel weight of each coalition size s = 1..D-1 (index s-1): (D-1)/(s(D-s))."""
    s = np.arange(1, n_players)
    return (n_players - 1) / (s * (n_players - s))


@dataclass(frozen=True)
class KernelShapSurrogate:
    """KernelSHAP with exact small sizes, paired sampling and anchored empty/full coalitions."""

    link: Link = "logit"
    name: str = "TimeSHAP"

    def sample(self, n_players: int, n_samples: int, rng: np.random.Generator,
               keep_prob: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Coalitions [full, empty, ...] with regression weights that estimate the Shapley kernel.

        ``keep_prob`` is ignored: Shapley values have no notion of a prior.
        """
        d = n_players
        if n_samples < 3 or d < 1:
            raise ConfigurationError(f"KernelSHAP needs >= 3 samples and >= 1 player, got {n_samples}, {d}")
        anchors = np.array([np.ones(d, bool), np.zeros(d, bool)])
        if d == 1:
            return anchors, np.ones(2)
        rows, weights = self._coalitions(d, n_samples - 2, rng)
        masks = np.vstack([anchors, *rows]) if rows else anchors
        return masks, np.concatenate([np.ones(2), *weights]) if weights else np.ones(2)

    def _coalitions(self, d: int, budget: int, rng: np.random.Generator
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Enumerate whole size pairs (s, D-s) while they fit, smallest first; sample the rest."""
        mass = shapley_kernel_mass(d)
        rows: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        sizes = list(range(1, d // 2 + 1))
        while sizes:
            s = sizes[0]
            pair = [s] if s == d - s else [s, d - s]
            count = sum(math.comb(d, k) for k in pair)
            if count > budget:
                break
            for k in pair:
                subsets = _all_subsets(d, k)
                rows.append(subsets)
                weights.append(np.full(len(subsets), mass[k - 1] / len(subsets)))
            budget -= count
            sizes.pop(0)
        if sizes and budget >= 2:
            sampled, sampled_w = self._paired_samples(d, sizes, budget, mass, rng)
            rows.append(sampled)
            weights.append(sampled_w)
        return rows, weights

    @staticmethod
    def _paired_samples(d: int, sizes: list[int], budget: int, mass: np.ndarray,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Sample coalitions of the remaining sizes by kernel mass, each with its complement."""
        size_mass = np.array([mass[s - 1] + (mass[d - s - 1] if s != d - s else 0.0) for s in sizes])
        n_pairs = budget // 2
        chosen = rng.choice(sizes, size=n_pairs, p=size_mass / size_mass.sum())
        masks = np.zeros((2 * n_pairs, d), dtype=bool)
        for i, s in enumerate(chosen):
            masks[2 * i, rng.choice(d, size=s, replace=False)] = True
            masks[2 * i + 1] = ~masks[2 * i]
        # Each sample stands for an equal share of the remaining kernel mass.
        weights = np.full(2 * n_pairs, size_mass.sum() / (2 * n_pairs))
        return masks, weights

    def fit(self, masks: np.ndarray, outputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Shapley values: weighted least squares with sum(phi) = f(full) - f(empty) enforced."""
        y = apply_link(outputs, self.link)
        full, empty = y[0], y[1]
        total = full - empty
        z, yz, wz = masks[2:].astype(np.float64), y[2:] - empty, weights[2:]
        if z.shape[1] == 1 or len(z) == 0:
            return np.full(masks.shape[1], total / masks.shape[1])
        # Eliminate the last player: phi_D = total - sum(phi_1..D-1).
        x = z[:, :-1] - z[:, -1:]
        target = yz - z[:, -1] * total
        sw = np.sqrt(wz)
        head, *_ = np.linalg.lstsq(x * sw[:, None], target * sw, rcond=None)
        return np.append(head, total - head.sum())


@dataclass(frozen=True)
class OcclusionSurrogate:
    """Occlusion: weight = f(all on) - f(player masked), one evaluation per player plus one."""

    link: Link = "identity"
    name: str = "Occlusion"

    def sample(self, n_players: int, n_samples: int, rng: np.random.Generator,
               keep_prob: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """[all on, each player masked alone]; ``n_samples``, ``rng`` and ``keep_prob`` are unused."""
        masks = np.vstack([np.ones((1, n_players), bool), ~np.eye(n_players, dtype=bool)])
        return masks, np.ones(len(masks))

    def fit(self, masks: np.ndarray, outputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Drop of the linked score when each player is masked."""
        y = apply_link(outputs, self.link)
        return y[0] - y[1:]


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
        if self.permutations < 1 or n_players < 1:
            raise ConfigurationError(f"Shapley sampling needs >= 1 permutation and >= 1 player, "
                                     f"got {self.permutations}, {n_players}")
        anchors = np.array([np.ones(n_players, bool), np.zeros(n_players, bool)])
        orders = [rng.permutation(n_players) for _ in range(self.permutations)]
        walks = [walk for order in orders for walk in (order, order[::-1])]
        prefixes = [_prefix_masks(walk)[1:-1] for walk in walks]
        masks = np.vstack([anchors, *prefixes])
        return masks, np.ones(len(masks))

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


def _all_subsets(d: int, k: int) -> np.ndarray:
    """Every coalition of size ``k`` among ``d`` players, as rows of a bool matrix."""
    combos = list(itertools.combinations(range(d), k))
    out = np.zeros((len(combos), d), dtype=bool)
    for i, combo in enumerate(combos):
        out[i, list(combo)] = True
    return out
