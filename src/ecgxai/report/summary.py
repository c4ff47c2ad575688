"""The report's first screen in words: for each question (most faithful, closest to clinical
regions, finds the planted evidence) the method that answers it against its chance level, and
each method's cost per record.

Metric names, directions and chance levels come from the registry
(:mod:`ecgxai.evaluate.metrics`). The method named is the one furthest beyond its own chance level
(methods of different resolutions have different random maps; without chance levels, the best
value). No method is named when every method reads the same, when the best does not beat its
chance level, or, for the ranking metrics, when most explanations were
scored on the probability scale of a saturated model (p > 0.99), where those curves are flat:
the answer says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ecgxai.evaluate.compare import ALL_CLASSES
from ecgxai.evaluate.context import Metric
from ecgxai.evaluate.metrics import RANKING_METRICS, metric
from ecgxai.report.comparison import stated_cost


@dataclass(frozen=True)
class Question:
    """A question the first screen answers, and the registered metric that answers it."""

    text: str
    column: str


QUESTIONS = (
    Question("Most faithful on this model", "morf_auc"),
    Question("Closest to clinical regions", "strict_attauc"),
    Question("Finds the planted evidence", "gt_auroc"),
)
#: A ranking metric names no method when more than this share of the explanations is saturated.
SATURATED_SHARE = 0.5
HEADER = ("question", "answer", "each method (chance level)", "metric")


@dataclass(frozen=True)
class Saturation:
    """How many explanations were scored on the probability scale with p > 0.99, of how many evaluated."""

    saturated: int
    evaluated: int

    @property
    def dominant(self) -> bool:
        """Whether most explanations are saturated."""
        return self.evaluated > 0 and self.saturated > SATURATED_SHARE * self.evaluated


def overall_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A comparison table's rows over all classes, indexed by method."""
    return table[table["meta_code"].astype(str) == ALL_CLASSES].set_index("method")


def figure_metric(table: pd.DataFrame) -> str | None:
    """The metric the first screen's figure draws: the first question's that has a value."""
    return next((q.column for q in QUESTIONS if q.column in table and table[q.column].notna().any()), None)


def chance_level(row: pd.Series, m: Metric) -> float:
    """A row's chance level of a metric: its random baseline, its chance column, or its fixed level."""
    column = m.baseline_column or (m.chance if isinstance(m.chance, str) else None)
    if column is not None:
        return float(row.get(column, math.nan))
    return math.nan if m.chance is None else float(m.chance)


def value_text(value: float, chance: float) -> str:
    """A value with its chance level in brackets (when it has one)."""
    return f"{value:.3f}" + ("" if math.isnan(chance) else f" (chance {chance:.3f})")


def metric_words(m: Metric) -> str:
    """A metric written out: name, direction and chance level."""
    return f"{m.label}; {m.direction}; chance: {m.chance_text}"


def _beats(m: Metric, value: float, chance: float) -> bool:
    return math.isnan(chance) or (value > chance if m.higher_is_better else value < chance)


def _furthest_beyond_chance(values: pd.Series, chances: pd.Series, m: Metric) -> str:
    """The method whose value is furthest beyond its chance level (the best value when a method has none)."""
    better = values if m.higher_is_better else -values
    if chances.isna().any():
        return str(better.idxmax())
    return str((better - (chances if m.higher_is_better else -chances)).idxmax())


def verdict(values: pd.Series, chances: pd.Series, m: Metric, saturation: Saturation) -> str:
    """The method answering the question with its value and chance level, or why none is named."""
    if len(values) > 1 and len({f"{v:.3f}" for v in values}) == 1:
        return f"no difference: every method reads {values.iloc[0]:.3f}"
    if m.column in RANKING_METRICS and saturation.dominant:
        return (f"not decided: {saturation.saturated} of {saturation.evaluated} explanations are of a "
                "saturated model (p > 0.99), where probability-scale curves are flat (evaluate with "
                "--ranking-scale logit)")
    best = _furthest_beyond_chance(values, chances, m)
    if not _beats(m, values[best], chances[best]):
        return f"none beats chance: the best, {best}, reads {value_text(values[best], chances[best])}"
    only = " (the only method)" if len(values) == 1 else ""
    return f"{best}{only}: {value_text(values[best], chances[best])}"


def question_row(rows: pd.DataFrame, question: Question, saturation: Saturation) -> list[str] | None:
    """A question's row of the first screen's table (None when no method has its metric)."""
    if question.column not in rows:
        return None
    values = rows[question.column].dropna()
    if values.empty:
        return None
    m = metric(question.column)
    chances = pd.Series({method: chance_level(rows.loc[method], m) for method in values.index}, dtype=float)
    each = " · ".join(f"{method} {value_text(values[method], chances[method])}" for method in values.index)
    return [question.text, verdict(values, chances, m, saturation), each, metric_words(m)]


def cost_text(value: float) -> str:
    """A cost in three significant digits, whole numbers from 1,000 on (not 2.11e+03)."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def cost_row(rows: pd.DataFrame) -> list[str] | None:
    """Each method's cost per record (:func:`~ecgxai.report.comparison.stated_cost`) and model evaluations."""
    cost = stated_cost(rows)
    costs = rows[cost.column].dropna() if cost.column in rows else pd.Series(dtype=float)
    if costs.empty:
        return None
    cheapest = costs.idxmin()
    evaluations = rows["evaluations_per_record"]
    each = " · ".join(f"{method} {cost_text(value)} {cost.unit} ({evaluations[method]:.0f} model evaluations)"
                      for method, value in costs.items())
    return ["Cost per record", f"cheapest: {cheapest} ({cost_text(costs[cheapest])} {cost.unit})", each,
            f"{cost.name}: {cost.meaning}; lower is cheaper"]


def summary_rows(table: pd.DataFrame, saturation: Saturation) -> list[list[str]]:
    """The first screen's table: one row per question a metric of the table answers, then the cost."""
    rows = overall_rows(table)
    found = [question_row(rows, question, saturation) for question in QUESTIONS] + [cost_row(rows)]
    return [row for row in found if row is not None]
