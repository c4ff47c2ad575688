"""ECG figures of explanations, drawn with ``ecg_plot`` (the original toolkit's ``plot_from_payload``).

The record is an ``ecg_plot`` chart at physical scale (25 mm/s, 10 mm/mV) on ECG paper.
Each explanation span ``(start_sec, end_sec, weight)`` becomes a rectangle over its time
range on its own lead's panel, placed with the chart's panel geometry (``chart.panels``,
millimetres) and drawn into the chart's own scene, under the trace: red for evidence for
the class (weight > 0), blue against, opacity growing with ``|weight|`` relative to the
payload's largest ``|weight|``. The SVG marks span rectangles with ``class="ecgxai-span"``.

An explanation with its whole attribution map also gets a colour band along the foot of every
lead's panel: one cell per segment of the map (per :data:`BAND_BIN_SEC` of samples for a
sample-level map), red for the class and blue against, opacity by ``|value|`` relative to the
map's cells (full at their 98th percentile), so it shows on which beats and waves of every lead
the evidence lies, not only the top spans. Band cells are marked ``class="ecgxai-band"``.

About 480 lines on purpose: the two figures (one explanation, several of one record) share the chart
class, the shading and the layout helpers; split, each half would import the other's private parts.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ecg_plot.chart import STANDARD_LEADS, ECGChart, Style
from ecg_plot.data import normalize

from ecgxai.classes import class_name
from ecgxai.errors import ConfigurationError, LeadMismatchError, RecordNotFoundError, UnknownClassError
from ecgxai.explain.attribution import Attribution, cell_bounds, sum_per_segment
from ecgxai.explain.payload import Explanation, Span, lead_masses, top_leads
from ecgxai.io.records import Record, read_record, record_base, resolve_record_path
from ecgxai.report.figure import ReportFigure

#: Shade colour of spans with positive weight (evidence for the class) ...
FOR_COLOUR = "#d62728"
#: ... and with negative weight (evidence against it).
AGAINST_COLOUR = "#1f77b4"
#: Colour of the emphasised (top-k) lead labels.
TOP_LEAD_COLOUR = "#6a1b9a"
#: Shade opacity of the smallest and of the largest ``|weight|``.
MIN_OPACITY, MAX_OPACITY = 0.12, 0.55
#: The ``class`` attribute of every span rectangle in the SVG ...
SPAN_CLASS = "ecgxai-span"
#: ... and of every cell of a map's colour band, its height (mm) and a sample-level map's cell (s).
BAND_CLASS, BAND_MM, BAND_BIN_SEC = "ecgxai-band", 3.0, 0.02
#: A band's full opacity is reached at this percentile of the map's |cells| (a few spiky cells
#: would otherwise leave the rest invisible); cells weaker than BAND_FLOOR of it are not drawn.
BAND_PERCENTILE, BAND_FLOOR = 98.0, 0.05
#: The ``class`` attribute of the merged grid paths (one per panel, line colour and direction).
GRID_CLASS = "ecgxai-grid"
#: Leads shown by :func:`plot_comparison` unless ``leads`` is given.
MAX_COMPARISON_LEADS = 4
_LEGEND_MM = 7.0  # extra height below the panels for the legend line
_CHAR_WIDTH = 0.55  # estimated text width per character, in font sizes


@dataclass(frozen=True)
class Shade:
    """One span to shade: on chart channel ``channel``, from ``start`` to ``end`` seconds."""

    channel: str
    start: float
    end: float
    opacity: float
    colour: str
    band: bool = False


@dataclass(frozen=True)
class LeadLabel:
    """The label drawn above a channel's panels; ``emphasised`` labels are bold and coloured."""

    text: str
    emphasised: bool = False


class ExplainedChart(ECGChart):
    """An ``ecg_plot`` chart that also draws explanation shades, its own lead labels and a legend.

    Everything extra is yielded into the chart's scene (millimetre geometry of
    ``self.panels``), so the SVG, PNG/PDF and Matplotlib outputs of ``ecg_plot`` all show it.
    This extends ``ECGChart._scene`` of ecg_plot 0.3 (a generator of ``(kind, panel, props)``);
    the tests read the shading back from the SVG, so a change there shows up at once.
    """

    def __init__(self, record: Any, *, shades: Sequence[Shade], labels: Mapping[str, LeadLabel],
                 legend: Sequence[tuple[str | None, str]], preview_points: int | None = None,
                 **options: Any) -> None:
        super().__init__(record, style=Style(lead_names=False), **options)
        self.preview_points = preview_points
        self.shades: dict[str, list[Shade]] = {}
        for shade in shades:
            self.shades.setdefault(shade.channel, []).append(shade)
        self.labels = dict(labels)
        self.legend = list(legend)
        self.height_mm += _LEGEND_MM

    def _scene(self, display_scale: float = 1.0, preview_points: int | None = None) -> Iterator[tuple]:
        shaded: set[int] = set()
        grid: dict[tuple, list[dict]] = {}
        colours = {self.style.minor_color, self.style.major_color}
        for kind, panel, props in super()._scene(display_scale, preview_points):
            if kind == "line" and panel is not None and props["stroke"] in colours:
                vertical = props["x1"] == props["x2"]
                grid.setdefault((panel, props["stroke"], props["width"], vertical), []).append(props)
                continue
            yield from merged_grid(grid)
            grid.clear()
            if kind == "path" and panel is not None and panel not in shaded:  # the panel's trace: shade first
                shaded.add(panel)
                yield from self._panel_shades(panel)
            yield kind, panel, props
        yield from merged_grid(grid)
        yield from self._lead_labels()
        yield from self._legend_items()

    def to_svg(self, *, width_mm: float | None = None, preview_points: int | None = None) -> str:
        """SVG text; traces keep every sample unless ``preview_points`` (or the chart's own) is set,
        in which case ecg_plot keeps each bucket's extrema (what a screen-sized picture shows)."""
        return super().to_svg(width_mm=width_mm, preview_points=preview_points or self.preview_points)

    def _panel_shades(self, index: int) -> Iterator[tuple]:
        panel = self.panels[index]
        for shade in self.shades.get(self.record.names[panel.lead], []):
            start, end = max(shade.start, panel.start), min(shade.end, panel.end)
            if end > start:
                height = min(BAND_MM, panel.height) if shade.band else panel.height
                yield ("rect", index, {
                    "x": panel.x + (start - panel.start) * self.speed, "y": panel.y + panel.height - height,
                    "width": (end - start) * self.speed, "height": height,
                    "fill": shade.colour, "opacity": round(shade.opacity, 4),
                    "class": BAND_CLASS if shade.band else SPAN_CLASS,
                })

    def _lead_labels(self) -> Iterator[tuple]:
        size = self.style.font_size
        for panel in self.panels:
            name = self.record.names[panel.lead]
            label = self.labels.get(name, LeadLabel(name))
            yield ("text", None, {
                "x": panel.x, "y": panel.y - 1, "text": label.text, "size": size,
                "fill": TOP_LEAD_COLOUR if label.emphasised else "black",
                "font-weight": "bold" if label.emphasised else "normal",
            })

    def _legend_items(self) -> Iterator[tuple]:
        size = self.style.font_size * 0.85
        x = min(panel.x for panel in self.panels)
        y = max(panel.y + panel.height for panel in self.panels) + 10
        for colour, text in self.legend:
            if colour is not None:
                yield ("rect", None, {"x": x, "y": y - size, "width": size, "height": size,
                                      "fill": colour, "opacity": MAX_OPACITY})
                x += size + 1
            yield ("text", None, {"x": x, "y": y, "text": text, "fill": "black", "size": size})
            x += len(text) * size * _CHAR_WIDTH + 4


def merged_grid(grid: Mapping[tuple, Sequence[Mapping[str, float]]]) -> Iterator[tuple]:
    """Each (panel, colour, width, direction) group of grid lines as one zig-zag path.

    ecg_plot draws ~300 separate grid lines per panel; one path per group draws the same
    lines (the joins run along the panel's edge) and renders to PNG about three times faster.
    """
    for (panel, stroke, width, _), lines in grid.items():
        points = []
        for i, line in enumerate(lines):
            ends = [(line["x1"], line["y1"]), (line["x2"], line["y2"])]
            points.extend(ends[::-1] if i % 2 else ends)
        yield ("path", panel, {"points": np.asarray(points, dtype=float), "stroke": stroke, "width": width,
                               "class": GRID_CLASS})


class ExplanationFigure(ReportFigure):
    """An explanation drawn over its ECG; ``chart`` is the underlying ``ecg_plot`` chart.

    ``record`` is the ecgxai :class:`~ecgxai.io.records.Record` shown and ``explanations``
    the payloads drawn (one for :func:`plot_from_payload`, several for :func:`plot_comparison`).
    In Jupyter the figure is shown scaled to the cell width; files keep the physical size.
    """

    def __init__(self, chart: ExplainedChart, record: Record, explanations: Sequence[Explanation]) -> None:
        self.chart = chart
        self.record = record
        self.explanations = list(explanations)

    def to_svg(self) -> str:
        """SVG text at physical size (millimetres)."""
        return self.chart.to_svg()

    def _write_binary(self, path: Path, fmt: str, dpi: float) -> None:
        try:
            self.chart.save(path, dpi=dpi)
        except ImportError as exc:
            raise ConfigurationError(f"{path}: {fmt.upper()} export needs CairoSVG, Pillow and the Cairo "
                                     f"library ({exc}); save as .svg instead") from exc

    def _repr_svg_(self) -> str:
        root = ET.fromstring(self.to_svg())
        root.set("width", "100%")
        root.attrib.pop("height", None)
        return ET.tostring(root, encoding="unicode")


# --- records and leads ---------------------------------------------------------------------------


def load_payload_record(explanation: Explanation, record: Record | str | Path | None = None,
                        data_root: str | Path | None = None) -> Record:
    """The record an explanation is drawn on: ``record`` when given (a Record or a path), else the
    payload's ``mat_path`` (a relative path starts from ``data_root``, default ``config.DATA_ROOT``)."""
    if isinstance(record, Record):
        return record
    path = record if record is not None else explanation.mat_path
    if not path:
        raise RecordNotFoundError(None, "the payload has no mat_path; pass record= (a Record or a path)")
    return read_record(resolve_record_path(path, data_root))


def check_payload_leads(explanation: Explanation, record: Record) -> None:
    """Raise LeadMismatchError when the payload names leads (spans, top leads) the record lacks."""
    named = [*explanation.leads, *explanation.top5_leads]
    missing = sorted(set(named) - set(record.lead_names))
    if missing:
        what = explanation.method_label or "payload"
        raise LeadMismatchError(record.path, f"the explanation ({what}) names leads {missing} that the "
                                f"record does not have {list(record.lead_names)}")


def ranked_leads(explanation: Explanation, k: int) -> list[str]:
    """The ``k`` leads to emphasise: the payload's ``top5_leads`` order, extended by ``lead_scores``,
    then by span mass (duration x |weight|) when ``k`` asks for more."""
    if k < 0:
        raise ConfigurationError(f"topk must be >= 0, got {k}")
    n = len(explanation.perlead_spans) + len(explanation.lead_scores)
    order = [*explanation.top5_leads, *top_leads(explanation.lead_scores, n),
             *top_leads(lead_masses(explanation.perlead_spans), n)]
    return list(dict.fromkeys(order))[:k]


def _chart_record(signals: np.ndarray, fs: float, names: Sequence[str]) -> Any:
    """``ecg_plot``'s record from (time, channels) mV signals."""
    return normalize(np.asarray(signals, dtype=float).T, sample_rate=fs, units="mV", lead_names=list(names))


def _window(explanation: Explanation, record: Record,
            window: tuple[float, float] | None) -> tuple[float, float] | None:
    """The time shown: ``window``, else the payload's page (what the model saw) within the record."""
    if window is not None:
        return window
    if explanation.page_seconds > 0:
        start = float(explanation.start_sec or 0.0)
        return start, min(start + float(explanation.page_seconds), record.duration_sec)
    return None


# --- shades, labels, titles ----------------------------------------------------------------------


def max_abs_weight(explanation: Explanation) -> float:
    """The largest ``|weight|`` over all of a payload's spans (0 without spans)."""
    return max((abs(w) for spans in explanation.perlead_spans.values() for _, _, w in spans), default=0.0)


def shade_opacity(weight: float, max_weight: float) -> float:
    """Opacity from ``MIN_OPACITY`` to ``MAX_OPACITY``, linear in ``|weight| / max_weight``."""
    return MIN_OPACITY + (MAX_OPACITY - MIN_OPACITY) * min(abs(weight) / max_weight, 1.0)


def span_shades(channel: str, spans: Sequence[Span], max_weight: float) -> list[Shade]:
    """Shades of one lead's spans on ``channel``; spans of zero weight are not drawn."""
    return [Shade(channel, start, end, shade_opacity(w, max_weight), FOR_COLOUR if w > 0 else AGAINST_COLOUR)
            for start, end, w in spans if w != 0 and end > start]


def band_cells(attribution: Attribution, lead: str) -> list[tuple[float, float, float]]:
    """(start_sec, end_sec, value) cells of one lead's band, in record seconds: the map's segments, or
    :data:`BAND_BIN_SEC` bins of a sample-level map (each the sum of its samples)."""
    if lead not in attribution.lead_names:
        return []
    if attribution.resolution == "segment":
        bounds, values = attribution.segments, attribution.values
    else:
        bounds = cell_bounds(attribution.duration_sec, BAND_BIN_SEC, attribution.model_fs,
                             attribution.n_samples)
        bounds = bounds[bounds[:, 1] > bounds[:, 0]]
        values = sum_per_segment(attribution.values, bounds)
    column = values[:, attribution.lead_names.index(lead)]
    seconds = attribution.start_sec + bounds / attribution.model_fs
    return [(float(s), float(e), float(v)) for (s, e), v in zip(seconds, column, strict=True)]


def band_shades(channel: str, cells: Sequence[tuple[float, float, float]], max_value: float) -> list[Shade]:
    """Band shades of one lead's map cells (cells under :data:`BAND_FLOOR` of ``max_value`` left out)."""
    return [Shade(channel, start, end, shade_opacity(v, max_value), FOR_COLOUR if v > 0 else AGAINST_COLOUR,
                  band=True)
            for start, end, v in cells if max_value > 0 and abs(v) >= BAND_FLOOR * max_value and end > start]


def map_band_shades(explanation: Explanation, channels: Mapping[str, str]) -> list[Shade]:
    """Band shades of an explanation's map on the given {lead: chart channel}, opacity relative to the
    :data:`BAND_PERCENTILE` of the map's |cells| over all its leads; none without a map."""
    attribution = explanation.attribution
    if attribution is None:
        return []
    cells = {lead: band_cells(attribution, lead) for lead in attribution.lead_names}
    magnitudes = [abs(v) for found in cells.values() for _, _, v in found]
    largest = float(np.percentile(magnitudes, BAND_PERCENTILE)) if magnitudes else 0.0
    return [shade for lead, channel in channels.items() if lead in cells
            for shade in band_shades(channel, cells[lead], largest)]


def _scored_name(code: str | None) -> str:
    try:
        return class_name(code) if code else ""
    except UnknownClassError:
        return ""


def _class_text(explanation: Explanation) -> str:
    """``name (code)`` of the explained class, from whichever of label and code the payload has."""
    label = explanation.target_label
    code = explanation.target_code or (label if label.isdigit() else None)
    name = label if label and not label.isdigit() else _scored_name(code)
    return f"{name} ({code})" if name and code else name or code or "unknown class"


def _probability_text(explanation: Explanation) -> str:
    return "" if explanation.probability is None else f" · model p = {explanation.probability:.3f}"


def _legend(note: str) -> list[tuple[str | None, str]]:
    return [(FOR_COLOUR, "evidence for the class"), (AGAINST_COLOUR, "evidence against"), (None, note)]


def _default_layout(record: Record) -> str:
    """Limb and chest leads in two columns for a 12-lead record, else one column per lead group."""
    return "limb-chest" if set(record.lead_names) == set(STANDARD_LEADS) else "columns"


def _limb_chest_check(record: Record, layout: str) -> None:
    if layout in ("limb-chest", "12lead") and set(record.lead_names) != set(STANDARD_LEADS):
        raise LeadMismatchError(record.path, f"layout {layout!r} needs the twelve standard leads "
                                f"{list(STANDARD_LEADS)}, the record has {list(record.lead_names)}; "
                                "use layout='columns'")


# --- the figures ---------------------------------------------------------------------------------


def plot_from_payload(
    payload: Mapping[str, Any] | Explanation,
    topk: int = 5,
    show_all_leads: bool = False,
    *,
    record: Record | str | Path | None = None,
    data_root: str | Path | None = None,
    layout: str | None = None,
    window: tuple[float, float] | None = None,
    speed: float = 25.0,
    gain: float = 10.0,
    **chart_options: Any,
) -> ExplanationFigure:
    """Draw an explanation's spans over its 12-lead ECG.

    The record (``record=``, else the payload's ``mat_path`` under ``data_root``) is
    shown in mV at ``speed`` mm/s and ``gain`` mm/mV on ECG paper, limb leads and chest
    leads in two columns (``layout="limb-chest"``, the default for the twelve standard leads; a
    reduced lead set is drawn in ``"columns"``; any ``ecg_plot`` layout works, and
    ``chart_options`` such as ``time_mode`` or ``rhythm_lead`` go to ``ecg_plot.ECGChart``),
    over the payload's page (``window`` = (start, end) seconds to choose another).
    The ``topk`` leads of the payload (its ``top5_leads``, then ``lead_scores``) get bold
    labels with their rank; only they are shaded unless ``show_all_leads``.
    """
    explanation = Explanation.from_payload(payload)
    rec = load_payload_record(explanation, record, data_root)
    check_payload_leads(explanation, rec)
    layout = layout or _default_layout(rec)
    _limb_chest_check(rec, layout)
    top = ranked_leads(explanation, topk)
    largest = max_abs_weight(explanation)
    shades = [shade for lead, spans in explanation.perlead_spans.items()
              if show_all_leads or lead in top for shade in span_shades(lead, spans, largest)]
    shades += map_band_shades(explanation, {lead: lead for lead in rec.lead_names})
    labels = {lead: LeadLabel(f"{lead}  #{rank}", True) for rank, lead in enumerate(top, start=1)}
    note = (f"opacity ~ |weight| (max {largest:.3g}) · bold #n: top-{len(top)} leads"
            + ("" if show_all_leads else ", the only leads shaded")
            + (" · band: the whole map, every lead" if explanation.attribution is not None else ""))
    if explanation.attribution is not None:
        note += f" ({explanation.attribution.scale})"
    title = f"{rec.name} · {_class_text(explanation)} · {explanation.method_label or 'explanation'}" \
            + _probability_text(explanation)
    chart = ExplainedChart(_chart_record(rec.signal, rec.fs, rec.lead_names), shades=shades, labels=labels,
                           legend=_legend(note), title=title, layout=layout,
                           window=_window(explanation, rec, window), speed=speed, gain=gain, **chart_options)
    return ExplanationFigure(chart, rec, [explanation])


def _unique_labels(explanations: Sequence[Explanation]) -> list[str]:
    """Method labels, numbered where two payloads share one."""
    labels = [e.method_label or "payload" for e in explanations]
    return [f"{label} {labels[:i].count(label) + 1}" if labels.count(label) > 1 else label
            for i, label in enumerate(labels)]


def comparison_leads(rankings: Sequence[Sequence[str]], limit: int = MAX_COMPARISON_LEADS) -> list[str]:
    """Union of several top-lead rankings, best rank first (ties in payload order), at most ``limit``."""
    positions: dict[str, int] = {}
    for ranking in rankings:
        for position, lead in enumerate(ranking):
            positions[lead] = min(position, positions.get(lead, position))
    return sorted(positions, key=positions.__getitem__)[:limit]


def _shared_record(explanations: Sequence[Explanation], record: Record | str | Path | None,
                   data_root: str | Path | None) -> Record:
    if record is None:
        bases = {record_base(resolve_record_path(e.mat_path, data_root)).resolve()
                 for e in explanations if e.mat_path}
        if len(bases) > 1:
            raise ConfigurationError(f"the payloads explain different records {sorted(map(str, bases))}; "
                                     "compare payloads of one record or pass record=")
    return load_payload_record(explanations[0], record, data_root)


def plot_comparison(
    payloads: Sequence[Mapping[str, Any] | Explanation],
    *,
    record: Record | str | Path | None = None,
    leads: Sequence[str] | None = None,
    topk: int = 5,
    max_leads: int = MAX_COMPARISON_LEADS,
    data_root: str | Path | None = None,
    window: tuple[float, float] | None = None,
    speed: float = 25.0,
    gain: float = 10.0,
    **chart_options: Any,
) -> ExplanationFigure:
    """Several explanations of one record (e.g. LIME, TimeSHAP, fused, gradients) on the same leads.

    One row per lead and payload, grouped by lead, all on one time axis (one column,
    ``speed`` mm/s, ``gain`` mm/mV). ``leads`` default to the union of the payloads'
    ``topk`` leads, best ranks first, at most ``max_leads``. Each payload's shades are
    scaled to its own largest ``|weight|``; labels read ``lead · method`` and are bold
    (with the rank) where the lead is among that payload's top ``topk``.
    """
    explanations = [Explanation.from_payload(p) for p in payloads]
    if not explanations:
        raise ConfigurationError("plot_comparison needs at least one payload")
    rec = _shared_record(explanations, record, data_root)
    for explanation in explanations:
        check_payload_leads(explanation, rec)
    rankings = [ranked_leads(e, topk) for e in explanations]
    chosen = list(leads) if leads is not None else comparison_leads(rankings, max_leads)
    unknown = sorted(set(chosen) - set(rec.lead_names))
    if unknown or not chosen:
        raise LeadMismatchError(rec.path, f"leads to compare {unknown or chosen} are not among the record's "
                                f"leads {list(rec.lead_names)}")
    methods = _unique_labels(explanations)
    names, columns, shades, labels = [], [], [], {}
    for lead in chosen:
        for method, explanation, ranking in zip(methods, explanations, rankings, strict=True):
            name = f"{lead} · {method}"
            names.append(name)
            columns.append(rec.lead_names.index(lead))
            shades += span_shades(name, explanation.perlead_spans.get(lead, []), max_abs_weight(explanation))
            shades += map_band_shades(explanation, {lead: name})
            rank = f"  #{ranking.index(lead) + 1}" if lead in ranking else ""
            labels[name] = LeadLabel(name + rank, bool(rank))
    title = f"{rec.name} · {_class_text(explanations[0])} · " + " vs ".join(methods)
    note = f"opacity ~ |weight| / each method's max · bold #n: a method's top-{topk} leads"
    chart = ExplainedChart(_chart_record(rec.signal[:, columns], rec.fs, names), shades=shades, labels=labels,
                           legend=_legend(note), title=title, layout="stacked",
                           window=_window(explanations[0], rec, window), speed=speed, gain=gain,
                           **chart_options)
    return ExplanationFigure(chart, rec, explanations)

