"""The HTML report of a run folder: its content, that it is self-contained, and how a real browser shows it.

One run folder is made here without the reference material (synthetic records written in
the Challenge format, LIME with a numpy classifier, the evaluator), another from the
reference records and model through the command line. Both reports are opened in
headless Chromium (the ``browser`` fixture of conftest: skipped with a reason when it or playwright
is missing; CI installs both).
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ecgxai.config import STANDARD_LEADS
from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.runs import evaluate_to_files, load_payload_files
from ecgxai.explain.runs import items_from_records, run_explanations
from ecgxai.io.manifest import file_sha256, manifest_path, read_manifest, update_manifest
from ecgxai.models.base import CallableClassifier
from ecgxai.report.ecg import ExplanationFigure
from ecgxai.report.html import build_report, render_report
from ecgxai.report.record_sections import shown_sections
from ecgxai.report.run_contents import load_run
from ecgxai.report.summary import QUESTIONS, Saturation, summary_rows
from ecgxai.synth.writer import write_challenge_record

ECGXAI = Path(sys.executable).with_name("ecgxai")
SR = "426783006"  # sinus rhythm: what the synthetic records show
FS, SECONDS = 500, 10
HOSTILE_LABEL = '<script>document.title="injected"</script>'


# --- a run folder made from scratch ---------------------------------------------------------------


def synthetic_ecg(rng: np.random.Generator, bpm: float) -> np.ndarray:
    """(time, 12) int16 at 1000 units/mV: Gaussian P, Q, R, S, T waves per beat, scaled per lead, noise."""
    t = np.arange(FS * SECONDS) / FS
    waves = [(-0.2, 0.025, 0.15), (-0.03, 0.01, -0.1), (0.0, 0.012, 1.0), (0.03, 0.01, -0.25),
             (0.3, 0.05, 0.3)]  # (offset from R s, width s, height mV) of P, Q, R, S, T
    trace = np.zeros_like(t)
    for r_peak in np.arange(0.4, SECONDS, 60 / bpm):
        for offset, width, height in waves:
            trace += height * np.exp(-0.5 * ((t - r_peak - offset) / width) ** 2)
    mv = trace[:, None] * np.linspace(-0.6, 1.4, 12)[None, :] + 0.01 * rng.standard_normal((len(t), 12))
    return np.round(mv * 1000).astype(np.int16)


def sinus_probability(x: np.ndarray) -> np.ndarray:
    """A stand-in classifier: sinus rhythm the likelier the more energy leads II and V1 carry."""
    energy = np.mean(x[:, :, [1, 6]] ** 2, axis=(1, 2))
    p = 1 - np.exp(-energy / 0.01)
    return np.stack([p, 1 - p], axis=1)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory) -> Path:
    """Two synthetic records explained (LIME) and evaluated; plus a payload whose record file is gone
    (its label is hostile markup) and a payload file that is not JSON. Its run.json removed."""
    run = tmp_path_factory.mktemp("synthetic_run")
    (run / "records").mkdir()
    rng = np.random.default_rng(0)
    records = [write_challenge_record(run / "records", f"SYN{i:03d}", synthetic_ecg(rng, bpm), fs=FS,
                                      lead_names=STANDARD_LEADS, gain=[1000] * 12, baseline=[0] * 12,
                                      comments=[f"Dx: {SR}"]) for i, bpm in enumerate((60, 80))]
    classifier = CallableClassifier(sinus_probability, class_names=[SR, "164889003"], n_leads=12,
                                    input_length=FS * SECONDS, units="mV", lead_names=STANDARD_LEADS)
    run_explanations(classifier, items_from_records(records, [SR]), "lime", run,
                     params={"m_event": 30, "m_feat": 30}, seed=3, progress=False)
    folder = run / "payloads" / "lime" / SR
    gone = json.loads((folder / "SYN000.json").read_text())
    gone.update(mat_path=str(run / "records" / "GONE.mat"), record="GONE", method_label=HOSTILE_LABEL)
    (folder / "GONE.json").write_text(json.dumps(gone))
    evaluate_to_files(load_payload_files([run / "payloads"]), classifier, run / "metrics.csv", seed=3,
                      progress=False)
    (folder / "BROKEN.json").write_text('{"perlead_spans": ')
    manifest_path(run).unlink()  # as a folder written before every step recorded itself
    return run


@pytest.fixture(scope="module")
def synthetic_report(synthetic_run) -> str:
    path = build_report(synthetic_run, synthetic_run / "out" / "report.html")
    return path.read_text()


# --- reading the page back -------------------------------------------------------------------------


class PageIndex(HTMLParser):
    """Ids, links, resource URLs and tag counts of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.resources: list[str] = []
        self.tags: dict[str, int] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        self.resources.extend(v for k, v in attrs if k in ("src", "href", "xlink:href") and v)


def sections(text: str) -> dict[str, str]:
    """Each record section's HTML by its id."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<section class="record" id="([^"]+)">.*?</section>',
                                                         text, flags=re.S)}


def assert_self_contained(text: str) -> PageIndex:
    page = PageIndex(text)
    remote = [url for url in page.resources if not url.startswith(("#", "data:"))]
    assert remote == [], f"the page loads resources from outside itself: {remote[:3]}"
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), "CSS pulls a remote resource"
    assert page.tags.get("script", 0) == 0 and page.tags.get("link", 0) == 0
    dangling = [link for link in page.links if link.lstrip("#") not in page.ids]
    assert dangling == [], f"links to missing anchors: {dangling}"
    return page


# --- content -----------------------------------------------------------------------------------------


def test_report_shows_every_record_its_figure_metrics_and_errors(synthetic_run, synthetic_report):
    page = assert_self_contained(synthetic_report)
    by_id = sections(synthetic_report)
    assert sorted(by_id) == [f"{SR}-{name}" for name in ("BROKEN", "GONE", "SYN000", "SYN001")]
    assert page.tags["img"] == 2 and synthetic_report.count('src="data:image/png;base64,') == 2
    assert page.tags["svg"] == 3  # inline: the first screen's figure, the comparison per class, the box plots

    run = load_run(synthetic_run)
    metrics = run.metrics.set_index("record")
    for name in ("SYN000", "SYN001"):
        section = by_id[f"{SR}-{name}"]
        explanation = next(e.explanation for e in run.entries if e.record == name)
        n_spans = sum(map(len, explanation.perlead_spans.values()))
        assert "<img" in section and 'class="error"' not in section
        assert f"{metrics.loc[name, 'strict_attauc']:.3f}" in section
        assert f"p = {metrics.loc[name, 'probability']:.3f} · " in section
        assert f"top leads:</b> {', '.join(explanation.top5_leads)}" in section
        assert f"{n_spans} spans (windows) on {len(explanation.leads)} leads" in section
    assert 'class="error">No figure for GONE' in by_id[f"{SR}-GONE"] and "GONE.mat" in by_id[f"{SR}-GONE"]
    assert 'class="error">cannot read payload BROKEN.json' in by_id[f"{SR}-BROKEN"]
    assert "1 payload(s) could not be evaluated: GONE" in synthetic_report

    assert "has no run.json" in synthetic_report
    assert "sinus rhythm (426783006)" in synthetic_report
    assert "m_event=30" in synthetic_report  # explainer settings inferred from the payloads


def test_text_from_payloads_is_escaped(synthetic_report):
    assert HOSTILE_LABEL not in synthetic_report
    assert "&lt;script&gt;document.title=&quot;injected&quot;&lt;/script&gt;" in synthetic_report


def test_report_answers_first_then_details_then_settings(synthetic_report):
    order = [synthetic_report.index(f'id="{name}"') for name in ("answer", "contents", "metrics", "records",
                                                                   "settings")]
    assert order == sorted(order)
    answer = re.search(r'<section id="answer">(.*?)</section>', synthetic_report, flags=re.S).group(1)
    assert answer.count("<svg") == 1 and "<img" not in answer
    for question in QUESTIONS[:2]:
        assert f"<td>{question.text}</td>" in answer
    assert "MoRF deletion area (most relevant first); lower is better; chance: a random map" in answer
    assert "AttAUC, strict leads; higher is better; chance: 0.5" in answer
    assert "seconds: explanation seconds (this run timed no forward pass); lower is cheaper" in answer
    assert "_auc" not in answer  # names written out, not column names
    record = sections(synthetic_report)[f"{SR}-SYN000"]
    parts = ("<img", '<p class="keys">', "<details><summary>All metrics and spans")
    assert [record.index(part) for part in parts] == sorted(record.index(part) for part in parts)


def overall(**metrics: list[float]) -> pd.DataFrame:
    """The rows over all classes of a comparison table of methods a and b."""
    return pd.DataFrame({"method": ["a", "b"], "meta_code": "all", "class_name": "all classes", "n": 3,
                         "seconds_per_record": [1.0, 2.0], "evaluations_per_record": [10.0, 20.0],
                         "forward_equivalents_per_record": [5.0, 40.0], **metrics})


def test_summary_names_a_method_only_when_the_numbers_allow():
    table = overall(morf_auc=[0.3, 0.5], random_morf_auc=[0.8, 0.8], strict_attauc=[0.6, 0.6],
                    gt_auroc=[0.45, 0.4], random_gt_auroc=[0.5, 0.5])
    answers = {row[0]: row[1] for row in summary_rows(table, Saturation(2, 6))}
    assert answers == {"Most faithful on this model": "a: 0.300 (chance 0.800)",
                       "Closest to clinical regions": "no difference: every method reads 0.600",
                       "Finds the planted evidence":
                           "none beats chance: the best, a, reads 0.450 (chance 0.500)",
                       "Cost per record": "cheapest: a (5 forward passes)"}
    saturated = {row[0]: row[1] for row in summary_rows(table, Saturation(4, 6))}
    assert saturated["Most faithful on this model"].startswith("not decided: 4 of 6 explanations are of a "
                                                                "saturated model (p > 0.99)")
    assert saturated["Closest to clinical regions"] == answers["Closest to clinical regions"]  # not a ranking
    untimed = summary_rows(table.assign(forward_equivalents_per_record=math.nan), Saturation(0, 6))
    assert untimed[-1][1] == "cheapest: a (1 s)" and untimed[-1][3].startswith("seconds: ")
    slow = summary_rows(table.assign(forward_equivalents_per_record=[2110.4, 2550.0]), Saturation(0, 6))
    assert slow[-1][1] == "cheapest: a (2,110 forward passes)"


def test_summary_names_the_method_furthest_beyond_its_own_chance_level():
    """a's map is coarser and its random map already reads 0.59: b, 0.10 above its chance, is named."""
    table = overall(morf_auc=[0.3, 0.2], random_morf_auc=[0.8, 0.4], strict_attauc=[0.6, 0.6],
                    gt_auroc=[0.62, 0.60], random_gt_auroc=[0.59, 0.50])
    answers = {row[0]: row[1] for row in summary_rows(table, Saturation(0, 6))}
    assert answers["Finds the planted evidence"] == "b: 0.600 (chance 0.500)"
    assert answers["Most faithful on this model"] == "a: 0.300 (chance 0.800)"  # 0.5 below chance vs 0.2


def test_payloads_without_metrics_are_listed_not_drawn(synthetic_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(synthetic_run, run)
    part = json.loads((run / "payloads" / "lime" / SR / "SYN000.json").read_text()) | {"method_label": "part"}
    (run / "payloads" / "part" / SR).mkdir(parents=True)
    (run / "payloads" / "part" / SR / "SYN000.json").write_text(json.dumps(part))
    section = sections(render_report(load_run(run), max_records=3))[f"{SR}-SYN000"]
    assert section.count("<img") == 1 and 'id="426783006-SYN000-part"' not in section
    assert "Also explained, not evaluated, so not drawn: part." in section


def test_max_records_limits_sections_with_a_note(synthetic_run):
    text = render_report(load_run(synthetic_run), max_records=1)
    assert list(sections(text)) == [f"{SR}-BROKEN"]
    assert "3 more record &times; class sections not shown" in text
    assert "<img" not in text and 'href="#426783006-SYN000"' not in text
    assert_self_contained(text)


def test_record_limit_takes_every_class_in_turn():
    keys = [("AF", "A3"), ("AF", "A1"), ("SR", "S1"), ("AF", "A2"), ("SR", "S2"), ("PAC", "P1")]
    assert shown_sections(keys, 4) == [("AF", "A1"), ("AF", "A2"), ("PAC", "P1"), ("SR", "S1")]
    assert shown_sections(keys, 1) == [("AF", "A1")]
    assert shown_sections(keys, None) == sorted(keys) == shown_sections(keys, 10)


def test_charts_fall_back_to_inline_svg_without_png_export(synthetic_run, monkeypatch):
    def no_cairo(self, path, *, dpi=150):
        raise ConfigurationError("PNG export needs CairoSVG")

    monkeypatch.setattr(ExplanationFigure, "save", no_cairo)
    by_id = sections(render_report(load_run(synthetic_run), max_records=3))
    assert "<svg" in by_id[f"{SR}-SYN000"] and "<img" not in by_id[f"{SR}-SYN000"]


def test_manifest_settings_are_shown(synthetic_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(synthetic_run, run)
    update_manifest(run, "explain", {"lime": {"model": "model.h5", "model_sha256": "ab" * 32, "seed": 3}})
    update_manifest(run, "evaluate", {"metrics.csv": {"out": "metrics.csv", "priors": False}})
    text = render_report(load_run(run), max_records=0)
    assert "has no run.json" not in text
    assert "ab" * 32 in text and "model.h5" in text
    assert re.search(r"<h3>environment.*?numpy", text, flags=re.S)
    assert "Tables: metrics.csv" in text


def test_a_folder_without_payloads_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="no payloads found"):
        build_report(tmp_path)


def test_report_command_help_and_bad_folder(tmp_path):
    shown = subprocess.run([str(ECGXAI), "report", "--help"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "examples:" in shown.stdout and "--max-records" in shown.stdout
    proc = subprocess.run([str(ECGXAI), "report", str(tmp_path / "missing")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "no such run folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# --- a real run through the command line ------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_run(reference_dir, reference_records, tmp_path_factory) -> tuple[Path, Path]:
    """Two reference records explained (gradxinput) and evaluated; returns (run folder, report)."""
    run = tmp_path_factory.mktemp("reference_run")
    model = ["--model", reference_dir / "model" / "resnet_final_weights.h5", "--architecture",
             "physionet2020_resnet", "--classes", reference_dir / "snomed_classes.txt", "--quiet"]
    steps = [["explain", *reference_records[:2], *model, "--method", "gradxinput", "--targets", "164889003",
              "--out", run],
             ["evaluate", run / "payloads", *model, "--out", run / "metrics.csv"],
             ["report", run, "-o", run / "report.html", "--quiet"]]
    for step in steps:
        proc = subprocess.run([str(ECGXAI), *map(str, step)], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(run / "report.html")
    return run, run / "report.html"


@pytest.mark.keras
def test_reference_run_report(reference_run, reference_dir, reference_records):
    run, report = reference_run
    manifest = read_manifest(run)
    evaluated = manifest["evaluate"]["metrics.csv"]
    assert evaluated["out"] == "metrics.csv" and evaluated["rows"] == 2 and evaluated["priors"] is False
    sha = file_sha256(reference_dir / "model" / "resnet_final_weights.h5")
    assert evaluated["model_sha256"] == manifest["explain"]["gradxinput"]["model_sha256"] == sha
    text = report.read_text()
    assert_self_contained(text)
    assert sha in text and "physionet2020_resnet" in text
    assert sorted(sections(text)) == [f"164889003-{r.stem}" for r in reference_records[:2]]
    assert text.count("<img") == 2 and 'class="error"' not in text


# --- in a browser ------------------------------------------------------------------------------------


def render_in_browser(browser, report: Path) -> tuple[bytes, list[str], list[str], bool]:
    """Open the report from disk; return (full-page screenshot, console errors, requested URLs,
    whether every image decoded)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.resolve().as_uri(), wait_until="load")
    images_ok = page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    title = page.title()
    shot = page.screenshot(full_page=True)
    page.close()
    assert "injected" not in title
    return shot, errors, requests, images_ok


def assert_drawn(png: bytes) -> None:
    """Not a blank page: many colours, and a fair share of pixels clearly darker than the paper."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 24)
    inked = sum(count for count, rgb in colours if min(rgb) < 200) / (image.width * image.height)
    assert image.height > 2000, f"page is only {image.height} px tall"
    assert len(colours) > 200, f"only {len(colours)} distinct colours"
    assert inked > 0.02, f"only {inked:.1%} of the page is drawn"


def test_synthetic_report_in_browser(browser, first_screen, synthetic_run, synthetic_report):
    report = synthetic_run / "out" / "report.html"
    shot, errors, requests, images_ok = render_in_browser(browser, report)
    assert errors == []
    assert requests == [report.resolve().as_uri()]
    assert images_ok
    assert_drawn(shot)
    boxes = first_screen(report)
    assert all(box is not None and 0 < box[0] < box[1] <= 900 for box in boxes.values()), boxes


@pytest.mark.keras
def test_reference_report_in_browser(browser, reference_run):
    _, report = reference_run
    shot, errors, requests, images_ok = render_in_browser(browser, report)
    assert errors == [] and requests == [report.resolve().as_uri()] and images_ok
    assert_drawn(shot)


def test_blank_page_fails_the_drawn_check(browser, tmp_path):
    """The screenshot check itself: an empty page does not pass."""
    (tmp_path / "blank.html").write_text("<!DOCTYPE html><html><body></body></html>")
    shot, errors, _, _ = render_in_browser(browser, tmp_path / "blank.html")
    assert errors == []
    with pytest.raises(AssertionError):
        assert_drawn(shot)
