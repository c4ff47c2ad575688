"""Figures: explanations drawn over real reference records, metric figures from a real evaluation table.

Where a span lands is read back from the SVG itself: each shaded rectangle's panel (by
its position in the chart's panel geometry) gives the lead, its x and width at 25 mm/s
give the seconds, and these are compared with the payload's spans.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ecgxai
from ecgxai.errors import ConfigurationError, LeadMismatchError, RecordNotFoundError
from ecgxai.evaluate import evaluate_payload
from ecgxai.evaluate.stability import run_extra_beat_stability_experiment
from ecgxai.explain import Explanation
from ecgxai.explain.explainers import explain_record
from ecgxai.report import (
    ExplanationFigure,
    MetricFigure,
    plot_comparison,
    plot_deletion_curves,
    plot_from_payload,
    plot_metric_boxes,
)
from ecgxai.report.ecg import GRID_CLASS, SPAN_CLASS

SVG = "{http://www.w3.org/2000/svg}"
ECGXAI = Path(sys.executable).with_name("ecgxai")
AF, SR = "164889003", "426783006"
LIMB = ("I", "II", "III", "aVR", "aVL", "aVF")
CHEST = ("V1", "V2", "V3", "V4", "V5", "V6")
MM_PER_SEC, MM_PER_MV = 25.0, 10.0
TOL_SEC = 0.01


# --- fixtures: real explanations of real records -------------------------------------------------


@pytest.fixture(scope="module")
def af_record(reference_dir):
    return ecgxai.read_record(reference_dir / "records" / "A0003.mat")


@pytest.fixture(scope="module")
def gradient_payload(reference_model, af_record) -> Explanation:
    return explain_record(reference_model, af_record, AF, method="gradxinput")


@pytest.fixture(scope="module")
def ig_payload(reference_model, af_record) -> Explanation:
    return explain_record(reference_model, af_record, AF, method="ig")


@pytest.fixture(scope="module")
def seed_payloads(reference_dir) -> dict:
    """The original toolkit's fused payloads ({class: {record: payload}}, mat_path relative)."""
    return json.loads((reference_dir / "seed-results" / "seed_fused_payloads.json").read_text())


@pytest.fixture(scope="module")
def mixed_payload(seed_payloads) -> dict:
    """An original fused payload with spans of both signs on more leads than its top five."""
    for payload in seed_payloads[AF].values():
        weights = [w for spans in payload["perlead_spans"].values() for _, _, w in spans]
        extra = set(payload["perlead_spans"]) - set(payload["top5_leads"])
        if min(weights) < 0 < max(weights) and extra:
            return payload
    pytest.fail("no seed payload with mixed signs and spans beyond its top leads")


# --- reading a figure back -----------------------------------------------------------------------


def svg_root(figure) -> ET.Element:
    return ET.fromstring(figure.to_svg())


def panel_at(chart, x: float, y: float, width: float):
    """The chart panel whose box holds a rectangle at x..x+width starting at height y."""
    found = [p for p in chart.panels
             if abs(p.y - y) < 1e-6 and p.x - 1e-6 <= x and x + width <= p.x + p.width + 1e-6]
    assert len(found) == 1, (x, y, width)
    return found[0]


def drawn_spans(figure: ExplanationFigure) -> list[dict]:
    """Every shaded span in the SVG: its lead (from its panel), seconds (from x at 25 mm/s), style."""
    chart = figure.chart
    spans = []
    for rect in svg_root(figure).iter(f"{SVG}rect"):
        if rect.get("class") != SPAN_CLASS:
            continue
        x, y, width = (float(rect.get(k)) for k in ("x", "y", "width"))
        panel = panel_at(chart, x, y, width)
        start = panel.start + (x - panel.x) / MM_PER_SEC
        spans.append({"panel": chart.panels.index(panel), "channel": chart.record.names[panel.lead],
                      "start": start, "end": start + width / MM_PER_SEC,
                      "opacity": float(rect.get("opacity")), "fill": rect.get("fill")})
    return spans


def labels_by_panel(figure: ExplanationFigure) -> dict[int, ET.Element]:
    """The text drawn just above each panel's top-left corner (the lead label), by panel index."""
    texts = list(svg_root(figure).iter(f"{SVG}text"))
    found = {}
    for i, p in enumerate(figure.chart.panels):
        above = [t for t in texts
                 if abs(float(t.get("x")) - p.x) < 1e-6 and p.y - 3 < float(t.get("y")) < p.y]
        assert len(above) == 1, f"panel {i}: {[t.text for t in above]}"
        found[i] = above[0]
    return found


def expected_spans(figure: ExplanationFigure, payload: Explanation, leads,
                   channel=lambda lead: lead) -> list[tuple[str, float, float, float]]:
    """The payload's spans on ``leads``, each cut to every panel of its lead's time range."""
    chart = figure.chart
    expected = []
    for p in chart.panels:
        for lead in leads:
            if chart.record.names[p.lead] != channel(lead):
                continue
            expected += [(channel(lead), max(s, p.start), min(e, p.end), w)
                         for s, e, w in payload.perlead_spans.get(lead, [])
                         if w != 0 and s < p.end and e > p.start]
    return sorted(expected)


def match(drawn: list[dict], expected: list[tuple]) -> list[tuple[dict, float]]:
    """Pair every drawn span with the expected span it shows (right channel, start and end within
    0.01 s); every expected span must be drawn once and nothing else drawn."""
    left = list(drawn)
    pairs = []
    for name, start, end, weight in expected:
        hits = [d for d in left if d["channel"] == name
                and abs(d["start"] - start) <= TOL_SEC and abs(d["end"] - end) <= TOL_SEC]
        assert hits, (name, start, end, weight)
        left.remove(hits[0])
        pairs.append((hits[0], weight))
    assert not left, f"spans drawn that the payload does not have: {left}"
    return pairs


def hex_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def check_style(pairs: list[tuple[dict, float]]) -> None:
    """Red-ish for positive weights, blue-ish for negative; opacity strictly increasing in |weight|."""
    for drawn, weight in pairs:
        red, _, blue = hex_rgb(drawn["fill"])
        assert (red > blue) == (weight > 0), (drawn, weight)
    by_weight = sorted(pairs, key=lambda pair: abs(pair[1]))
    for (a, wa), (b, wb) in itertools.pairwise(by_weight):
        if abs(wb) > abs(wa) + 1e-12:
            assert b["opacity"] > a["opacity"], (wa, wb)
        else:
            assert b["opacity"] == pytest.approx(a["opacity"])


# --- the explanation figure ----------------------------------------------------------------------


def test_standard_12_lead_chart_at_physical_scale(gradient_payload, af_record):
    figure = plot_from_payload(gradient_payload)
    chart = figure.chart
    assert (chart.speed, chart.gain) == (MM_PER_SEC, MM_PER_MV)
    root = svg_root(figure)
    assert root.get("width") == f"{chart.width_mm:g}mm"  # one SVG unit is one millimetre
    assert root.get("viewBox").split()[2] == f"{chart.width_mm:g}"
    # Two columns of six: limb leads left, chest leads right, standard order top to bottom.
    columns = sorted({p.x for p in chart.panels})
    assert len(columns) == 2
    for x, names in zip(columns, (LIMB, CHEST), strict=True):
        column = sorted((p for p in chart.panels if p.x == x), key=lambda p: p.y)
        assert tuple(chart.record.names[p.lead] for p in column) == names
    labels = labels_by_panel(figure)
    # Each panel's trace is its lead's signal in mV (header gains) at 10 mm/mV, labelled with its name.
    paths, grid = {}, []
    for path in root.iter(f"{SVG}path"):
        if path.get("class") == GRID_CLASS:
            grid.append(path)
        else:
            paths.setdefault(path.get("clip-path"), path)
    clip_ids = [c.get("id") for c in root.iter(f"{SVG}clipPath")]
    for i, p in enumerate(chart.panels):
        lead = chart.record.names[p.lead]
        assert labels[i].text.split()[0] == lead
        points = paths[f"url(#{clip_ids[i]})"].get("d").lstrip("M").split(" L")
        xy = np.array([[float(v) for v in point.split(",")] for point in points[:200]])
        seconds = (xy[:, 0] - p.x) / MM_PER_SEC
        millivolts = (p.baseline - xy[:, 1]) / MM_PER_MV
        signal = af_record.signal[:, af_record.lead_names.index(lead)]
        samples = np.round(seconds * af_record.fs).astype(int)
        np.testing.assert_allclose(millivolts, signal[samples], atol=1e-4)
    # ECG paper: vertical grid lines every 1 mm over the first panel (a zig-zag path per colour and
    # direction, whose vertical legs are the lines), and horizontal ones every 1 mm over its height.
    first = f"url(#{clip_ids[0]})"
    legs = set()
    for path in (g for g in grid if g.get("clip-path") == first):
        points = path.get("d").lstrip("M").split(" L")
        xy = np.array([[float(v) for v in point.split(",")] for point in points])
        vertical = np.isclose(xy[:-1, 0], xy[1:, 0]) & ~np.isclose(xy[:-1, 1], xy[1:, 1])
        legs |= {round(x, 6) for x in xy[:-1][vertical, 0]}
    xs = sorted(legs)
    assert len(xs) == round(chart.panels[0].width) + 1 and np.allclose(np.diff(xs), 1.0)


def test_title_names_record_class_method_and_probability(gradient_payload):
    title = next(svg_root(plot_from_payload(gradient_payload)).iter(f"{SVG}text")).text
    for part in ("A0003", "atrial fibrillation", gradient_payload.method_label,
                 f"{gradient_payload.probability:.3f}"):
        assert part in title


@pytest.mark.parametrize("topk", [5, 2])
def test_spans_land_on_their_lead_and_time(gradient_payload, topk):
    figure = plot_from_payload(gradient_payload, topk=topk)
    top = gradient_payload.top5_leads[:topk]
    assert figure.chart.window[1] == pytest.approx(gradient_payload.page_seconds)
    pairs = match(drawn_spans(figure), expected_spans(figure, gradient_payload, top))
    check_style(pairs)
    assert {d["channel"] for d, _ in pairs} == set(top) & set(gradient_payload.leads)
    bold = {i for i, t in labels_by_panel(figure).items() if t.get("font-weight") == "bold"}
    assert {figure.chart.record.names[figure.chart.panels[i].lead] for i in bold} == set(top)


def test_mixed_signs_and_all_leads_option(mixed_payload, reference_dir):
    payload = Explanation.from_payload(mixed_payload)
    top = payload.top5_leads
    only_top = plot_from_payload(mixed_payload, data_root=reference_dir)
    drawn_top = drawn_spans(only_top)
    check_style(match(drawn_top, expected_spans(only_top, payload, top)))
    assert {d["channel"] for d in drawn_top} <= set(top)  # nothing on leads outside the top k

    every = plot_from_payload(mixed_payload, show_all_leads=True, data_root=reference_dir)
    pairs = match(drawn_spans(every), expected_spans(every, payload, payload.leads))
    check_style(pairs)
    assert {d["channel"] for d, _ in pairs} - set(top)  # leads outside the top five are shaded too
    assert {hex_rgb(d["fill"])[0] > hex_rgb(d["fill"])[2] for d, _ in pairs} == {True, False}
    # One opacity scale over the whole payload: the same span looks the same in both figures.
    same = {(d["channel"], round(d["start"], 3)): d["opacity"] for d in drawn_top}
    for d, _ in pairs:
        if (d["channel"], round(d["start"], 3)) in same:
            assert d["opacity"] == pytest.approx(same[(d["channel"], round(d["start"], 3))])


def test_clinical_layout_cuts_spans_at_panel_edges(mixed_payload, reference_dir):
    """3x4 leads of 2.5 s each plus a lead II rhythm strip: a lead's spans appear in its own time slot."""
    payload = Explanation.from_payload(mixed_payload)
    assert "II" in payload.leads
    figure = plot_from_payload(payload, show_all_leads=True, data_root=reference_dir, layout="12lead",
                               time_mode="sequential", rhythm_lead="II")
    assert {round(p.start, 6) for p in figure.chart.panels} == {0.0, 2.5, 5.0, 7.5}
    drawn = drawn_spans(figure)
    check_style(match(drawn, expected_spans(figure, payload, payload.leads)))
    panels = figure.chart.panels
    rhythm = panels.index(max(panels, key=lambda p: p.width))
    on_strip = [d for d in drawn if d["panel"] == rhythm]
    assert len(on_strip) == len([s for s in payload.perlead_spans["II"] if s[2] != 0])


def test_record_from_argument_path_or_data_root(gradient_payload, af_record, reference_dir, tmp_path):
    by_record = plot_from_payload(gradient_payload.to_payload(), record=af_record).to_svg()
    relative = dataclasses.replace(gradient_payload, mat_path="records/A0003.mat")
    assert plot_from_payload(relative, data_root=reference_dir).to_svg() == by_record
    assert plot_from_payload(relative, record=reference_dir / "records" / "A0003").to_svg() == by_record
    with pytest.raises(RecordNotFoundError, match="A0003"):
        plot_from_payload(relative, data_root=tmp_path)
    with pytest.raises(RecordNotFoundError, match="mat_path"):
        plot_from_payload(dataclasses.replace(gradient_payload, mat_path=""))


def test_leads_that_do_not_match_are_refused(gradient_payload, af_record):
    spans = {**gradient_payload.perlead_spans, "V7": [(1.0, 2.0, 0.5)]}
    with pytest.raises(LeadMismatchError, match="V7"):
        plot_from_payload(dataclasses.replace(gradient_payload, perlead_spans=spans), record=af_record)
    renamed = dataclasses.replace(af_record, lead_names=tuple(f"ch{i}" for i in range(12)))
    with pytest.raises(LeadMismatchError, match="record does not have"):
        plot_from_payload(gradient_payload, record=renamed)
    with pytest.raises(ConfigurationError, match="topk"):
        plot_from_payload(gradient_payload, topk=-1)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_save_by_suffix_and_inline_display(gradient_payload, tmp_path):
    figure = plot_from_payload(gradient_payload)
    svg, png, pdf = (figure.save(tmp_path / "out" / f"fig.{s}", dpi=40) for s in ("svg", "png", "pdf"))
    assert len(drawn_spans(figure)) == sum(
        r.get("class") == SPAN_CLASS for r in ET.parse(svg).getroot().iter(f"{SVG}rect"))
    chart = figure.chart
    assert png_size(png) == (round(chart.width_mm / 25.4 * 40), round(chart.height_mm / 25.4 * 40))
    assert pdf.read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ConfigurationError, match=r"\.jpg"):
        figure.save(tmp_path / "fig.jpg")
    inline = ET.fromstring(figure._repr_svg_())
    assert inline.get("width") == "100%" and inline.get("viewBox") == svg_root(figure).get("viewBox")


def test_top_level_name():
    assert ecgxai.plot_from_payload is plot_from_payload


# --- comparison ----------------------------------------------------------------------------------


def test_comparison_rows_share_the_time_axis(gradient_payload, ig_payload, seed_payloads, reference_dir):
    fused = Explanation.from_payload(seed_payloads[AF]["A0003"])
    payloads = [gradient_payload, ig_payload, fused]
    figure = plot_comparison(payloads, data_root=reference_dir)
    chart = figure.chart
    rankings = [p.top5_leads for p in payloads]
    leads = sorted({lead for r in rankings for lead in r}, key=lambda lead: min(
        (r.index(lead), i) for i, r in enumerate(rankings) if lead in r))[:4]
    assert len(chart.panels) == len(leads) * len(payloads)
    assert len({(p.x, p.width, p.start, p.end) for p in chart.panels}) == 1  # one column, one time axis
    methods = [p.method_label for p in payloads]
    names = [chart.record.names[p.lead] for p in sorted(chart.panels, key=lambda p: p.y)]
    assert names == [f"{lead} · {m}" for lead in leads for m in methods]
    drawn = drawn_spans(figure)
    for payload in payloads:
        mine = [d for d in drawn if d["channel"].endswith(f"· {payload.method_label}")]
        pairs = match(mine, expected_spans(figure, payload, leads,
                                           channel=lambda lead, m=payload.method_label: f"{lead} · {m}"))
        check_style(pairs)  # each payload on its own |weight| scale
    with pytest.raises(ConfigurationError, match="different records"):
        plot_comparison([gradient_payload, seed_payloads[AF]["A0026"]], data_root=reference_dir)
    two = plot_comparison(payloads, leads=["II", "V1"], data_root=reference_dir)
    assert {n.split(" · ")[0] for n in two.chart.record.names} == {"II", "V1"}


# --- metric figures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluated(reference_model, reference_dir):
    """Real evaluation rows (with their ranking curves) of gradient explanations of an AF and an SR record."""
    rows = []
    for name, code in (("A0003", AF), ("HR00013", SR)):
        record = ecgxai.read_record(reference_dir / "records" / f"{name}.mat")
        payload = explain_record(reference_model, record, code, method="gradxinput")
        rows.append(evaluate_payload(payload, reference_model, curves=True))
    return rows


def scatter_values(ax) -> list[float]:
    return sorted(float(y) for collection in ax.collections for _, y in collection.get_offsets())


def test_metric_boxes_show_the_table_values(evaluated):
    table = pd.DataFrame(evaluated).drop(columns=["ranking_curves"])
    broken = pd.DataFrame([{"mat_path": "x.mat", "error": "RecordNotFoundError: x"}])
    figure = plot_metric_boxes(pd.concat([table, broken], ignore_index=True))
    assert isinstance(figure, MetricFigure)
    axes = {ax.get_title(): ax for ax in figure.figure.axes}
    strict = next(ax for title, ax in axes.items() if title.startswith("AttAUC, strict"))
    assert scatter_values(strict) == pytest.approx(sorted(table["strict_attauc"]))
    assert [t.get_text() for t in strict.get_xticklabels()] == sorted(table["class_name"])
    morf = next(ax for title, ax in axes.items() if title.startswith("MoRF"))
    assert scatter_values(morf) == pytest.approx(sorted([*table["morf_auc"], *table["random_morf_auc"]]))
    assert len(axes) == sum(table[m].notna().any() for m in
                            ("strict_attauc", "lenient_attauc", "faithfulness_gain", "deletion_auc",
                             "morf_auc", "lerf_auc", "insertion_auc", "lerf_morf_gap"))
    assert "<svg" in figure.to_svg() and figure._repr_svg_() == figure.to_svg()
    with pytest.raises(ConfigurationError, match="columns"):
        plot_metric_boxes(table, by="no_such_column")
    with pytest.raises(ConfigurationError, match="none of the metrics"):
        plot_metric_boxes(table, metrics=["spearman"])


def test_ranking_curves_behind_the_row(evaluated):
    for row in evaluated:
        own = row["ranking_curves"]["explanation"]
        area = np.trapezoid(own["morf_curve"], own["fractions"]) / (own["p0"] * own["fractions"][-1])
        assert row["morf_auc"] == pytest.approx(area)
        assert row["random_lerf_auc"] == row["ranking_curves"]["random"]["lerf_auc"]


def test_deletion_curves_with_random_baseline(evaluated, tmp_path):
    pairs = [row["ranking_curves"] for row in evaluated]
    figure = plot_deletion_curves({"gradxinput": pairs, "gradxinput again": pairs[:1]})
    axes = figure.figure.axes
    assert [ax.get_title().split(":")[0] for ax in axes] == ["MoRF", "LeRF", "insertion"]
    lines = {line.get_label().split(" (")[0]: line for line in axes[0].get_lines()}
    expected = np.mean([np.divide(p["explanation"]["morf_curve"], p["explanation"]["p0"]) for p in pairs],
                       axis=0)
    np.testing.assert_allclose(lines["gradxinput"].get_ydata(), expected)
    # The two records' baselines, each once although the first record is given twice.
    baseline = np.mean([np.divide(p["random"]["morf_curve"], p["random"]["p0"]) for p in pairs], axis=0)
    np.testing.assert_allclose(lines["random baseline"].get_ydata(), baseline)
    assert "n=2" in lines["random baseline"].get_label()
    assert f"AUC {np.mean([r['morf_auc'] for r in evaluated]):.2f}" in lines["gradxinput"].get_label()
    png = figure.save(tmp_path / "curves.png", dpi=50)
    assert png_size(png)[0] > 100
    with pytest.raises(ConfigurationError, match="kinds"):
        plot_deletion_curves({"x": pairs}, kinds=["sideways"])


def test_stability_boxes(reference_model, reference_records, tmp_path):
    result = run_extra_beat_stability_experiment(reference_model, reference_records[0], AF, "gradxinput",
                                                 out_dir=tmp_path)
    table = pd.DataFrame([{k: result[k] for k in ("record", "target", "method", "spearman", "jaccard_at_k",
                                                  "rbo")}])
    figure = plot_metric_boxes(table, by="target")
    values = {ax.get_title(): scatter_values(ax) for ax in figure.figure.axes}
    assert values == {"stability: Spearman": [pytest.approx(result["spearman"])],
                      "stability: Jaccard@K": [pytest.approx(result["jaccard_at_k"])],
                      "stability: rank-biased overlap": [pytest.approx(result["rbo"])]}


# --- command line --------------------------------------------------------------------------------


def run(*args) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ECGXAI), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_cli_plot(gradient_payload, tmp_path):
    payload_file = tmp_path / "A0003.json"
    payload_file.write_text(gradient_payload.to_json())
    proc = run("plot", payload_file, "-o", tmp_path / "A0003.svg", "--topk", "3", "-q")
    assert proc.returncode == 0, proc.stderr
    from_cli = ET.parse(tmp_path / "A0003.svg").getroot()
    assert ET.tostring(from_cli) == ET.tostring(svg_root(plot_from_payload(gradient_payload, topk=3)))
    proc = run("plot", payload_file, "-o", tmp_path / "A0003.png", "--all-leads", "--dpi", "30", "-q")
    assert proc.returncode == 0, proc.stderr
    assert png_size(tmp_path / "A0003.png")[0] > 100
    help_text = run("plot", "--help").stdout
    assert "examples:" in help_text and "--all-leads" in help_text


def test_cli_plot_missing_record_exits_2(gradient_payload, tmp_path):
    payload_file = tmp_path / "gone.json"
    payload_file.write_text(dataclasses.replace(gradient_payload, mat_path="records/GONE1.mat").to_json())
    proc = run("plot", payload_file, "-o", tmp_path / "gone.svg", "--data-root", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("ecgxai plot: error:")
    assert "GONE1" in proc.stderr and not (tmp_path / "gone.svg").exists()
    not_payload = tmp_path / "table.json"
    not_payload.write_text(json.dumps({"rows": [1, 2]}))
    proc = run("plot", not_payload, "-o", tmp_path / "x.svg")
    assert proc.returncode == 2 and "not a single payload" in proc.stderr
