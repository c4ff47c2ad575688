"""TimeSHAP-style KernelSHAP (Lundberg & Lee 2017; Bento et al. 2021) over events and leads.

Coalitions are stratified by size with the Shapley kernel (D-1)/(C(D,s) s (D-s)), sizes
enumerated exactly where the budget allows, the rest sampled in complementary pairs (Covert &
Lee 2021); the empty and full coalitions anchor an efficiency-constrained weighted least squares,
on the logit link by default.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.explain.methods.base import PerturbationExplainer
from ecgxai.explain.perturbation import apply_link
from ecgxai.explain.settings import Link


def shapley_kernel_mass(n_players: int) -> np.ndarray:
    """Total Shapley kernel weight of each coalition size s = 1..D-1 (index s-1): (D-1)/(s(D-s))."""
    s = np.arange(1, n_players)
    return (n_players - 1) / (s * (n_players - s))


def enumeration_plan(d: int, budget: int) -> tuple[list[int], list[int], int]:
    """Sizes enumerated whole (pairs (s, D-s) smallest first, while they fit in ``budget``), the
    sizes left to sample, and the budget left for sampling."""
    enumerated: list[int] = []
    sizes = list(range(1, d // 2 + 1))
    while sizes:
        s = sizes[0]
        pair = [s] if s == d - s else [s, d - s]
        count = sum(math.comb(d, k) for k in pair)
        if count > budget:
            break
        enumerated.extend(pair)
        budget -= count
        sizes.pop(0)
    return enumerated, sizes, budget


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
        d = _check(n_players, n_samples)
        anchors = np.array([np.ones(d, bool), np.zeros(d, bool)])
        if d == 1:
            return anchors, np.ones(2)
        rows, weights = self._coalitions(d, n_samples - 2, rng)
        masks = np.vstack([anchors, *rows]) if rows else anchors
        return masks, np.concatenate([np.ones(2), *weights]) if weights else np.ones(2)

    def n_masks(self, n_players: int, n_samples: int) -> int:
        """The anchors, the enumerated coalitions and the sampled pairs (an odd budget leaves one out)."""
        d = _check(n_players, n_samples)
        if d == 1:
            return 2
        enumerated, sizes, budget = enumeration_plan(d, n_samples - 2)
        sampled = 2 * (budget // 2) if sizes and budget >= 2 else 0
        return 2 + sum(math.comb(d, k) for k in enumerated) + sampled

    def _coalitions(self, d: int, budget: int, rng: np.random.Generator
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Enumerate whole size pairs (s, D-s) while they fit, smallest first; sample the rest."""
        mass = shapley_kernel_mass(d)
        enumerated, sizes, left = enumeration_plan(d, budget)
        rows = [_all_subsets(d, k) for k in enumerated]
        weights = [np.full(len(subsets), mass[k - 1] / len(subsets)) for k, subsets in zip(enumerated, rows,
                                                                                           strict=True)]
        if sizes and left >= 2:
            sampled, sampled_w = self._paired_samples(d, sizes, left, mass, rng)
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


def _check(n_players: int, n_samples: int) -> int:
    if n_samples < 3 or n_players < 1:
        raise ConfigurationError(f"KernelSHAP needs >= 3 samples and >= 1 player, "
                                 f"got {n_samples}, {n_players}")
    return n_players


def _all_subsets(d: int, k: int) -> np.ndarray:
    """Every coalition of size ``k`` among ``d`` players, as rows of a bool matrix."""
    combos = list(itertools.combinations(range(d), k))
    out = np.zeros((len(combos), d), dtype=bool)
    for i, combo in enumerate(combos):
        out[i, list(combo)] = True
    return out


class TimeShap(PerturbationExplainer):
    """KernelSHAP Shapley values on the class logit (``link="identity"`` for probability)."""

    name: ClassVar[str] = "timeshap"
    label: ClassVar[str] = "TimeSHAP"
    default_link: ClassVar[Link] = "logit"

    def surrogate(self) -> KernelShapSurrogate:
        """KernelSHAP on the chosen link."""
        return KernelShapSurrogate(link=self.link)
