"""Small pieces of the HTML report: escaping, number formatting, tables, embedded figures, anchors."""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from PIL import Image

from ecgxai.classes import class_name
from ecgxai.errors import ConfigurationError
from ecgxai.report.figure import ReportFigure

log = logging.getLogger(__name__)

#: ECG charts are embedded as PNG at this resolution, reduced to this many colours: a 12-lead
#: chart's SVG holds every sample (~2 MB), its PNG ~55 kB (1,139 px wide: the width the page shows;
#: at 72 dpi, 1,490 px, ~90 kB).
PNG_DPI, PNG_COLOURS = 55, 64
MISSING = "\u2013"  # en dash: a value that is absent or not a number


def escape(value: Any) -> str:
    """``value`` as HTML text, quotes escaped."""
    return html.escape(str(value), quote=True)


def is_number(value: Any) -> bool:
    """A real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def fmt(value: Any) -> str:
    """A cell's text: non-integers to 3 decimals, lists comma-separated, missing values as a dash."""
    if value is None or (is_number(value) and math.isnan(value)):
        return MISSING
    if is_number(value) and not isinstance(value, numbers.Integral):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def cell(value: Any) -> str:
    """A table cell: numbers right-aligned, long text wrapped."""
    numeric = is_number(value)
    text = fmt(value)
    css = "num" if numeric else "wrap" if len(text) > 40 else ""
    return f'<td class="{css}">{escape(text)}</td>' if css else f"<td>{escape(text)}</td>"


def html_table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A table that scrolls sideways when too wide; header names may break after underscores."""
    head = "".join(f"<th>{escape(h).replace('_', '_<wbr>')}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def svg_markup(figure: ReportFigure, alt: str) -> str:
    """The figure as inline SVG (without the XML prolog); ``alt`` is unused, as the SVG has its title."""
    svg = figure.to_svg()
    return svg[svg.find("<svg"):]


def png_markup(figure: ReportFigure, alt: str) -> str:
    """The figure as an ``<img>`` with a PNG data URI (inline SVG when PNG export is unavailable)."""
    with TemporaryDirectory() as tmp:
        try:
            path = figure.save(Path(tmp) / "figure.png", dpi=PNG_DPI)
        except ConfigurationError as exc:  # no Cairo library: a larger page, but a complete one
            log.debug("report: PNG export unavailable (%s); embedding SVG", exc)
            return svg_markup(figure, alt)
        with Image.open(path) as image:
            reduced = image.convert("RGB").quantize(PNG_COLOURS)
    buffer = io.BytesIO()
    reduced.save(buffer, format="PNG", optimize=True)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def embedded_figure(make: Callable[[], ReportFigure], what: str,
            embed: Callable[[ReportFigure, str], str] = png_markup) -> str:
    """A figure embedded by ``embed``, or an error note saying why ``what`` has none (never a crash)."""
    try:
        content = embed(make(), what)
    except Exception as exc:  # a report shows every record it can; one bad record is a note, not a stop
        log.warning("report: no figure for %s: %s", what, exc)
        reason = f"{type(exc).__name__}: {exc}"
        return f'<p class="error">No figure for {escape(what)}: {escape(reason)}</p>'
    return f"<figure>{content}</figure>"


def anchor(*parts: str) -> str:
    """An HTML id from ``parts``: letters and digits kept, the rest as underscores."""
    return "-".join("".join(c if c.isalnum() else "_" for c in part) for part in parts)


def class_title(code: str) -> str:
    """A class's name with its code, or the label as it is (e.g. ``all``)."""
    return f"{class_name(code)} ({code})" if code.isdigit() else code
