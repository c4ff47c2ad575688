"""The report's record sections: each record explained for one class, one block per drawn method
(its 12-lead chart, a line of key metrics and, collapsed, its facts, metrics and spans)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import zip_longest
from pathlib import Path

import pandas as pd

from ecgxai.evaluate.metrics import metric
from ecgxai.explain.payload import Explanation
from ecgxai.explain.run_folder import PayloadEntry
from ecgxai.report.ecg import plot_from_payload
from ecgxai.report.markup import (
    MISSING,
    anchor,
    class_title,
    embedded_figure,
    escape,
    fmt,
    html_table,
    is_number,
)
from ecgxai.report.run_contents import RunContents
from ecgxai.report.summary import QUESTIONS, chance_level, value_text

#: Trace points per panel in report charts: each bucket's extrema, finer than the PNG shows.
PREVIEW_POINTS = 2000
_IDENTITY_COLUMNS = ("record", "meta_code", "class_name", "sel_idx", "mat_path", "method")


def record_groups(entries: Sequence[PayloadEntry]) -> dict[tuple[str, str], list[PayloadEntry]]:
    """Payloads grouped by (class, record), in that order; methods sorted within a group."""
    groups: dict[tuple[str, str], list[PayloadEntry]] = {}
    for entry in sorted(entries, key=lambda e: (e.class_code, e.record, e.method)):
        groups.setdefault((entry.class_code, entry.record), []).append(entry)
    return groups


def shown_sections(keys: Sequence[tuple[str, str]], limit: int | None) -> list[tuple[str, str]]:
    """At most ``limit`` (class, record) keys, taken from each class in turn so every class is
    shown; returned in (class, record) order."""
    if limit is None:
        return sorted(keys)
    by_class: dict[str, list[tuple[str, str]]] = {}
    for key in sorted(keys):
        by_class.setdefault(key[0], []).append(key)
    rounds = zip_longest(*by_class.values())
    taken = [key for keys_in_round in rounds for key in keys_in_round if key is not None]
    return sorted(taken[:limit])


def _metrics_table(rows: pd.DataFrame) -> str:
    """One explanation's metrics, one column per metrics table it appears in."""
    if rows.empty:
        return "<p class=muted>No metrics row for this explanation.</p>"
    hidden = (*_IDENTITY_COLUMNS, "priors_used", "table")
    columns = [c for c in rows.columns if c not in hidden and rows[c].notna().any()]
    header = ["metric", *(f"{r.table} (priors {'on' if r.priors_used else 'off'})"
                          for r in rows.itertuples())]
    return html_table(header, ([c, *rows[c].tolist()] for c in columns))


def _spans_table(explanation: Explanation) -> str:
    rows = [[lead, start, end, weight] for lead, spans in explanation.perlead_spans.items()
            for start, end, weight in spans]
    return (f"<div><h5>{len(rows)} spans (windows) on {len(explanation.leads)} leads</h5>"
            + html_table(["lead", "start (s)", "end (s)", "weight"], rows) + "</div>")


def _key_line(x: Explanation, rows: pd.DataFrame) -> str:
    """One line: the model's probability, the first screen's metrics against chance, and the cost."""
    parts = [f"p = {fmt(x.probability)}"]
    row = rows.iloc[0] if len(rows) else pd.Series(dtype=object)
    for question in QUESTIONS:
        if is_number(row.get(question.column)) and not math.isnan(row[question.column]):
            found = metric(question.column)
            parts.append(f"{found.label} {value_text(row[question.column], chance_level(row, found))}")
    parts.append(f"{x.seconds:.2f} s, {x.model_evaluations} model evaluations")
    return f'<p class="keys">{escape(" · ".join(parts))}</p>'


def _method_block(entry: PayloadEntry, run: RunContents, data_root: Path | None) -> str:
    """One method's explanation of one record: its 12-lead chart, one line of key metrics, and collapsed,
    its facts, full metrics and spans."""
    title = f'<h4 id="{anchor(entry.class_code, entry.record, entry.method)}">{escape(entry.method)}</h4>'
    x = entry.explanation
    if x is None:
        return f'{title}<p class="error">{escape(entry.error)}</p>'
    rows = run.metric_rows(entry)
    facts = [("label", x.method_label), ("top leads", fmt(x.top5_leads) or MISSING), ("seed", fmt(x.seed))]
    facts_html = "".join(f"<span><b>{escape(k)}:</b> {escape(v)}</span>" for k, v in facts)
    figure = embedded_figure(
        lambda: plot_from_payload(x, topk=5, data_root=data_root, preview_points=PREVIEW_POINTS),
        f"{entry.record} / {entry.class_code} / {entry.method}")
    return (f"{title}{figure}{_key_line(x, rows)}<details><summary>All metrics and spans</summary>"
            f'<div class="facts">{facts_html}</div><div class="pair">{_metrics_table(rows)}{_spans_table(x)}'
            "</div></details>")


def drawn_methods(run: RunContents) -> set[str]:
    """The methods record sections draw: every one when the run has no metrics, else those with metrics
    rows (not, say, the LIME and TimeSHAP parts of a fused run)."""
    return {e.method for e in run.entries if run.metrics.empty or not run.metric_rows(e).empty}


def record_section(key: tuple[str, str], group: Sequence[PayloadEntry], run: RunContents,
                    data_root: Path | None, drawn: set[str]) -> str:
    """A record explained for one class: each drawn method's chart, then the methods not drawn."""
    class_code, record = key
    loaded = [e.explanation for e in group if e.explanation is not None]
    path = loaded[0].mat_path if loaded else ""
    parts = [f'<section class="record" id="{anchor(class_code, record)}">',
             f"<h3>{escape(record)} · {escape(class_title(class_code))}</h3>",
             f"<p class=muted>{escape(path)}</p>"]
    parts.extend(_method_block(entry, run, data_root) for entry in group if entry.method in drawn)
    skipped = [entry.method for entry in group if entry.method not in drawn]
    if skipped:
        parts.append("<p class=muted>Also explained, not evaluated, so not drawn: "
                     f"{escape(', '.join(skipped))}.</p>")
    parts.append("</section>")
    return "\n".join(parts)
