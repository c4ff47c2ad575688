"""ecgxai.synth: planted diagnoses are checked by MEASURING the generated signals, not by reading
the generator's parameters.

Measurements, all independent of the generator:

- R peaks: neurokit2 ``ecg_peaks`` on every lead, kept where at least 4 leads agree and the 12-lead
  slope is QRS-like (a single lead misses wide PVCs whose QRS points down, and neurokit2 takes tall
  T waves for beats at low heart rates);
- P onsets and PR intervals: neurokit2 ``ecg_delineate(method="dwt")`` on lead II;
- QRS onset and offset: where the 12-lead spatial velocity (norm of the band-passed derivative)
  exceeds 15 % of its peak around each R peak. neurokit2's own QRS bounds are not usable for this:
  its DWT method returns NaN offsets for most wide complexes and ~190 ms for narrow ones in V1-V5,
  its ``prominence`` method measures LBBB complexes as 76 ms.

Several seeds per class and medians keep the tests stable, while a generator that planted the wrong
rate, PR, QRS width, rhythm or morphology would fail them.
"""

from __future__ import annotations

import itertools
import json
import time
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.signal
import wfdb

from ecgxai.config import STANDARD_LEADS
from ecgxai.errors import ConfigurationError, GroundTruthError, MissingGroundTruthError, UnknownClassError
from ecgxai.io import read_record
from ecgxai.synth import (
    SYNTH_CODES,
    SYNTH_DESCRIPTIONS,
    GroundTruth,
    generate_dataset,
    generate_ecg,
    load_mask,
    read_ground_truth,
    record_seed,
    write_synthetic,
)

nk = pytest.importorskip("neurokit2")

FS = 500
SEEDS = (0, 1, 2, 3, 4)
NSR, SB, STACH, AF, IAVB, RBBB, LBBB, PVC = (
    "426783006", "426177001", "427084000", "164889003", "270492004", "59118001", "164909002", "427172004",
)
LEAD = {name: i for i, name in enumerate(STANDARD_LEADS)}


# --- measuring a 12-lead signal -------------------------------------------------------------------


def ms(samples: float) -> float:
    """Samples to milliseconds."""
    return float(samples) * 1000 / FS


def clean_leads(signal: np.ndarray) -> np.ndarray:
    """neurokit2's standard cleaning of every lead (0.5 Hz high-pass, mains notch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.stack([nk.ecg_clean(signal[:, j], sampling_rate=FS) for j in range(signal.shape[1])], 1)


def spatial_velocity(signal: np.ndarray) -> np.ndarray:
    """Norm over leads of the 0.5-40 Hz band-passed first difference (large only inside QRS)."""
    b, a = scipy.signal.butter(2, [0.5, 40], btype="band", fs=FS)
    filtered = scipy.signal.filtfilt(b, a, signal, axis=0)
    return np.linalg.norm(np.diff(filtered, axis=0, prepend=filtered[:1]), axis=1)


def consensus_r_peaks(clean: np.ndarray, velocity: np.ndarray, min_leads: int = 4) -> np.ndarray:
    """R peaks that neurokit2 finds in at least ``min_leads`` leads (within +-60 ms), best supported
    first, at least 250 ms apart, and with a QRS-like slope (T and P waves are far slower)."""
    found = []
    for j in range(clean.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, info = nk.ecg_peaks(clean[:, j], sampling_rate=FS)
        found += [(int(p), j) for p in info["ECG_R_Peaks"]]
    where = np.array([p for p, _ in found])
    lead = np.array([j for _, j in found])
    near = [np.abs(where - p) <= 0.06 * FS for p in where]
    support = np.array([len(set(lead[m])) for m in near])
    peaks: list[int] = []
    for i in np.argsort(-support, kind="stable"):
        centre = int(np.median(where[near[i]]))
        if support[i] >= min_leads and all(abs(centre - p) > 0.25 * FS for p in peaks):
            peaks.append(centre)
    out = np.array(sorted(peaks))
    half = int(0.08 * FS)
    strength = np.array([velocity[max(0, p - half):p + half].max() for p in out])
    out = out[strength >= 0.3 * np.percentile(strength, 90)]
    return out[(out > 0.15 * FS) & (out < clean.shape[0] - 0.15 * FS)]


def qrs_bounds(velocity: np.ndarray, peaks: np.ndarray, frac: float = 0.15) -> np.ndarray:
    """(n_beats, 2) QRS [onset, offset) samples: the span around each peak where the spatial velocity
    stays above ``frac`` of its local maximum (dips shorter than 20 ms, e.g. at notches, bridged)."""
    gap = int(0.02 * FS)
    out = []
    for r in peaks:
        lo, hi = max(0, r - int(0.15 * FS)), min(velocity.size, r + int(0.2 * FS))
        window = velocity[lo:hi]
        top = int(np.argmax(window))
        above = window > frac * window[top]
        start = top
        while start > 0 and above[max(0, start - gap):start].any():
            start -= 1
        end = top
        while end < window.size - 1 and above[end + 1:end + 1 + gap].any():
            end += 1
        out.append((lo + start, lo + end + 1))
    return np.array(out)


def p_onsets(clean_lead: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """P-wave onsets found by neurokit2's DWT delineation of one lead (NaN where it finds none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, waves = nk.ecg_delineate(clean_lead, peaks, sampling_rate=FS, method="dwt")
    return np.asarray(waves["ECG_P_Onsets"], float)


def pr_intervals_ms(m: Measured, lead: str = "II") -> np.ndarray:
    """PR interval (ms) of each beat: neurokit2's P onset in ``lead`` to the measured QRS onset.

    (neurokit2's own DWT QRS onset often lands on the P wave's down-slope, so it is not used.)
    """
    onsets = p_onsets(m.clean[:, LEAD[lead]], m.peaks)
    onsets = onsets[np.isfinite(onsets)]
    out = []
    for qrs_on in m.bounds[:, 0]:
        before = onsets[(onsets < qrs_on - 0.04 * FS) & (onsets > qrs_on - 0.45 * FS)]
        if before.size:
            out.append(ms(qrs_on - before.max()))
    return np.array(out)


def p_wave_coherence(lead: np.ndarray, peaks: np.ndarray) -> float:
    """How much of the pre-QRS window (250-70 ms before R) repeats from beat to beat: energy of the
    average segment over the average segment energy. A real P wave repeats (~1); f waves do not."""
    a, b = int(0.25 * FS), int(0.07 * FS)
    segments = np.array([lead[p - a:p - b] for p in peaks if p - a >= 0])
    segments = segments - segments.mean(axis=1, keepdims=True)
    return float(np.sum(segments.mean(axis=0) ** 2) / np.mean(np.sum(segments**2, axis=1)))


def f_wave_rms(lead: np.ndarray, peaks: np.ndarray) -> float:
    """RMS (mV) of the beat-to-beat varying 4-9 Hz activity 300-60 ms before each R: f waves vary,
    a P wave (or a T wave at a steady rate) repeats and is removed with the average segment."""
    b, a = scipy.signal.butter(2, [4, 9], btype="band", fs=FS)
    band = scipy.signal.filtfilt(b, a, lead)
    start, stop = int(0.30 * FS), int(0.06 * FS)
    segments = np.array([band[p - start:p - stop] for p in peaks if p - start >= 0])
    return float(np.sqrt(np.mean((segments - segments.mean(axis=0)) ** 2)))


@dataclass(frozen=True)
class Measured:
    """What the measurements say about one record."""

    peaks: np.ndarray
    bounds: np.ndarray
    clean: np.ndarray

    @property
    def rr(self) -> np.ndarray:
        """RR intervals (s)."""
        return np.diff(self.peaks) / FS

    @property
    def heart_rate(self) -> float:
        """Heart rate (bpm) from the median RR."""
        return 60.0 / float(np.median(self.rr))

    @property
    def rr_cv(self) -> float:
        """Coefficient of variation of the RR intervals."""
        return float(np.std(self.rr) / np.mean(self.rr))

    @property
    def qrs_ms(self) -> np.ndarray:
        """QRS duration of every beat (ms)."""
        return (self.bounds[:, 1] - self.bounds[:, 0]) * 1000 / FS

    def baseline(self, lead: str, beat: int) -> float:
        """Isoelectric level just before a beat's QRS (median of the 16 ms before onset)."""
        on = self.bounds[beat, 0]
        return float(np.median(self.clean[max(0, on - 8):on, LEAD[lead]]))

    def qrs(self, lead: str, beat: int) -> np.ndarray:
        """A beat's QRS in one lead, relative to its baseline (mV)."""
        on, off = self.bounds[beat]
        return self.clean[on:off, LEAD[lead]] - self.baseline(lead, beat)

    def terminal_peak(self, lead: str, beat: int) -> float:
        """Largest positive deflection in the second half of the QRS (mV): an R' wave."""
        x = self.qrs(lead, beat)
        return float(x[x.size // 2:].max())

    def terminal_s_ms(self, lead: str, beat: int, level: float = 0.08) -> float:
        """Time (ms) spent below -level mV in the second half of the QRS: a wide, slurred S wave."""
        x = self.qrs(lead, beat)
        return ms(np.sum(x[x.size // 2:] < -level))

    def qrs_area(self, lead: str, beat: int) -> float:
        """Net QRS area (mV*s): its sign is the QRS's main direction in that lead."""
        return float(self.qrs(lead, beat).sum() / FS)

    def t_mean(self, lead: str, beat: int) -> float:
        """Mean level (mV) 60-300 ms after QRS offset: the ST-T's direction."""
        off = self.bounds[beat, 1]
        seg = self.clean[off + int(0.06 * FS):off + int(0.3 * FS), LEAD[lead]]
        return float(seg.mean() - self.baseline(lead, beat))


def measure(signal: np.ndarray) -> Measured:
    """Locate beats and QRS boundaries in a (n_samples, 12) mV signal."""
    clean = clean_leads(signal)
    velocity = spatial_velocity(signal)
    peaks = consensus_r_peaks(clean, velocity)
    return Measured(peaks=peaks, bounds=qrs_bounds(velocity, peaks), clean=clean)


@cache
def ecg(code: str, seed: int):
    """Generated once per session."""
    return generate_ecg(code, seed)


@cache
def measured(code: str, seed: int) -> Measured:
    """Measured once per session."""
    return measure(ecg(code, seed).signal)


def median_over_seeds(code: str, fn) -> float:
    """Median of a per-record statistic over SEEDS."""
    return float(np.median([fn(measured(code, s)) for s in SEEDS]))


def median_beat_stat(m: Measured, fn) -> float:
    """Median of a per-beat statistic over a record's beats."""
    return float(np.median([fn(i) for i in range(len(m.peaks))]))


# --- rate, rhythm and intervals -------------------------------------------------------------------


def test_heart_rate_class_of_every_seed():
    for seed in SEEDS:
        assert measured(SB, seed).heart_rate < 58
        assert 60 < measured(NSR, seed).heart_rate < 100
        assert measured(STACH, seed).heart_rate > 103
        assert 50 < measured(IAVB, seed).heart_rate < 90


def test_sinus_rr_is_regular_af_rr_is_irregular():
    for code in (NSR, SB, STACH, IAVB, RBBB, LBBB):
        assert median_over_seeds(code, lambda m: m.rr_cv) < 0.07, code
    assert median_over_seeds(AF, lambda m: m.rr_cv) > 0.12
    # irregularly irregular: successive RR differences are large, not only the overall spread
    rmssd = [np.sqrt(np.mean(np.diff(measured(AF, s).rr) ** 2)) / np.mean(measured(AF, s).rr) for s in SEEDS]
    assert np.median(rmssd) > 0.15


def test_pr_interval_prolonged_only_in_first_degree_av_block():
    pr = {code: median_over_seeds(code, lambda m: np.median(pr_intervals_ms(m)))
          for code in (NSR, SB, STACH, IAVB, RBBB, LBBB)}
    assert pr[IAVB] > 220, pr
    for code in (NSR, SB, STACH, RBBB, LBBB):
        assert 100 < pr[code] < 200, pr


def test_af_has_no_repeating_p_wave_but_fibrillatory_baseline():
    coherence = {code: median_over_seeds(code, lambda m: p_wave_coherence(m.clean[:, LEAD["II"]], m.peaks))
                 for code in (AF, NSR, IAVB)}
    assert coherence[AF] < 0.35 and coherence[NSR] > 0.6 and coherence[IAVB] > 0.6, coherence
    fwaves = {code: median_over_seeds(code, lambda m: f_wave_rms(m.clean[:, LEAD["V1"]], m.peaks))
              for code in (AF, NSR, SB)}
    assert fwaves[AF] > 3 * max(fwaves[NSR], fwaves[SB]), fwaves


# --- QRS width and morphology ---------------------------------------------------------------------


def test_qrs_narrow_without_conduction_defect_wide_in_bundle_branch_block():
    for code in (NSR, SB, STACH, AF, IAVB):
        assert median_over_seeds(code, lambda m: np.median(m.qrs_ms)) < 110, code
    for code in (RBBB, LBBB):
        widths = [np.median(measured(code, s).qrs_ms) for s in SEEDS]
        assert np.median(widths) >= 125 and min(widths) >= 120, (code, widths)


def test_rbbb_rsr_prime_in_v1_and_wide_s_in_lateral_leads():
    def r_prime(m: Measured) -> float:
        return median_beat_stat(m, lambda i: m.terminal_peak("V1", i))

    assert median_over_seeds(RBBB, r_prime) > 0.3
    for code in (NSR, LBBB):  # LBBB's discordant ST elevation may lift the end of the V1 QRS a little
        assert median_over_seeds(code, r_prime) < 0.15, code
    for lead in ("I", "V6"):
        def s_width(m: Measured, lead: str = lead) -> float:
            return median_beat_stat(m, lambda i: m.terminal_s_ms(lead, i))

        rbbb, nsr = median_over_seeds(RBBB, s_width), median_over_seeds(NSR, s_width)
        assert rbbb >= 35 and nsr < 20, (lead, rbbb, nsr)


def test_rbbb_v1_r_prime_is_a_second_positive_wave():
    """rSR': the V1 QRS has two positive peaks separated by an S (negative) trough."""
    hits = []
    for seed in SEEDS:
        m = measured(RBBB, seed)
        for i in range(len(m.peaks)):
            x = m.qrs("V1", i)
            tops, _ = scipy.signal.find_peaks(x, prominence=0.1)
            hits.append(len(tops) >= 2 and x[tops[0]:tops[-1]].min() < 0)
    assert np.mean(hits) > 0.8


def test_lbbb_negative_v1_positive_lateral_and_discordant_t():
    def stat(code: str, fn) -> float:
        return median_over_seeds(code, lambda m: median_beat_stat(m, lambda i: fn(m, i)))

    assert stat(LBBB, lambda m, i: m.qrs_area("V1", i)) < 0
    assert stat(LBBB, lambda m, i: m.qrs_area("V6", i)) > 0
    assert stat(LBBB, lambda m, i: m.qrs_area("I", i)) > 0
    # discordant ST-T: opposite to the QRS in V1 and V6; concordant (upright in V6) without LBBB
    assert stat(LBBB, lambda m, i: m.t_mean("V6", i)) < -0.05
    assert stat(LBBB, lambda m, i: m.t_mean("V1", i)) > 0.05
    assert stat(NSR, lambda m, i: m.t_mean("V6", i)) > 0.05
    # no septal q in V6: the first 20 ms of the QRS does not dip below baseline
    assert stat(LBBB, lambda m, i: m.qrs("V6", i)[:10].min()) > -0.05


def test_pvc_wide_early_beats_with_compensatory_pause():
    n_wide, wide_widths, narrow_widths = [], [], []
    for seed in SEEDS:
        m = measured(PVC, seed)
        widths = m.qrs_ms
        wide = np.nonzero(widths >= 120)[0]
        n_wide.append(wide.size)
        wide_widths += list(widths[wide])
        narrow_widths += list(np.delete(widths, wide))
        median_rr = np.median(m.rr)
        for i in wide:
            assert 0 < i < len(m.peaks) - 1, "a PVC at the record edge"
            before, after = m.rr[i - 1], m.rr[i]
            assert before < 0.8 * median_rr and after > 1.2 * median_rr, (seed, before, after, median_rr)
            assert abs(before + after - 2 * median_rr) < 0.15 * median_rr, "pause not compensatory"
    assert all(1 <= n <= 3 for n in n_wide), n_wide
    assert np.median(wide_widths) >= 130 and np.median(narrow_widths) < 110
    # the other rhythms have no wide beat at all
    for code in (NSR, SB, IAVB):
        assert all(np.all(measured(code, s).qrs_ms < 120) for s in SEEDS), code


def test_limb_leads_obey_einthoven():
    sig = ecg(RBBB, 0).signal.astype(np.float64)
    lead = {n: sig[:, i] for n, i in LEAD.items()}
    assert np.allclose(lead["III"], lead["II"] - lead["I"], atol=1e-5)
    assert np.allclose(lead["aVR"] + lead["aVL"] + lead["aVF"], 0, atol=1e-5)


def test_amplitudes_are_physiological():
    for code in SYNTH_CODES:
        sig = ecg(code, 1).signal
        assert 0.5 < np.ptp(sig[:, LEAD["II"]]) < 4.0, code
        assert np.abs(sig).max() < 5.0, code


# --- ground-truth masks ---------------------------------------------------------------------------


def mask_intervals(mask_row: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a boolean row, as [start, end)."""
    edges = np.diff(np.concatenate([[0], mask_row.astype(int), [0]]))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True))


def test_mask_shape_leads_and_union():
    for code in SYNTH_CODES:
        e = ecg(code, 0)
        m = e.mask(code)
        assert m.shape == (12, 5000) and m.dtype == bool
        assert np.array_equal(e.mask(), m)  # one code per record: union == that code
        assert not e.mask(NSR if code != NSR else AF).any()  # a code the record lacks has no evidence
    leads = {code: {STANDARD_LEADS[j] for j in np.nonzero(ecg(code, 0).mask().any(1))[0]}
             for code in SYNTH_CODES}
    assert leads[RBBB] == {"I", "aVL", "V1", "V2", "V5", "V6"}
    assert leads[LBBB] == {"I", "aVL", "V1", "V2", "V5", "V6"}
    assert leads[AF] == {"II", "V1"}
    assert leads[IAVB] == set(STANDARD_LEADS) and leads[PVC] == set(STANDARD_LEADS)
    assert leads[NSR] == leads[SB] == leads[STACH] == {"I", "II", "aVF"}


def test_rbbb_mask_is_the_terminal_part_of_the_measured_qrs():
    for seed in SEEDS:
        m, mask = measured(RBBB, seed), ecg(RBBB, seed).mask(RBBB)[LEAD["V1"]]
        tol = int(0.012 * FS)
        runs = mask_intervals(mask)
        assert len(runs) >= len(m.peaks)
        for on, off in m.bounds:
            inside = [(s, e) for s, e in runs if s < off and e > on]
            assert len(inside) == 1, "one terminal region per beat"
            s, e = inside[0]
            assert on + 0.3 * (off - on) < s and abs(e - off) <= tol, (seed, on, off, s, e)


def test_lbbb_mask_matches_measured_qrs():
    ious = []
    for seed in SEEDS:
        m, mask = measured(LBBB, seed), ecg(LBBB, seed).mask(LBBB)[LEAD["V6"]]
        for on, off in m.bounds:
            measured_qrs = np.zeros_like(mask)
            measured_qrs[on:off] = True
            window = slice(on - 50, off + 50)
            inter = np.sum(mask[window] & measured_qrs[window])
            ious.append(inter / np.sum(mask[window] | measured_qrs[window]))
    assert np.median(ious) > 0.8 and min(ious) > 0.6


def test_iavb_mask_spans_the_measured_pr_interval():
    for seed in SEEDS:
        e = ecg(IAVB, seed)
        clean_ii = measured(IAVB, seed).clean[:, LEAD["II"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, info = nk.ecg_peaks(clean_ii, sampling_rate=FS)
            _, waves = nk.ecg_delineate(clean_ii, info["ECG_R_Peaks"], sampling_rate=FS, method="dwt")
        mask = e.mask(IAVB)[LEAD["II"]]
        p_peaks = np.asarray(waves["ECG_P_Peaks"], float)
        p_peaks = p_peaks[np.isfinite(p_peaks)].astype(int)
        assert mask[p_peaks].mean() >= 0.85  # P waves inside the PR evidence (neurokit errs at the edges)
        assert not mask[measured(IAVB, seed).peaks].any()  # QRS peaks outside it
        assert np.array_equal(e.mask(IAVB)[0], e.mask(IAVB)[11])  # same in every lead


def test_sinus_mask_holds_p_and_qrs_af_mask_holds_tq_and_qrs():
    for seed in SEEDS:
        m = measured(NSR, seed)
        mask = ecg(NSR, seed).mask(NSR)[LEAD["II"]]
        assert mask[m.peaks].all()
        assert mask[m.peaks - int(0.12 * FS)].mean() > 0.8  # the P wave before each QRS
        st_t = m.bounds[:, 1] + int(0.15 * FS)
        assert not mask[st_t[st_t < mask.size]].any()  # ST-T is not rhythm evidence
        a = measured(AF, seed)
        af_mask = ecg(AF, seed).mask(AF)
        assert af_mask[LEAD["V1"]][a.peaks].all()
        late_tq = [q - int(0.1 * FS) for p, q in itertools.pairwise(a.peaks) if q - p > 0.7 * FS]
        assert af_mask[LEAD["II"]][late_tq].all()  # the f-wave baseline before a QRS


def test_pvc_mask_covers_the_wide_beats_only():
    for seed in SEEDS:
        m, mask = measured(PVC, seed), ecg(PVC, seed).mask(PVC)
        wide = m.qrs_ms >= 120
        runs = mask_intervals(mask[LEAD["V1"]])
        assert len(runs) == wide.sum()
        for (on, off), is_wide in zip(m.bounds, wide, strict=True):
            assert mask[:, (on + off) // 2].all() == is_wide
            if is_wide:
                assert mask[:, on + 5:off - 5].all()


# --- files -----------------------------------------------------------------------------------------


def test_same_seed_same_bytes_different_seed_differs(tmp_path: Path):
    a, b = generate_ecg(LBBB, 7), generate_ecg(LBBB, 7)
    assert a.signal.tobytes() == b.signal.tobytes()
    assert not np.array_equal(a.signal, generate_ecg(LBBB, 8).signal)
    write_synthetic(a, tmp_path / "a", "R1")
    write_synthetic(b, tmp_path / "b", "R1")
    for suffix in (".mat", ".hea", ".mask.json"):
        assert (tmp_path / "a" / f"R1{suffix}").read_bytes() == (tmp_path / "b" / f"R1{suffix}").read_bytes()


def test_noise_levels_do_not_change_the_heart():
    quiet = generate_ecg(NSR, 3, noise_mv=0.0, wander_mv=0.0)
    noisy = generate_ecg(NSR, 3, noise_mv=0.05, wander_mv=0.3)
    residual = noisy.signal - quiet.signal
    assert 0.03 < np.std(residual[:, LEAD["I"]]) < 0.3
    assert quiet.ground_truth == noisy.ground_truth


def test_written_record_reads_back(tmp_path: Path):
    e = generate_ecg(RBBB, 11)
    base = write_synthetic(e, tmp_path, "SYN00042")
    assert base == tmp_path / "SYN00042"
    rec = read_record(base.with_suffix(".mat"))
    assert rec.fs == 500 and rec.lead_names == STANDARD_LEADS and rec.dx == (RBBB,)
    assert rec.n_samples == 5000 and rec.age == e.age and rec.sex == e.sex
    assert np.max(np.abs(rec.signal - e.signal)) <= 0.0005 + 1e-6  # 1 uV quantisation
    in_memory = e.renamed("SYN00042").to_record()
    assert np.array_equal(in_memory.signal, rec.signal) and np.array_equal(in_memory.digital, rec.digital)
    header = wfdb.rdheader(str(base))
    assert header.fs == 500 and header.sig_len == 5000 and header.sig_name == list(STANDARD_LEADS)
    assert "Dx: 59118001" in header.comments
    lines = base.with_suffix(".hea").read_text().splitlines()
    assert lines[0] == "SYN00042 12 500 5000"
    assert lines[1].startswith("SYN00042.mat 16+24 1000/mV 16 0 ") and lines[1].endswith(" 0 I")
    assert lines[13:] == [f"#Age: {e.age}", f"#Sex: {e.sex}", "#Dx: 59118001", "#Rx: Unknown",
                          "#Hx: Unknown", "#Sx: Unknown"]
    mat = scipy.io.loadmat(str(base.with_suffix(".mat")))
    assert mat["val"].dtype == np.int16 and mat["val"].shape == (12, 5000)
    assert base.with_suffix(".mat").read_bytes()[:4] == b"\x1e\x00\x00\x00"  # MATLAB v4, int16
    # wfdb reads the signal itself through the header's byte offset
    assert np.array_equal(wfdb.rdrecord(str(base), physical=False).d_signal.T, mat["val"])


def test_mask_file_format_and_load_mask(tmp_path: Path):
    e = generate_ecg(AF, 2)
    base = write_synthetic(e, tmp_path, "SYN00007")
    data = json.loads((tmp_path / "SYN00007.mask.json").read_text())
    assert set(data) == {"record", "fs", "n_samples", "lead_names", "codes", "regions"}
    assert data["record"] == "SYN00007" and data["fs"] == 500 and data["n_samples"] == 5000
    assert data["lead_names"] == list(STANDARD_LEADS) and data["codes"] == [AF]
    assert set(data["regions"][AF]) == {"II", "V1"}
    for start, end in data["regions"][AF]["II"]:
        assert isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= 5000
    for path in (base, base.with_suffix(".mat"), base.with_suffix(".hea"), tmp_path / "SYN00007.mask.json"):
        assert np.array_equal(load_mask(path), e.mask())
    assert np.array_equal(load_mask(base, AF), e.mask(AF))
    assert not load_mask(base, RBBB).any()


def test_ground_truth_json_round_trip():
    truth = ecg(PVC, 3).ground_truth
    again = GroundTruth.from_json(truth.to_json())
    assert again == truth
    assert np.array_equal(again.mask(), truth.mask())
    assert GroundTruth.from_dict(json.loads(json.dumps(truth.to_dict()))) == truth


@pytest.mark.parametrize("content", [
    "not json {",
    "[1, 2]",
    '{"record": "X", "fs": 500, "n_samples": 100, "lead_names": ["I"], "codes": ["1"]}',
    '{"record": "X", "fs": 500, "n_samples": 100, "lead_names": ["I"], "codes": ["1"], '
    '"regions": {"1": {"I": [[50, 200]]}}}',
    '{"record": "X", "fs": 500, "n_samples": 100, "lead_names": ["I"], "codes": ["1"], '
    '"regions": {"1": {"V9": [[5, 20]]}}}',
    '{"record": "X", "fs": -1, "n_samples": 100, "lead_names": ["I"], "codes": ["1"], "regions": {}}',
    '{"record": "X", "fs": 500, "n_samples": 100, "lead_names": ["I"], "codes": ["1"], '
    '"regions": {"1": {"I": [[5.5, 20]]}}}',
])
def test_bad_mask_file_raises_ground_truth_error_naming_it(tmp_path: Path, content: str):
    path = tmp_path / "BAD.mask.json"
    path.write_text(content)
    with pytest.raises(GroundTruthError, match=r"BAD\.mask\.json"):
        load_mask(tmp_path / "BAD")


def test_missing_mask_file(tmp_path: Path):
    with pytest.raises(MissingGroundTruthError, match=r"NOPE\.mask\.json") as info:
        read_ground_truth(tmp_path / "NOPE.mat")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, GroundTruthError)


# --- API -------------------------------------------------------------------------------------------


def test_codes_descriptions_and_argument_checks():
    assert set(SYNTH_CODES) == {NSR, SB, STACH, AF, IAVB, RBBB, LBBB, PVC}
    assert set(SYNTH_DESCRIPTIONS) == set(SYNTH_CODES)
    with pytest.raises(UnknownClassError, match="cannot be synthesised"):
        generate_ecg("10370003", 0)
    with pytest.raises(ConfigurationError):
        generate_ecg(NSR, 0, noise_mv=-0.1)
    with pytest.raises(ConfigurationError):
        generate_ecg(NSR, -1)
    with pytest.raises(ConfigurationError):
        write_synthetic(ecg(NSR, 0), "/tmp", "../escape")
    with pytest.raises(ConfigurationError, match="too short"):
        generate_ecg(PVC, 3, duration=3.0)


def test_other_sampling_rates_and_durations():
    e = generate_ecg(RBBB, 1, fs=250, duration=8.0)
    assert e.signal.shape == (2000, 12) and e.signal.dtype == np.float32
    assert e.mask().shape == (12, 2000) and e.ground_truth.fs == 250


def test_generate_dataset_is_deterministic(tmp_path: Path):
    df = generate_dataset(tmp_path / "a", n_per_class=2, seed=5, noise_mv=0.01)
    again = generate_dataset(tmp_path / "b", n_per_class=2, seed=5, noise_mv=0.01)
    assert list(df.columns) == ["record", "path", "code", "seed"]
    assert list(df["record"]) == [f"SYN{i:05d}" for i in range(1, 17)]
    assert list(df["code"]) == list(SYNTH_CODES) * 2
    assert list(df["seed"]) == [record_seed(5, i) for i in range(16)]
    pd.testing.assert_frame_equal(df.drop(columns="path"), again.drop(columns="path"))
    for name in df["record"]:
        for suffix in (".mat", ".hea", ".mask.json"):
            first, second = tmp_path / "a" / f"{name}{suffix}", tmp_path / "b" / f"{name}{suffix}"
            assert first.read_bytes() == second.read_bytes()
    row = df.iloc[5]
    assert read_record(row["path"]).dx == (row["code"],)
    assert np.array_equal(generate_ecg(row["code"], int(row["seed"]), noise_mv=0.01).digital(),
                          scipy.io.loadmat(row["path"] + ".mat")["val"])


def test_generation_is_fast():
    start = time.perf_counter()
    for i in range(40):
        generate_ecg(SYNTH_CODES[i % len(SYNTH_CODES)], 100 + i)
    assert (time.perf_counter() - start) / 40 < 0.05
