"""Metric figures (Matplotlib, SVG first): per-class box plots of an evaluation table,
MoRF/LeRF/insertion curves against their random baseline, and the bar charts of a method
comparison (:func:`plot_method_comparison`).

The table is the one ``ecgxai evaluate`` writes (columns ``METRIC_COLUMNS`` of
:mod:`ecgxai.evaluate.evaluator`), optionally with the stability columns of
:func:`ecgxai.evaluate.stability.run_extra_beat_stability_experiment` (``spearman``,
``jaccard_at_k``, ``rbo``). Curves are the dicts :func:`ecgxai.evaluate.faithfulness.ranking_curves`
and :func:`~ecgxai.evaluate.faithfulness.random_ranking_curves` return, or the
``{"explanation": ..., "random": ...}`` pairs of ``evaluate_payload(..., curves=True)["ranking_curves"]``.
A comparison table is the one :func:`ecgxai.evaluate.compare.comparison_table` returns.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.compare import ALL_CLASSES
from ecgxai.evaluate.localisation_benchmark import SCORES
from ecgxai.evaluate.metrics import KEY_METRICS, METRICS
from ecgxai.explain.run_folder import COMPARISON_FIGURE, LOCALISATION_FIGURE
from ecgxai.report.figure import ReportFigure

#: Metrics :func:`plot_metric_boxes` draws by default (those present in the table).
BOX_METRICS = (
    "strict_attauc", "lenient_attauc", "faithfulness_gain", "deletion_auc", "morf_auc", "lerf_auc",
    "insertion_auc", "lerf_morf_gap", "spearman", "jaccard_at_k", "rbo",
)
#: Panel titles: each registered metric's name and direction, and the stability experiment's scores.
METRIC_TITLES = {
    **{m.column: f"{m.label} ({m.direction})" for m in METRICS},
    "spearman": "stability: Spearman",
    "jaccard_at_k": "stability: Jaccard@K",
    "rbo": "stability: rank-biased overlap",
}
#: Chance or no-effect levels drawn as dashed lines: the registered metrics' fixed chance levels.
REFERENCE_LEVELS = {m.column: float(m.chance) for m in METRICS if isinstance(m.chance, int | float)}
CURVE_KINDS = {
    "morf": "MoRF: most relevant deleted first (lower = faithful)",
    "lerf": "LeRF: least relevant deleted first (higher = faithful)",
    "insertion": "insertion: most relevant kept first (higher = faithful)",
}


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
BASELINE_LABEL = "random baseline"
BASELINE_COLOUR = "#9e9e9e"
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
            "#bcbd22", "#393b79")


#: Metadata that keeps Matplotlib from stamping the date (with a fixed SVG id salt, the same
#: figure gives the same file).
_NO_DATE = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


class MetricFigure(ReportFigure):
    """A Matplotlib figure with the ecgxai figure interface; ``figure`` is the Matplotlib Figure."""

    def __init__(self, figure: Figure) -> None:
        self.figure = figure

    def to_svg(self) -> str:
        """SVG text of the figure."""
        buffer = io.StringIO()
        with rc_context({"svg.hashsalt": "ecgxai"}):  # element ids from content, not random
            self.figure.savefig(buffer, format="svg", bbox_inches="tight", metadata=_NO_DATE["svg"])
        return buffer.getvalue()

    def _write_binary(self, path: Path, fmt: str, dpi: float) -> None:
        self.figure.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_NO_DATE[fmt])


def _axes_grid(n: int, ncols: int, size: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    """A Figure (no pyplot state) with ``n`` axes in rows of ``ncols``; unused cells removed."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    figure = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = list(figure.subplots(nrows, ncols, squeeze=False).ravel())
    for extra in axes[n:]:
        extra.remove()
    return figure, axes[:n]


# --- box plots of an evaluation table ------------------------------------------------------------


def _usable_rows(table: pd.DataFrame, by: str, hue: str) -> pd.DataFrame:
    missing = [c for c in (by, hue) if c not in table.columns]
    if missing:
        raise ConfigurationError(f"the table lacks columns {missing} to group by; has {list(table.columns)}")
    rows = table[table["error"].isna()] if "error" in table.columns else table
    return rows[rows[by].notna() & rows[hue].notna()]


def baseline_values(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The ``random_<metric>`` baseline as a ``metric`` column, one row per record and class
    (the baseline is the same for every method explaining the same record and class)."""
    keys = [c for c in ("record", "meta_code") if c in rows.columns]
    unique = rows.drop_duplicates(keys) if keys else rows
    return unique.drop(columns=[metric]).rename(columns={f"random_{metric}": metric})


def _draw_boxes(ax: Axes, series: Sequence[tuple[str, pd.DataFrame]], metric: str, by: str,
                groups: Sequence[Any], colours: Mapping[str, str]) -> None:
    """One box per (group, series) side by side, its values as dots; groups along the x axis."""
    width = 0.8 / len(series)
    for g, group in enumerate(groups):
        for s, (name, rows) in enumerate(series):
            values = rows.loc[rows[by] == group, metric].dropna().to_numpy(dtype=float)
            if len(values) == 0:
                continue
            position = g - 0.4 + width * (s + 0.5)
            boxes = ax.boxplot([values], positions=[position], widths=width * 0.85, patch_artist=True,
                               showfliers=False, manage_ticks=False)
            for patch in boxes["boxes"]:
                patch.set(facecolor=colours[name], alpha=0.6)
            for line in boxes["medians"]:
                line.set(color="black")
            ax.scatter(np.full(len(values), position), values, s=10, color=colours[name], edgecolors="black",
                       linewidths=0.4, zorder=3)
    if metric in REFERENCE_LEVELS:
        ax.axhline(REFERENCE_LEVELS[metric], color="#555555", linestyle="--", linewidth=0.8)
    ax.set_xticks(range(len(groups)), [str(g) for g in groups], rotation=20, ha="right")
    ax.set_title(METRIC_TITLES.get(metric, metric), fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def plot_metric_boxes(
    table: pd.DataFrame,
    metrics: Sequence[str] = BOX_METRICS,
    by: str = "class_name",
    hue: str = "method",
    *,
    baseline: bool = True,
    ncols: int = 3,
    title: str | None = None,
) -> MetricFigure:
    """Box plots of each metric per ``by`` group (x axis), one box per ``hue`` value.

    Metrics absent from the table or all NaN are left out; rows with an ``error`` are
    ignored. With ``baseline``, a metric that has a ``random_<metric>`` column (MoRF,
    LeRF, insertion, gap) also gets a grey box of that random-attribution baseline.
    """
    rows = _usable_rows(table, by, hue)
    present = [m for m in metrics if m in rows.columns and rows[m].notna().any()]
    if not present:
        raise ConfigurationError(f"none of the metrics {list(metrics)} has values in the table "
                                 f"(columns {list(table.columns)}, {len(rows)} usable rows)")
    hues = [str(h) for h in dict.fromkeys(rows[hue])]
    colours = {h: _PALETTE[i % len(_PALETTE)] for i, h in enumerate(hues)} | {BASELINE_LABEL: BASELINE_COLOUR}
    groups = sorted(dict.fromkeys(rows[by]), key=str)
    figure, axes = _axes_grid(len(present), ncols, (4.2, 3.4))
    with_baseline = False
    for ax, metric in zip(axes, present, strict=True):
        series = [(h, rows[rows[hue].astype(str) == h]) for h in hues]
        if baseline and f"random_{metric}" in rows.columns and rows[f"random_{metric}"].notna().any():
            series.append((BASELINE_LABEL, baseline_values(rows, metric)))
            with_baseline = True
        _draw_boxes(ax, series, metric, by, groups, colours)
    shown = hues + ([BASELINE_LABEL] if with_baseline else [])
    figure.legend(handles=[Patch(facecolor=colours[h], alpha=0.6, label=h) for h in shown],
                  loc="outside lower center", ncols=min(len(shown), 5), title=hue)
    figure.suptitle(title or f"metrics per {by.replace('_', ' ')} ({len(rows)} explanations)")
    return MetricFigure(figure)


# --- MoRF / LeRF / insertion curves ---------------------------------------------------------------


CurveResult = Mapping[str, Any]


def _as_list(curves: CurveResult | Sequence[CurveResult]) -> list[CurveResult]:
    return [curves] if isinstance(curves, Mapping) else list(curves)


def _split_pairs(curves: Mapping[str, CurveResult | Sequence[CurveResult]],
                 baseline: CurveResult | Sequence[CurveResult] | None,
                 ) -> tuple[dict[str, list[CurveResult]], list[CurveResult]]:
    """Per label its ranking-curve results; the random baseline from ``baseline`` and from any
    ``{"explanation", "random"}`` pairs."""
    methods: dict[str, list[CurveResult]] = {}
    randoms = _as_list(baseline) if baseline is not None else []
    for label, items in curves.items():
        for item in _as_list(items):
            if "explanation" in item:
                methods.setdefault(str(label), []).append(item["explanation"])
                randoms.append(item["random"])
            else:
                methods.setdefault(str(label), []).append(item)
    return methods, _distinct(randoms)


def _distinct(results: Sequence[CurveResult]) -> list[CurveResult]:
    """Results with equal curves kept once (methods evaluated on the same record share one baseline)."""
    seen: dict[tuple, CurveResult] = {}
    for result in results:
        key = tuple(tuple(map(float, result[f"{kind}_curve"])) for kind in CURVE_KINDS)
        seen.setdefault(key, result)
    return list(seen.values())


def mean_curve(results: Sequence[CurveResult], kind: str,
               normalise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(fractions, mean curve) of one kind over several results, each divided by its ``p0`` when
    ``normalise`` (then the area over the steps, divided by the last step, is the ``*_auc``;
    a result with ``p0`` = 0 is left out, as its AUC is NaN)."""
    fractions = np.asarray(results[0]["fractions"], dtype=float)
    rows = []
    for result in results:
        if not np.allclose(result["fractions"], fractions):
            raise ConfigurationError(f"curves have different steps: {list(fractions)} and "
                                     f"{list(result['fractions'])}")
        curve = np.asarray(result[f"{kind}_curve"], dtype=float)
        scale = float(result["p0"]) if normalise else 1.0
        rows.append(curve / scale if scale > 0 else np.full_like(curve, np.nan))
    return fractions, np.nanmean(rows, axis=0)


def _curve_label(label: str, results: Sequence[CurveResult], kind: str) -> str:
    auc = np.nanmean([float(r[f"{kind}_auc"]) for r in results])
    return f"{label} (AUC {auc:.2f}, n={len(results)})"


def plot_deletion_curves(
    curves: Mapping[str, CurveResult | Sequence[CurveResult]],
    *,
    baseline: CurveResult | Sequence[CurveResult] | None = None,
    kinds: Sequence[str] = tuple(CURVE_KINDS),
    normalise: bool = True,
    title: str | None = None,
) -> MetricFigure:
    """MoRF, LeRF and insertion curves per method, with the random-attribution baseline dashed.

    ``curves`` maps a method label to one result of ``ranking_curves`` (or a list, averaged),
    or to ``evaluate_payload(..., curves=True)["ranking_curves"]`` pairs whose random part
    joins the baseline. With ``normalise`` each curve is divided by its unperturbed
    probability ``p0``; legends give the mean normalised AUC of the table's columns.
    """
    unknown = [k for k in kinds if k not in CURVE_KINDS]
    if unknown or not kinds:
        raise ConfigurationError(f"kinds must be among {list(CURVE_KINDS)}, got {list(kinds)}")
    methods, randoms = _split_pairs(curves, baseline)
    if not methods:
        raise ConfigurationError("plot_deletion_curves needs the curves of at least one method")
    figure, axes = _axes_grid(len(kinds), len(kinds), (4.2, 3.4))
    for ax, kind in zip(axes, kinds, strict=True):
        for i, (label, results) in enumerate(methods.items()):
            x, y = mean_curve(results, kind, normalise)
            ax.plot(x, y, marker="o", markersize=3, color=_PALETTE[i % len(_PALETTE)],
                    label=_curve_label(label, results, kind))
        if randoms:
            x, y = mean_curve(randoms, kind, normalise)
            ax.plot(x, y, linestyle="--", color=BASELINE_COLOUR,
                    label=_curve_label(BASELINE_LABEL, randoms, kind))
        ax.set_title(CURVE_KINDS[kind], fontsize=10)
        ax.set_xlabel("fraction of lead x cell regions changed")
        ax.set_ylabel("probability / p0" if normalise else "probability")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle(title or "ranking curves of the explained class")
    return MetricFigure(figure)


# --- a method comparison ----------------------------------------------------------------------------


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
    if shown:  # bars start at the decade below the cheapest, so close costs do not look far apart
        ax.set_yscale("log")
        ax.set_ylim(bottom=10.0 ** math.floor(math.log10(min(cost for _, cost in shown))))
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
    colours = {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(methods)}
    classes = _comparison_classes(table)
    figure, axes = _axes_grid(len(present) + 1, ncols, (4.2, 3.2))
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
