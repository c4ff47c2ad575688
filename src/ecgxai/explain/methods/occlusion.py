"""Occlusion (Zeiler & Fergus 2014): each player zeroed alone; its weight is the drop of the score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ecgxai.explain.methods.base import PerturbationExplainer
from ecgxai.explain.perturbation import apply_link
from ecgxai.explain.settings import Link


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

    def n_masks(self, n_players: int, n_samples: int) -> int:
        """One mask per player plus the all-on one, whatever is offered."""
        return n_players + 1

    def fit(self, masks: np.ndarray, outputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Drop of the linked score when each player is masked."""
        y = apply_link(outputs, self.link)
        return y[0] - y[1:]


class Occlusion(PerturbationExplainer):
    """Occlusion on the class probability; ``hierarchy="flat"`` occludes every event x lead cell alone
    (with ``window_sec=0.1``: every lead x 0.1 s cell), the hierarchical default events then the leads
    inside the top events."""

    name: ClassVar[str] = "occlusion"
    label: ClassVar[str] = "Occlusion"

    def surrogate(self) -> OcclusionSurrogate:
        """Occlusion on the chosen link."""
        return OcclusionSurrogate(link=self.link)
