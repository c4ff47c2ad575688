"""The method-comparison figure: per metric, one bar per method in each class group with its random
baseline dashed across the bar, and each method's cost per record (log scale).

A comparison table is the one :func:`ecgxai.evaluate.compare.comparison_table` returns; a localisation
table (:mod:`ecgxai.evaluate.localisation_benchmark`) is drawn the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.compare import ALL_CLASSES
from ecgxai.evaluate.localisation_benchmark import SCORES
from ecgxai.evaluate.metrics import KEY_METRICS
from ecgxai.explain.run_folder import COMPARISON_FIGURE, LOCALISATION_FIGURE
from ecgxai.report.figure import PALETTE, MetricFigure, axes_grid
from ecgxai.report.metrics import BASELINE_LABEL, METRIC_TITLES, REFERENCE_LEVELS


@dataclass(frozen=True)
class Cost:
    """A cost column of a comparison table: its unit, name, and what it measures."""

    column: str
    unit: str
    name: str
    meaning: str


#: The costs a comparison table states, preferred first: forward-pass equivalents need the run to have
#: timed one forward pass.
COSTS = (
    Cost("forward_equivalents_per_record", "forward passes", "forward-pass equivalents",
         "explanation seconds / seconds of one record's forward pass"),
    Cost("seconds_per_record", "s", "seconds", "explanation seconds (this run timed no forward pass)"),
)


def _fmt_count(value: float) -> str:
    return "?" if not math.isfinite(value) else str(int(value))


def _comparison_value(indexed: pd.DataFrame, method: str, code: str, column: str) -> float:
    """One cell of a comparison table indexed by (method, meta_code); NaN when absent."""
    try:
        return float(indexed.loc[(method, code), column])
    except KeyError:
        return math.nan


def _comparison_classes(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(code, tick label) of the table's classes: ``all`` first, then the classes in table order."""
    names = dict(zip(table["meta_code"].astype(str), table["class_name"].astype(str), strict=True))
    codes = sorted(names, key=lambda code: code != ALL_CLASSES)
    return [(code, names[code]) for code in codes]


def _draw_metric_bars(ax: Axes, indexed: pd.DataFrame, metric: str, methods: Sequence[str],
                      classes: Sequence[tuple[str, str]], colours: Mapping[str, str]) -> None:
    """One bar per method in each class group, each with its own random baseline (a random map of
    the method's resolution) as a dashed tick across the bar (or the metric's chance level as a grey
    line when it has no baseline)."""
    width = 0.8 / len(methods)
    with_baseline = False
    for g, (code, _) in enumerate(classes):
        for s, method in enumerate(methods):
            centre = g - 0.4 + width * (s + 0.5)
            value = _comparison_value(indexed, method, code, metric)
            if math.isfinite(value):
                ax.bar(centre, value, width * 0.9, color=colours[method])
            chance = _comparison_value(indexed, method, code, f"random_{metric}")
            if math.isfinite(chance):
                ax.hlines(chance, centre - width / 2, centre + width / 2, colors="black", linestyles="--",
                          linewidth=1.2, zorder=3)
                with_baseline = True
    if not with_baseline and metric in REFERENCE_LEVELS:
        ax.axhline(REFERENCE_LEVELS[metric], color="#888888", linewidth=0.8)
    ax.axhline(0.0, color="#555555", linewidth=0.5)
    ax.set_xticks(range(len(classes)), [label for _, label in classes], rotation=20, ha="right")
    ax.set_title(METRIC_TITLES.get(metric, metric), fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def stated_cost(table: pd.DataFrame) -> Cost:
    """The first of :data:`COSTS` the table has values of (the first when none)."""
    return next((c for c in COSTS if c.column in table and table[c.column].notna().any()), COSTS[0])


def _draw_cost_bars(ax: Axes, indexed: pd.DataFrame, methods: Sequence[str],
                    colours: Mapping[str, str]) -> None:
    """Each method's cost per record over all classes (:func:`stated_cost`), on a log scale."""
    cost_of = stated_cost(indexed)
    costs = [_comparison_value(indexed, m, ALL_CLASSES, cost_of.column) for m in methods]
    shown = [(i, cost) for i, cost in enumerate(costs) if math.isfinite(cost) and cost > 0]
    for i, cost in shown:
        ax.bar(i, cost, 0.8, color=colours[methods[i]])
        ax.annotate(f"{cost:.3g}", (i, cost), ha="center", va="bottom", fontsize=7)
    if shown:  # bars start at the decade below the cheapest, so close costs do not look far apart,
        # and end half a decade above the dearest, so its label stays inside the frame
        ax.set_yscale("log")
        values = [cost for _, cost in shown]
        ax.set_ylim(bottom=10.0 ** math.floor(math.log10(min(values))), top=max(values) * 10**0.5)
    else:
        ax.text(0.5, 0.5, "no cost measured", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(range(len(methods)), list(methods), rotation=30, ha="right")
    ax.set_title(f"cost: {cost_of.name} per record (log)", fontsize=10)
    ax.grid(axis="y", alpha=0.3, which="both")


def plot_method_comparison(
    table: pd.DataFrame,
    metrics: Sequence[str] = KEY_METRICS,
    *,
    ncols: int = 4,
    title: str | None = None,
) -> MetricFigure:
    """Small multiples of a comparison table: per metric, one bar per method in each class group
    (``all`` first) with its random baseline dashed across the bar; and one panel of each
    method's cost per record (over all classes, log scale): forward-pass equivalents, or seconds
    when the run timed no forward pass.

    Metrics absent from the table or without a value for any method are left out.
    """
    missing = [c for c in ("method", "meta_code", "class_name") if c not in table.columns]
    if missing:
        raise ConfigurationError(f"not a comparison table: no columns {missing}")
    table = table.assign(meta_code=table["meta_code"].astype(str))
    methods = [str(m) for m in dict.fromkeys(table["method"])]
    present = [m for m in metrics if m in table.columns and table[m].notna().any()]
    if not methods or not present:
        raise ConfigurationError(f"the comparison table has no method with values of {list(metrics)}")
    indexed = table.set_index(["method", "meta_code"])
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}
    classes = _comparison_classes(table)
    figure, axes = axes_grid(len(present) + 1, ncols, (4.2, 3.2))
    for ax, metric in zip(axes, present, strict=False):
        _draw_metric_bars(ax, indexed, metric, methods, classes, colours)
    _draw_cost_bars(axes[-1], indexed, methods, colours)
    handles = [Patch(facecolor=colours[m], label=m) for m in methods]
    handles.append(Line2D([], [], color="black", linestyle="--", label=f"{BASELINE_LABEL} (same resolution)"))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), title="method")
    pairs = table.loc[table["meta_code"] == ALL_CLASSES, "n"].max() if "n" in table else math.nan
    figure.suptitle(title or f"method comparison: {len(methods)} methods, up to {_fmt_count(pairs)} "
                    "record x class pairs each")
    return MetricFigure(figure)


def save_method_comparison(table: pd.DataFrame, out_dir: str | Path) -> Path:
    """Draw :func:`plot_method_comparison` of ``table`` into ``OUT_DIR/comparison.svg``; its path."""
    return plot_method_comparison(table).save(Path(out_dir) / COMPARISON_FIGURE)


def plot_localisation(table: pd.DataFrame) -> MetricFigure:
    """:func:`plot_method_comparison` of a localisation table: each score with its chance level, classes
    by abbreviation."""
    shown = table.assign(class_name=table["class"], random_gt_top_hit=table["gt_top_hit_chance"])
    title = f"localisation of planted evidence: {table['method'].nunique()} methods"
    return plot_method_comparison(shown, [score for score, _ in SCORES], ncols=3, title=title)


def save_localisation_figure(table: pd.DataFrame, out_dir: str | Path) -> Path:
    """Draw :func:`plot_localisation` of ``table`` into ``OUT_DIR/localisation.svg``; its path."""
    return plot_localisation(table).save(Path(out_dir) / LOCALISATION_FIGURE)
