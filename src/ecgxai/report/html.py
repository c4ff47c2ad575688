"""``build_report``: one self-contained HTML page for a run folder, readable offline.

The page answers first: which method to trust on this model, and how far from chance it is
(a figure of faithfulness against the random baseline and cost per method, and a short table in
words, :mod:`ecgxai.report.summary`). Details follow: the method comparison per class
(``ecgxai compare``'s ``comparison.csv``, else the same table from the metrics tables and the
payloads' cost), localisation, per-class metric summaries, and one section per record and class
with each evaluated method's 12-lead chart, one line of key metrics and, collapsed, its full
metrics and spans; the run's settings (from ``run.json``, else what the payloads say) close it.
Everything is inline (CSS, metric figures as SVG, ECG charts as PNG data URIs): no scripts
and no network resources, so the file can be mailed or archived as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

import ecgxai
from ecgxai import config
from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.compare import ALL_CLASSES, key_columns
from ecgxai.evaluate.evaluator import SUMMARY_GROUPS, summarise_metrics
from ecgxai.evaluate.localisation_benchmark import MARGIN_SE
from ecgxai.evaluate.localisation_benchmark import SCORES as LOCALISATION_SCORES
from ecgxai.evaluate.metrics import metric
from ecgxai.explain.run_folder import (
    COMPARISON_TABLE,
    LOCALISATION_TABLE,
    REPORT,
    PayloadEntry,
    RunFolder,
)
from ecgxai.io.files import atomic_output
from ecgxai.io.manifest import MANIFEST_NAME
from ecgxai.report import plot_metric_boxes
from ecgxai.report.comparison import plot_localisation, plot_method_comparison
from ecgxai.report.markup import (
    MISSING,
    anchor,
    class_title,
    embedded_figure,
    escape,
    fmt,
    html_table,
    svg_markup,
)
from ecgxai.report.record_sections import drawn_methods, record_groups, record_section, shown_sections
from ecgxai.report.run_contents import RunContents, load_run
from ecgxai.report.summary import (
    HEADER,
    Saturation,
    figure_metric,
    overall_rows,
    summary_rows,
)
from ecgxai.synth.benchmark import NOT_LOCALISABLE

log = logging.getLogger(__name__)

#: Metrics summarised per class and method (the explanation's, then its random baseline).
SUMMARY_METRICS = (
    "strict_attauc", "lenient_attauc", "faithfulness_gain", "deletion_auc",
    "morf_auc", "random_morf_auc", "insertion_auc", "random_insertion_auc",
    "lerf_morf_gap", "random_lerf_morf_gap",
)
_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{border-bottom:2px solid #d8dde6;padding-bottom:4px;margin-top:40px}
h3{margin:28px 0 8px}h4{margin:18px 0 6px;color:#38465e}
.muted{color:#5d6b82}.note{background:#fff6dd;border-left:4px solid #e0a800;padding:8px 12px;margin:12px 0}
.error{background:#fde8e8;border-left:4px solid #c62828;padding:8px 12px;margin:8px 0}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #d8dde6;padding:3px 8px;text-align:left;vertical-align:top;white-space:pre-line}
th{background:#eef1f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.wrap{word-break:break-all;max-width:420px}
figure{margin:8px 0;overflow-x:auto}figure svg,figure img{max-width:100%;height:auto}
nav ol{columns:3;font-size:13px}nav li{break-inside:avoid}
.facts{display:flex;flex-wrap:wrap;gap:6px 24px;margin:6px 0}
details{margin:6px 0}summary{cursor:pointer;color:#38465e}
section.record{border-top:1px solid #d8dde6;margin-top:24px}
#answer h2{margin-top:12px}#summary-table td.wrap{word-break:normal}p.keys{margin:2px 0 4px;font-size:13px}
.scroll{overflow-x:auto}.pair{display:flex;flex-wrap:wrap;gap:0 32px;align-items:flex-start}
"""


# --- settings ------------------------------------------------------------------------------------


def _settings_section(run: RunContents) -> str:
    """The manifest's sections (or a note that there is none) and what the payloads themselves record."""
    parts = ['<h2 id="settings">Run settings</h2>']
    if run.manifest:
        updated = run.manifest.get("updated", "?")
        parts.append(f"<p class=muted>From {escape(MANIFEST_NAME)}, last updated {escape(updated)}.</p>")
        names = sorted((k for k, v in run.manifest.items() if isinstance(v, Mapping)),
                       key=lambda name: (name == "environment", name))
        parts.extend(_manifest_section(name, run.manifest[name]) for name in names)
    else:
        parts.append(f'<p class="note">This run folder has no {escape(MANIFEST_NAME)}; the settings below '
                     "are what the payloads record.</p>")
    parts.append("<h3>Explanations in this run</h3>" + _explanations_table(run.entries))
    return "\n".join(parts)


def _manifest_section(name: str, section: Mapping[str, Any]) -> str:
    """One manifest section as a heading (with its update time) and a settings table."""
    stamp = f" <span class=muted>updated {escape(section['updated'])}</span>" if "updated" in section else ""
    settings = {k: v for k, v in section.items() if k != "updated"}
    return f"<h3>{escape(name)}{stamp}</h3>{_mapping_table(settings)}"


def _mapping_table(section: Mapping[str, Any]) -> str:
    """A manifest section: entries that are mappings become columns, plain values one column."""
    entries = {k: v for k, v in section.items() if isinstance(v, Mapping)}
    plain = {k: v for k, v in section.items() if not isinstance(v, Mapping)}
    columns = {**entries, **({"value": plain} if plain else {})}
    keys = list(dict.fromkeys(k for entry in columns.values() for k in entry))
    rows = ([k, *(entry.get(k) for entry in columns.values())] for k in keys)
    return html_table(["setting", *columns], rows)


def _explanations_table(entries: Sequence[PayloadEntry]) -> str:
    """Per method folder: label, counts, classes, seeds and the explainer parameters the payloads record."""
    rows = []
    for method in sorted({e.method for e in entries}):
        mine = [e for e in entries if e.method == method]
        loaded = [e.explanation for e in mine if e.explanation is not None]
        params = _common_params([x.params for x in loaded])
        seeds = _brief(sorted({x.seed for x in loaded if x.seed is not None}))
        labels = sorted({x.method_label for x in loaded})
        classes = sorted({e.class_code for e in mine})
        rows.append([method, labels, len(mine), len({e.record for e in mine}), classes, seeds,
                     ", ".join(f"{k}={v}" for k, v in params.items()), len(mine) - len(loaded)])
    return html_table(["method", "label", "payloads", "records", "classes", "seeds (per payload)",
                   "parameters (common)", "unreadable"], rows)


def _brief(values: Sequence[Any], limit: int = 3) -> str:
    """Up to ``limit`` values, then how many there are in all."""
    shown = ", ".join(map(str, values[:limit]))
    return shown if len(values) <= limit else f"{shown}, ... ({len(values)} distinct)"


def _common_params(params: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters every payload shares with the same value."""
    if not params:
        return {}
    return {k: v for k, v in params[0].items() if all(p.get(k) == v for p in params[1:])}


# --- metric summaries ----------------------------------------------------------------------------


def metric_summary(metrics: pd.DataFrame, columns: Sequence[str] = SUMMARY_METRICS) -> pd.DataFrame:
    """Per class, method and prior setting: n, and mean, sd and median of each metric column."""
    ok = metrics[metrics["error"].isna()]
    present = [c for c in columns if c in ok and ok[c].notna().any()]
    sizes = ok.groupby(SUMMARY_GROUPS).size().rename("n").reset_index()
    return summarise_metrics(ok, present, ("mean", "std", "median")).merge(sizes, on=SUMMARY_GROUPS)


def _summary_section(run: RunContents) -> str:
    parts = ['<h2 id="metrics">Metrics per class and method</h2>']
    if run.metrics.empty:
        parts.append('<p class="note">No metrics table in this run folder (run <code>ecgxai evaluate '
                     "RUN_DIR --out RUN_DIR/metrics.csv</code> to add one).</p>")
        return "\n".join(parts)
    summary = metric_summary(run.metrics)
    metrics = [c for c in SUMMARY_METRICS if f"{c}_mean" in summary]
    tables = ", ".join(sorted(run.metrics["table"].unique()))
    parts.append("<p class=muted>mean ± sd, median below; random_* columns score a random attribution "
                 f"on the same record. Tables: {escape(tables)}.</p>")
    saturated = _saturated(run.metrics, summary)
    rows = [[class_title(r.meta_code), r.method, r.priors_used, r.n, flag,
             *(_mean_sd_median(r, m) for m in metrics)]
            for r, flag in zip(summary.itertuples(index=False), saturated, strict=True)]
    parts.append(html_table(["class", "method", "priors", "n", "saturated", *metrics], rows))
    parts.append(_scale_note(run.metrics))
    failed = run.metrics[run.metrics["error"].notna()]
    if len(failed):
        parts.append(f'<p class="error">{len(failed)} payload(s) could not be evaluated: '
                     f"{escape(', '.join(sorted(failed['mat_path'].map(lambda p: Path(str(p)).stem))))}.</p>")
    ok = run.metrics[run.metrics["error"].isna()]
    if len(ok):
        parts.append(embedded_figure(lambda: plot_metric_boxes(ok), "the metric distributions", svg_markup))
    return "\n".join(parts)


def _saturated(metrics: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Per summary row: how many of its rows are saturated (p0 > 0.99), flagged with a warning sign."""
    if "saturated" not in metrics:
        return [MISSING] * len(summary)
    ok = metrics[metrics["error"].isna()]
    counts = ok.groupby(SUMMARY_GROUPS)["saturated"].apply(lambda v: int(v.fillna(False).astype(bool).sum()))
    keys = summary[SUMMARY_GROUPS].itertuples(index=False, name=None)
    found = [(counts.get(key, 0), n) for key, n in zip(keys, summary["n"], strict=True)]
    return [f"\u26a0 {k}/{n}" if k else f"0/{n}" for k, n in found]


def _scale_note(metrics: pd.DataFrame) -> str:
    """Which scale the ranking columns follow, and what saturation means for them."""
    scales = sorted(metrics["ranking_scale"].dropna().unique()) if "ranking_scale" in metrics else []
    scale = escape(" and ".join(scales) or "probability")
    return (f"<p class=muted>Ranking metrics (MoRF, LeRF, insertion, ROAD) on the {scale} scale."
            " saturated: rows whose unperturbed probability is above 0.99, where probability-scale "
            "curves are flat (evaluate with <code>--ranking-scale logit</code> to see them move).</p>")


def _mean_sd_median(row: Any, metric: str) -> str:
    mean, sd, median = (getattr(row, f"{metric}_{s}") for s in ("mean", "std", "median"))
    return f"{fmt(mean)} ± {fmt(sd)}\n{fmt(median)}"


# --- method comparison ---------------------------------------------------------------------------


def _comparison_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table by class (``all`` first, then by code), methods in run order."""
    order = {method: i for i, method in enumerate(dict.fromkeys(table["method"]))}
    keyed = table.assign(_all=table["meta_code"].astype(str) != ALL_CLASSES,
                         _method=table["method"].map(order))
    ordered = keyed.sort_values(["_all", "meta_code", "_method"], kind="stable")
    return ordered.drop(columns=["_all", "_method"])


def _comparison_section(run: RunContents) -> str:
    """The table (methods x key metrics, per class and over all) and the bar charts of ``comparison.csv``."""
    table = run.comparison
    if table is None or table.empty:
        return ""
    columns = key_columns(table, baselines=True)
    rows = [[r["class_name"] if r["meta_code"] == ALL_CLASSES else class_title(str(r["meta_code"])),
             *(r[c] for c in columns if c != "meta_code")]
            for _, r in _comparison_rows(table).iterrows()]
    return "\n".join([
        '<h2 id="comparison">Method comparison per class</h2>',
        f"<p class=muted>From {escape(COMPARISON_TABLE)} (else from the metrics tables and the payloads' "
        "cost): "
        "means over the records each method explained and evaluated; cost in forward-pass equivalents "
        "(explanation seconds / seconds of one record's forward pass); each random_* column scores a "
        "random map of the method's own resolution on the same records.</p>",
        html_table(["class", *(c for c in columns if c != "meta_code")], rows),
        embedded_figure(lambda: plot_method_comparison(table), "the method comparison", svg_markup),
    ])


def _saturation(metrics: pd.DataFrame) -> Saturation:
    """The evaluated rows scored on the probability scale with p > 0.99, of all evaluated rows."""
    ok = metrics[metrics["error"].isna()]
    if "saturated" not in ok or "ranking_scale" not in ok:
        return Saturation(0, len(ok))
    flagged = ok["saturated"].fillna(False).astype(bool) & (ok["ranking_scale"] == "probability")
    return Saturation(int(flagged.sum()), len(ok))


def _first_screen(run: RunContents) -> str:
    """The answer first: faithfulness against chance and cost per method in one figure, then in words."""
    parts = ['<section id="answer"><h2>Which method to trust on this model</h2>']
    table = run.comparison
    shown = figure_metric(table) if table is not None else None
    if shown is None:
        parts.append('<p class="note">No metrics in this run folder to compare the methods by (run '
                     "<code>ecgxai evaluate RUN_DIR --out RUN_DIR/metrics.csv</code> to add them).</p>")
        return "\n".join([*parts, "</section>"])
    overall = overall_rows(table).reset_index()
    title = f"{metric(shown).label} against a random map, and cost, per method (all classes)"
    figure = embedded_figure(lambda: plot_method_comparison(overall, [shown], ncols=2, title=title),
                     "the method comparison", svg_markup)
    words = html_table(HEADER, summary_rows(table, _saturation(run.metrics)))
    parts += [f'<div id="comparison-figure">{figure}</div>', f'<div id="summary-table">{words}</div>',
              "<p class=muted>Means over every class; per class, each record and the settings below.</p>",
              "</section>"]
    return "\n".join(parts)


def _score_cell(row: Any, score: str, chance: str) -> str:
    return f"{fmt(row[score])} ({fmt(row[chance])})"


def _margin_cell(row: Any) -> str:
    """gt_auroc's margin over its chance level, +- its standard error (a table from before the column
    existed gives the margin alone)."""
    margin = f"{row['gt_auroc'] - row['random_gt_auroc']:+.3f}"
    se = row.get(MARGIN_SE)
    return margin if pd.isna(se) else f"{margin} ± {fmt(se)}"


def _localisation_section(run: RunContents) -> str:
    """Per method, the localisation scores of ``localisation.csv`` per class, each with its chance level."""
    table = run.localisation
    if table is None or table.empty:
        return ""
    parts = ['<h2 id="localisation">Localisation of planted evidence</h2>',
             f"<p class=muted>From {escape(LOCALISATION_TABLE)}: benchmark records whose mask is exact "
             "(where the record differs from its class-neutral twin), each explained for its own diagnosis. "
             "Each score is followed by its chance level in brackets: the random map of the method's "
             "resolution, or for the top hit the share of the explanation's cells on the mask; "
             "margin is gt_auroc minus its chance level, ± the standard error over the records (a margin "
             "within about two of it is not told apart from chance); "
             "mask_share is the mask's share of the record. Not localisable, so not scored: "
             f"{escape('; '.join(NOT_LOCALISABLE.values()))}.</p>",
             embedded_figure(lambda: plot_localisation(table), "the localisation table", svg_markup)]
    for method, rows in table.groupby("method", sort=False):
        body = [[r["class"], r["n"], *(_score_cell(r, s, c) for s, c in LOCALISATION_SCORES),
                 _margin_cell(r), fmt(r["mask_share"]), fmt(r["probability"])] for _, r in rows.iterrows()]
        header = ["class", "n", *(s for s, _ in LOCALISATION_SCORES), "margin", "mask_share", "p"]
        parts += [f'<h3 id="{anchor("localisation", str(method))}">{escape(method)}</h3>',
                  html_table(header, body)]
    return "\n".join(parts)


# --- the page ------------------------------------------------------------------------------------


def _toc(groups: Mapping[tuple[str, str], Sequence[PayloadEntry]], comparison: bool = False,
         localisation: bool = False) -> str:
    """Links to the comparison per class and the localisation (when there are), the metrics, each shown
    record section by class, and the settings."""
    items = ['<li><a href="#comparison">Method comparison per class</a></li>'] if comparison else []
    items += ['<li><a href="#localisation">Localisation</a></li>'] if localisation else []
    items.append('<li><a href="#metrics">Metrics</a></li>')
    for code in dict.fromkeys(code for code, _ in groups):
        links = ", ".join(f'<a href="#{anchor(code, record)}">{escape(record)}</a>'
                          for c, record in groups if c == code)
        items.append(f"<li>{escape(class_title(code))}: {links}</li>")
    items.append('<li><a href="#settings">Run settings</a></li>')
    return f'<nav><h2 id="contents">Contents</h2><ol>{"".join(items)}</ol></nav>'


def _methods(entries: Sequence[PayloadEntry]) -> list[str]:
    return sorted({e.method for e in entries})


def _header(run: RunContents, n_groups: int) -> str:
    records = {e.record for e in run.entries}
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return (f"<h1>ecgxai report: {escape(run.run_dir.resolve().name)}</h1>"
            f"<p class=muted>{escape(run.run_dir.resolve())} · generated {escape(now)} by ecgxai "
            f"{escape(ecgxai.__version__)} · {len(run.entries)} explanations of {len(records)} records "
            f"({n_groups} record &times; class sections) · methods: {escape(fmt(_methods(run.entries)))}</p>")


def render_report(run: RunContents, *, max_records: int | None = config.REPORT_MAX_RECORDS,
                  data_root: str | Path | None = None) -> str:
    """The report page as HTML text; at most ``max_records`` record x class sections are drawn."""
    groups = record_groups(run.entries)
    shown = {key: groups[key] for key in shown_sections(list(groups), max_records)}
    root = None if data_root is None else Path(data_root)
    drawn = drawn_methods(run)
    compared = run.comparison is not None and not run.comparison.empty
    located = run.localisation is not None and not run.localisation.empty
    body = [_header(run, len(groups)), _first_screen(run), _toc(shown, compared, located),
            _comparison_section(run), _localisation_section(run), _summary_section(run),
            '<h2 id="records">Records</h2>',
            *(record_section(key, group, run, root, drawn) for key, group in shown.items())]
    if len(groups) > len(shown):
        body.append(f'<p class="note">{len(groups) - len(shown)} more record &times; class sections not '
                    "shown (raise --max-records to include them).</p>")
    body.append(_settings_section(run))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>ecgxai report: {escape(run.run_dir.resolve().name)}</title>"
            f"<style>{_STYLE}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")


def build_report(run_dir: str | Path, out_path: str | Path | None = None, *,
                 max_records: int | None = config.REPORT_MAX_RECORDS,
                 data_root: str | Path | None = None) -> Path:
    """Write the run's report as one self-contained HTML file (default ``RUN_DIR/report.html``)."""
    if max_records is not None and max_records < 0:
        raise ConfigurationError(f"max_records must be >= 0, got {max_records}")
    run = load_run(run_dir)
    out = Path(out_path) if out_path is not None else RunFolder(Path(run_dir)).file(REPORT)
    with atomic_output(out) as tmp:
        tmp.write_text(render_report(run, max_records=max_records, data_root=data_root), encoding="utf-8")
    return out
