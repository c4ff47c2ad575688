"""The one interface every metric shares: what it is given, and how it describes itself.

A metric family is one function of a :class:`MetricContext` (everything the evaluator knows of
one explanation: the model input, the explanation read as relevance, its random baseline at
the same resolution, tokens, beats, the planted mask) returning table columns, plus one
:class:`Metric` record per score it reports (its column, a written-out name, whether higher is
better, and its chance level: the ``random_<column>`` baseline it fills, a fixed number, or
another column). ``evaluate``, ``compare`` and ``report`` read these records
(:mod:`ecgxai.evaluate.metrics`) rather than wiring metrics by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd

from ecgxai.classes import EvaluationRegion
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import Relevance
from ecgxai.explain.settings import derive_seed
from ecgxai.io.records import Record
from ecgxai.models.base import Classifier
from ecgxai.signal.windows import BeatContext

#: ``chance`` of a metric whose baseline is the random map scored the same way (``random_<column>``).
RANDOM = "random"
Group = Literal["original", "ranking", "localisation", "extra"]


@dataclass(frozen=True)
class Metric:
    """One reported score: its column, a written-out name and unit, its direction and chance level.

    ``chance`` is :data:`RANDOM` (a ``random_<column>`` column scores the random map of the same
    resolution), a number (e.g. 0.5 for an AUROC), the name of another column, or None.
    ``key`` metrics are those short tables, figures and the report's first screen show.
    """

    column: str
    label: str
    higher_is_better: bool
    chance: str | float | None = RANDOM
    key: bool = False
    note: str = ""

    @property
    def baseline_column(self) -> str | None:
        """The column holding the random map's score (None without one)."""
        return f"random_{self.column}" if self.chance == RANDOM else None

    @property
    def direction(self) -> str:
        """Which way is better, in words."""
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def chance_text(self) -> str:
        """The chance level in words: the random map, a number, another column, or none."""
        if self.chance == RANDOM:
            return "a random map of the method's resolution"
        if isinstance(self.chance, str):
            return f"column {self.chance}"
        return "none defined" if self.chance is None else f"{self.chance:g}"


@dataclass
class MetricContext:
    """What the evaluator knows of one explanation when the metrics run.

    ``x`` is the model input (T, L) at ``fs`` with leads ``leads``; ``target`` the class column
    and ``code`` its code; ``relevance`` the explanation read as relevance (its map, or its spans)
    and ``random_relevance`` a random map of the same resolution; ``shown`` the seconds of the
    record the input holds; ``mask`` the planted (leads, samples) evidence mask, or None;
    ``ranking_scale`` the scale the ranking curves follow (``probability`` or ``logit``).
    """

    classifier: Classifier
    x: np.ndarray
    fs: float
    leads: tuple[str, ...]
    target: int
    code: str
    record: Record
    explanation: Explanation
    relevance: Relevance
    random_relevance: Relevance
    beats: BeatContext
    region: EvaluationRegion
    tokens: pd.DataFrame
    shown: float
    mask: np.ndarray | None
    seed: int | None
    k: int = 20
    keep_curves: bool = False
    ranking_scale: str = "probability"
    extras: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def dense(self) -> np.ndarray:
        """The explanation's (T, L) signed relevance."""
        return self.relevance.dense()

    @cached_property
    def random_dense(self) -> np.ndarray:
        """The random map's (T, L) values."""
        return self.random_relevance.dense()

    def rng(self, metric: str) -> np.random.Generator:
        """A generator per metric, record and class (not method): methods share subsets, noise, tie orders."""
        return np.random.default_rng(derive_seed(self.seed, self.record.name, self.code, metric))


@dataclass(frozen=True)
class MetricFamily:
    """Metrics computed together by one function of a :class:`MetricContext`.

    ``columns`` lists every column the function fills besides the metrics and their baselines
    (counts, settings), ``cost_column`` the one holding its model evaluations; ``group`` says when it
    runs: ``original`` and ``localisation`` always (localisation gives NaN without a planted mask),
    ``ranking`` unless ranking metrics are switched off, ``extra`` only when asked for by ``name``.
    """

    name: str
    compute: Callable[[MetricContext], Mapping[str, Any]]
    metrics: tuple[Metric, ...]
    group: Group
    columns: tuple[str, ...] = ()
    cost_column: str | None = None

    def all_columns(self) -> list[str]:
        """Every column the family fills but its cost, in table order (each metric, then its baseline)."""
        return [*with_baselines(self.metrics), *self.columns]

    def empty(self) -> dict[str, float]:
        """NaN for every column (a family not computed on a row)."""
        return dict.fromkeys([*self.all_columns(), *([self.cost_column] if self.cost_column else [])],
                             float("nan"))


def with_baselines(metrics: Sequence[Metric]) -> list[str]:
    """Each metric's column followed by its baseline column, when it has one."""
    return [c for m in metrics for c in (m.column, m.baseline_column) if c is not None]
