"""Beat windows and the original toolkit's R-peak detector, checked against the reference results."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ecgxai import config, preprocess_for_model, read_record
from ecgxai.classes import AFIB, RBBB, evaluation_region
from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.tokens import token_count
from ecgxai.signal.peaks_original import detect_r_peaks_original
from ecgxai.signal.windows import (
    DEFAULT_HR_BPM,
    DELINEATED_WINDOW_TYPES,
    WINDOW_TYPES,
    BeatContext,
    beat_context,
    beat_windows,
    delineated_windows,
    median_heart_rate,
    record_beat_context,
)

FS = 500.0
R_TIMES = [1.0, 2.0]


class _approx:  # noqa: N801 - reads like pytest.approx
    """Equal to a list of (start, end) windows within 1e-12 s."""

    def __init__(self, windows):
        self.windows = [tuple(w) for w in windows]

    def __eq__(self, other):
        other = [tuple(w) for w in other]
        flat = [v for w in self.windows for v in w]
        return [len(w) for w in other] == [len(w) for w in self.windows] and (
            [v for w in other for v in w] == pytest.approx(flat, abs=1e-12))

    def __repr__(self):
        return f"approx({self.windows})"


# --- beat_windows ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window_type", "expected"),
    [
        ("qrs_on", [(0.94, 0.99), (1.94, 1.99)]),
        ("qrs", [(0.95, 1.08), (1.95, 2.08)]),
        ("qrs_term", [(1.04, 1.16), (2.04, 2.16)]),
        ("stt", [(1.06, 1.20), (2.06, 2.20)]),
        ("tlate", [(1.20, 1.40), (2.20, 2.40)]),
        ("pace", [(0.99, 1.02), (1.99, 2.02)]),
        ("beat", [(0.70, 1.40), (1.70, 2.40)]),
    ],
)
def test_fixed_windows_by_hand(window_type, expected):
    assert beat_windows(R_TIMES, 60.0, window_type) == _approx(expected)
    # the heart rate only changes ``pre``
    assert beat_windows(R_TIMES, 120.0, window_type) == _approx(expected)


def test_pre_window_depends_on_heart_rate():
    assert beat_windows(R_TIMES, 60.0, "pre") == _approx([(0.78, 0.95), (1.78, 1.95)])
    assert beat_windows(R_TIMES, 99.9, "pre") == _approx([(0.78, 0.95), (1.78, 1.95)])
    assert beat_windows(R_TIMES, 120.0, "pre") == _approx([(0.82, 0.96), (1.82, 1.96)])
    assert beat_windows(R_TIMES, 100.0, "pre") == _approx([(0.82, 0.96), (1.82, 1.96)])


@pytest.mark.parametrize("code", ["164909002", "59118001", "713427006", "713426002", "698252002"])
def test_qrs_term_is_longer_for_conduction_delays(code):
    assert beat_windows(R_TIMES, 70.0, "qrs_term", code) == _approx([(1.04, 1.20), (2.04, 2.20)])
    assert beat_windows(R_TIMES, 70.0, "qrs_term", int(code)) == _approx([(1.04, 1.20), (2.04, 2.20)])


def test_qrs_term_is_standard_for_af_and_no_class():
    assert beat_windows(R_TIMES, 70.0, "qrs_term", AFIB) == _approx([(1.04, 1.16), (2.04, 2.16)])
    assert beat_windows(R_TIMES, 70.0, "qrs_term", None) == _approx([(1.04, 1.16), (2.04, 2.16)])
    # only qrs_term is class dependent
    assert beat_windows(R_TIMES, 70.0, "qrs", RBBB) == beat_windows(R_TIMES, 70.0, "qrs", AFIB)


def test_windows_are_clipped_to_the_record():
    # r = 0.1 s: [r - 0.30, r + 0.40] = [-0.2, 0.5] -> [0, 0.5]
    # r = 9.9 s in a 10 s record: [9.6, 10.3] -> [9.6, 10]
    assert beat_windows([0.1, 5.0, 9.9], 70.0, "beat", duration_sec=10.0) == _approx(
        [(0.0, 0.5), (4.7, 5.4), (9.6, 10.0)])
    # without a duration only the start is clipped (at 0)
    assert beat_windows([0.1, 9.9], 70.0, "beat") == _approx([(0.0, 0.5), (9.6, 10.3)])


def test_empty_windows_are_dropped_or_kept_as_zero_length():
    # pre at 60 bpm for r = 0.04: [-0.18, -0.01] lies before 0; stt for r = 9.95 s: [10.01, 10.15] after 10 s
    assert beat_windows([0.04, 1.0], 60.0, "pre", duration_sec=10.0) == _approx([(0.78, 0.95)])
    assert beat_windows([1.0, 9.95], 60.0, "stt", duration_sec=10.0) == _approx([(1.06, 1.20)])
    # one window per beat (the original's token count): the clipped-away ones have zero length
    kept = beat_windows([0.04, 1.0], 60.0, "pre", duration_sec=10.0, drop_empty=False)
    assert kept == _approx([(0.0, 0.0), (0.78, 0.95)])
    kept = beat_windows([1.0, 9.95], 60.0, "stt", duration_sec=10.0, drop_empty=False)
    assert kept == _approx([(1.06, 1.20), (10.0, 10.0)])
    assert beat_windows([], 60.0, "beat") == []


def test_window_type_and_arguments_are_checked():
    assert set(WINDOW_TYPES) == {"pre", "qrs_on", "qrs", "qrs_term", "stt", "tlate", "pace", "beat"}
    for bad in ("p_wave", "d_qrs", ""):
        with pytest.raises(ConfigurationError, match="window type"):
            beat_windows(R_TIMES, 70.0, bad)
    with pytest.raises(ConfigurationError):
        beat_windows(R_TIMES, float("nan"), "qrs")
    with pytest.raises(ConfigurationError):
        beat_windows(R_TIMES, 70.0, "qrs", duration_sec=-1.0)


# --- heart rate -------------------------------------------------------------------------------------


def test_median_heart_rate_by_hand():
    assert median_heart_rate([0, 400, 800, 1200], FS) == pytest.approx(75.0)  # RR 0.8 s
    # RR 0.1 s and 3.0 s are ignored, leaving 0.8 s and 0.8 s
    assert median_heart_rate([0, 50, 450, 850, 2350], FS) == pytest.approx(75.0)
    assert median_heart_rate([1200, 0, 800, 400], FS) == pytest.approx(75.0)  # order does not matter
    # RR 0.5 s, 1.0 s, 1.0 s -> median 1.0 s -> 60 bpm; the limits 0.2 s and 2.5 s are inclusive
    assert median_heart_rate([0, 250, 750, 1250], FS) == pytest.approx(60.0)
    assert median_heart_rate([0, 1250], FS) == pytest.approx(24.0)
    assert median_heart_rate([0, 100], FS) == pytest.approx(300.0)


def test_median_heart_rate_defaults_to_70():
    assert DEFAULT_HR_BPM == 70.0
    assert median_heart_rate([], FS) == 70.0
    assert median_heart_rate([1000], FS) == 70.0
    assert median_heart_rate([0, 20, 3000], FS) == 70.0  # RR 0.04 s and 5.96 s: none valid


# --- the original's R-peak detector on synthetic signals ------------------------------------------


def _synthetic(n_sec=10.0, rr=0.8, first=0.5, noise=0.02, seed=0, leads=config.STANDARD_LEADS):
    """Narrow Gaussian QRS-like spikes (sigma 10 ms) every ``rr`` seconds on II, V2, V3, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(n_sec * FS)) / FS
    beats = np.arange(first, n_sec - 0.1, rr)
    spikes = np.sum([np.exp(-0.5 * ((t - b) / 0.010) ** 2) for b in beats], axis=0)
    x = noise * rng.standard_normal((t.size, len(leads)))
    for name, amplitude in (("II", 1.0), ("V2", -0.8), ("V3", 1.2)):
        if name in leads:
            x[:, leads.index(name)] += amplitude * spikes
    return x, beats


def _assert_found(peaks, beats, tol_sec=0.010):
    assert len(peaks) == len(beats)
    assert np.max(np.abs(peaks / FS - beats)) <= tol_sec


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detector_finds_every_synthetic_spike(seed):
    x, beats = _synthetic(seed=seed)
    peaks = detect_r_peaks_original(x, FS, config.STANDARD_LEADS)
    assert peaks.dtype == np.int64 and np.all(np.diff(peaks) > 0)
    _assert_found(peaks, beats)


def test_detector_ignores_zero_padding_and_units():
    x, beats = _synthetic(n_sec=8.0)
    padded = np.vstack([x, np.zeros((1000, 12))])
    peaks = detect_r_peaks_original(x, FS, config.STANDARD_LEADS)
    np.testing.assert_array_equal(detect_r_peaks_original(padded, FS, config.STANDARD_LEADS), peaks)
    np.testing.assert_array_equal(detect_r_peaks_original(1000.0 * x, FS, config.STANDARD_LEADS), peaks)
    context = beat_context(padded, FS, config.STANDARD_LEADS)
    assert isinstance(context, BeatContext)
    assert context.duration_sec == pytest.approx(8.0)
    assert context.hr_bpm == pytest.approx(75.0)
    np.testing.assert_array_equal(context.r_peaks, peaks)
    assert context.n_beats == len(beats)
    assert token_count(context, ("pre", "beat")) == 12 * 2 * len(beats)


def test_detector_uses_only_its_leads_and_falls_back_to_the_most_varied_lead():
    x, beats = _synthetic()
    # spikes every 0.6 s on lead I only: ignored, because II, V2 and V3 exist
    x2 = x.copy()
    t = np.arange(x.shape[0]) / FS
    x2[:, 0] += 3.0 * np.sum([np.exp(-0.5 * ((t - b) / 0.01) ** 2) for b in np.arange(0.3, 9.9, 0.6)], axis=0)
    _assert_found(detect_r_peaks_original(x2, FS, config.STANDARD_LEADS), beats)
    # no lead named II, V2 or V3: the lead with the highest variance (the V3 column) is used
    names = [f"lead{k}" for k in range(12)]
    _assert_found(detect_r_peaks_original(x, FS, names), beats)
    # lower-case names match
    _assert_found(detect_r_peaks_original(x, FS, [n.lower() for n in config.STANDARD_LEADS]), beats)


def test_detector_on_degenerate_signals():
    names = config.STANDARD_LEADS
    assert detect_r_peaks_original(np.zeros((5000, 12)), FS, names).size == 0
    assert detect_r_peaks_original(np.ones((5000, 12)), FS, names).size == 0
    assert detect_r_peaks_original(np.ones((10, 12)), FS, names).size == 0
    x, _ = _synthetic()
    x[100:120, 1] = np.nan
    assert detect_r_peaks_original(x, FS, names).size > 0
    with pytest.raises(ConfigurationError):
        detect_r_peaks_original(x, FS, names[:11])
    with pytest.raises(ConfigurationError):
        detect_r_peaks_original(x, 0.0, names)
    context = beat_context(np.zeros((5000, 12)), FS, names)
    assert context.n_beats == 0 and context.hr_bpm == 70.0 and context.duration_sec == 0.0


# --- the reference records -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_rows(reference_dir: Path) -> list[dict[str, str]]:
    path = reference_dir / "seed-results" / "seed_eval_fused_priors_off.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def full_contexts(reference_records: list[Path]) -> dict[str, BeatContext]:
    """The original detector on every whole reference record (ADC units)."""
    return {path.stem: record_beat_context(path) for path in reference_records}


def test_reference_heart_rates_and_agreement_with_the_explainers_detector(reference_records, full_contexts):
    from ecgxai.signal.peaks import detect_r_peaks

    assert len(reference_records) == 70
    agree = 0
    for path in reference_records:
        context = full_contexts[path.stem]
        assert 30.0 <= context.hr_bpm <= 200.0, path.stem
        record = read_record(path)
        other = detect_r_peaks(record.to_units("adc"), record.fs, record.lead_names)
        agree += abs(context.n_beats - other.size) <= 1
    assert agree >= 0.9 * len(reference_records), agree


def test_reference_token_counts_match_the_original(reference_dir, seed_rows, full_contexts):
    """n_tokens of the original = 12 leads x beats x window types (AF: beat; sinus rhythm: pre).

    Reproduced on all 70 records with the detector on the whole record. The count includes
    windows clipped to nothing: HR01383's first R-peak is at 46 ms, so its ``pre`` window lies
    before 0, and still the original counts 11 beats (132 tokens).
    """
    assert len(seed_rows) == 70
    matched = []
    for row in seed_rows:
        context = full_contexts[row["record"]]
        region = evaluation_region(row["meta_code"])
        assert region.windows in (("beat",), ("pre",))
        n_tokens = int(row["n_tokens"])
        counted = 12 * sum(len(context.windows(kind, row["meta_code"])) for kind in region.windows)
        assert counted == token_count(context, region.windows)
        matched.append(counted == n_tokens)
    assert sum(matched) == 70, [row["record"] for row, ok in zip(seed_rows, matched, strict=True) if not ok]
    hr01383 = full_contexts["HR01383"]
    assert len(hr01383.windows("pre", drop_empty=True)) == hr01383.n_beats - 1


def test_reference_model_input_loses_beats_after_10_s(reference_dir, seed_rows, full_contexts):
    """On the model input (truncated to 5000 samples) the count matches only records up to 10 s."""
    for row in seed_rows[:: 5]:
        path = reference_dir / "records" / f"{row['record']}.mat"
        record = read_record(path)
        x = preprocess_for_model(path)
        peaks = detect_r_peaks_original(x, record.fs, record.lead_names)
        full = full_contexts[row["record"]]
        if record.n_samples <= x.shape[0]:
            np.testing.assert_array_equal(peaks, full.r_peaks)
        else:
            assert peaks.size <= full.n_beats
            np.testing.assert_array_equal(peaks[:-2], full.r_peaks[: max(0, peaks.size - 2)])


def test_delineated_windows_on_a_sinus_record(reference_dir):
    path = reference_dir / "records" / "HR00013.mat"
    record = read_record(path)
    x = preprocess_for_model(path)
    duration = record.n_samples / record.fs
    assert set(DELINEATED_WINDOW_TYPES) == {"d_p", "d_pr", "d_qrs", "d_st", "d_t"}
    n_beats = beat_context(x, record.fs, record.lead_names).n_beats
    for kind in DELINEATED_WINDOW_TYPES:
        windows = delineated_windows(x, record.fs, record.lead_names, kind)
        assert 0.5 * n_beats <= len(windows) <= n_beats, kind
        starts = np.array([s for s, _ in windows])
        ends = np.array([e for _, e in windows])
        assert np.all(ends > starts) and np.all(starts >= 0) and np.all(ends <= duration), kind
        assert np.all(starts[1:] >= ends[:-1]), kind  # in order, not overlapping
    qrs = np.array([e - s for s, e in delineated_windows(x, record.fs, record.lead_names, "d_qrs")])
    assert 0.060 <= np.median(qrs) <= 0.160
    with pytest.raises(ConfigurationError):
        delineated_windows(x, record.fs, record.lead_names, "qrs")


def test_reference_window_positions_reproduce_the_original_attauc(reference_dir, seed_rows, full_contexts):
    """The R-peak positions (not just their number) are the original's: scoring the original's fused
    payloads on these windows (token score = sum over the lead's spans of overlap x |weight|; strict or
    lenient lead as label; Mann-Whitney AUC) gives its strict and lenient AttAUC on all 70 records.
    (Refining the peaks on the absolute instead of the signed band-passed sum matches only 17.)"""
    import ast
    import json

    from scipy.stats import rankdata

    payloads = json.loads((reference_dir / "seed-results" / "seed_fused_payloads.json").read_text())

    def auc(scores: np.ndarray, labels: np.ndarray) -> float:
        ranks = rankdata(scores)
        n_pos, n_neg = int(labels.sum()), int((~labels).sum())
        return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

    matched = 0
    for row in seed_rows:
        code, context = row["meta_code"], full_contexts[row["record"]]
        region = evaluation_region(code)
        spans = payloads[code][row["record"]]["perlead_spans"]
        spans = ast.literal_eval(spans) if isinstance(spans, str) else spans
        windows = np.array([w for kind in region.windows for w in context.windows(kind, code)]).reshape(-1, 2)
        scores, strict, lenient = [], [], []
        for lead in config.STANDARD_LEADS:
            s = np.asarray(spans.get(lead, []), dtype=float).reshape(-1, 3)
            overlap = np.minimum(windows[:, 1:2], s[None, :, 1]) - np.maximum(windows[:, 0:1], s[None, :, 0])
            scores.append(np.clip(overlap, 0, None) @ np.abs(s[:, 2]))
            strict.append(np.full(len(windows), lead in region.strict_leads))
            lenient.append(np.full(len(windows), lead in region.lenient_leads))
        scores = np.concatenate(scores)
        matched += (
            auc(scores, np.concatenate(strict)) == pytest.approx(float(row["strict_attauc"]), abs=1e-9)
            and auc(scores, np.concatenate(lenient)) == pytest.approx(float(row["lenient_attauc"]), abs=1e-9)
        )
    assert matched == 70
