"""Every metric the evaluator computes, in one list (the registry ``evaluate``, ``compare`` and
``report`` read).

Each entry of :data:`FAMILIES` is a :class:`~ecgxai.evaluate.context.MetricFamily`: one function of
the evaluator's :class:`~ecgxai.evaluate.context.MetricContext` and the :class:`Metric` records of
the scores it reports (direction, chance level, written-out name). To add a metric: write its
family in one module (a function of the context and its records) and add it here.
"""

from __future__ import annotations

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.context import Metric, MetricFamily
from ecgxai.evaluate.correlation import CORRELATION
from ecgxai.evaluate.deletion import DELETION
from ecgxai.evaluate.faithfulness import RANKING, ROAD
from ecgxai.evaluate.localisation import LOCALISATION, MASK_RELEVANCE
from ecgxai.evaluate.plausibility import DELINEATED, PLAUSIBILITY
from ecgxai.evaluate.randomisation import RANDOMISATION
from ecgxai.evaluate.robustness import MAX_SENSITIVITY

#: The registry, in table column order.
FAMILIES: tuple[MetricFamily, ...] = (
    PLAUSIBILITY, DELINEATED, DELETION, RANKING, CORRELATION, ROAD, LOCALISATION, MASK_RELEVANCE,
    MAX_SENSITIVITY, RANDOMISATION,
)
#: Opt-in families (``extra_metrics`` names), as each re-explains the record.
EXTRA_METRICS: dict[str, MetricFamily] = {f.name: f for f in FAMILIES if f.group == "extra"}
#: Every reported score, in table order.
METRICS: tuple[Metric, ...] = tuple(m for f in FAMILIES for m in f.metrics)
#: The columns holding each family's model evaluations.
COST_COLUMNS: tuple[str, ...] = tuple(f.cost_column for f in FAMILIES if f.cost_column)
#: The scores short tables, figures and the report's first screen show.
KEY_METRICS: tuple[str, ...] = tuple(m.column for m in METRICS if m.key)
#: The scores read off ranking curves (on the ``ranking_scale``): flat where a probability-scale
#: model is saturated.
RANKING_METRICS: frozenset[str] = frozenset(m.column for f in FAMILIES if f.group == "ranking"
                                            for m in f.metrics)


def metric(column: str) -> Metric:
    """The record of the score in ``column`` (also for its ``random_`` baseline column)."""
    name = column.removeprefix("random_")
    for found in METRICS:
        if found.column == name:
            return found
    raise ConfigurationError(f"no metric {column!r}; known: {[m.column for m in METRICS]}")


def check_extra_metrics(names: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The opt-in families asked for, refusing unknown names."""
    chosen = (names,) if isinstance(names, str) else tuple(names)
    unknown = sorted(set(chosen) - set(EXTRA_METRICS))
    if unknown:
        raise ConfigurationError(f"unknown extra metrics {unknown}; choose from {list(EXTRA_METRICS)}")
    return chosen
