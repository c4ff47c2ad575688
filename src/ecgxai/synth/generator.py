"""Assemble a synthetic 12-lead record: a randomised heart, a beat plan, artefacts, ground truth."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ecgxai.classes import SynthRecipe, synth_recipe
from ecgxai.errors import ConfigurationError
from ecgxai.io.records import Record, check_fs
from ecgxai.synth import waves as wv
from ecgxai.synth.geometry import DIPOLE_TO_LEADS, LEAD_NAMES
from ecgxai.synth.groundtruth import BeatAnnotation, GroundTruth, evidence_regions
from ecgxai.synth.noise import electrode_artefacts
from ecgxai.synth.rhythm import (
    AF,
    MAX_QTC,
    PVC,
    SINUS,
    BeatPlan,
    af_intervals,
    beats_needed,
    insert_pvcs,
    plan_from_intervals,
    qt_interval,
    sinus_intervals,
)

#: ADC units per mV of the written records (the Challenge convention: 1 unit = 1 uV).
GAIN = 1000.0
#: QRS duration (s) that a normal QT already includes; wider QRS complexes lengthen QT.
NORMAL_QRS_S = 0.09

_QRS = {"normal": wv.NORMAL_QRS, "rbbb": wv.RBBB_QRS, "lbbb": wv.LBBB_QRS}
_STT = {"normal": wv.NORMAL_STT, "rbbb": wv.RBBB_STT, "lbbb": wv.LBBB_STT}
#: Per-record QRS duration scale per conduction pattern (ranges keep BBB QRS >= ~130 ms).
_QRS_TIME_SCALE = {"normal": (0.92, 1.10), "rbbb": (0.90, 1.08), "lbbb": (0.93, 1.12)}


@dataclass(frozen=True)
class Heart:
    """One synthetic person's beats: waves timed from P onset, QRS onset and T end respectively."""

    p_waves: tuple[wv.Wave, ...]
    qrs: tuple[wv.Wave, ...]
    stt: tuple[wv.Wave, ...]
    pvc_qrs: tuple[wv.Wave, ...]
    pvc_stt: tuple[wv.Wave, ...]
    pr: float
    qtc: float
    f_wave_mv: float
    atrial_rot: np.ndarray = field(repr=False)

    @property
    def qrs_duration(self) -> float:
        """Conducted QRS duration (s)."""
        return wv.offset(self.qrs)

    @property
    def pvc_duration(self) -> float:
        """Ectopic QRS duration (s)."""
        return wv.offset(self.pvc_qrs)

    @property
    def terminal_onset(self) -> float | None:
        """Start (s after QRS onset) of a delayed terminal wave (RBBB's R'), if any."""
        late = [w for w in self.qrs if w.name == "R'"]
        return wv.onset(late) if late else None


def _anchor(waves: tuple[wv.Wave, ...], at: str) -> tuple[wv.Wave, ...]:
    """Shift waves so their onset (``at="onset"``) or offset (``"offset"``) is at t = 0."""
    return wv.shift(waves, -(wv.onset(waves) if at == "onset" else wv.offset(waves)))


def sample_heart(rng: np.random.Generator, spec: SynthRecipe) -> Heart:
    """Draw one person's morphology for a diagnosis: axes, amplitudes, durations, PR and QTc."""
    vent_rot = wv.random_rotation(rng, frontal_deg=20, other_deg=12)
    atrial_rot = wv.random_rotation(rng, frontal_deg=15, other_deg=10)
    qrs_amp, t_amp, p_amp = rng.uniform(0.8, 1.25), rng.uniform(0.75, 1.25), rng.uniform(0.8, 1.25)
    qrs_scale = rng.uniform(*_QRS_TIME_SCALE[spec.conduction])
    t_scale = rng.uniform(0.9, 1.1)
    qrs = wv.randomize(_QRS[spec.conduction], rng, rot=vent_rot, amp=qrs_amp, time_scale=qrs_scale)
    stt = wv.randomize(_STT[spec.conduction], rng, rot=vent_rot, amp=t_amp, time_scale=t_scale)
    p_waves = wv.randomize(wv.P_WAVES, rng, rot=atrial_rot, amp=p_amp, time_scale=rng.uniform(0.9, 1.1))
    origin = ("lv", "rvot")[int(rng.integers(2))]
    pvc_qrs, pvc_stt = wv.PVC_ORIGINS[origin]
    pvc_rot = wv.random_rotation(rng, frontal_deg=15, other_deg=12)
    pvc_amp = rng.uniform(1.2, 1.7)
    pvc_qrs = wv.randomize(pvc_qrs, rng, rot=pvc_rot, amp=pvc_amp, time_scale=rng.uniform(0.88, 1.05))
    pvc_stt = wv.randomize(pvc_stt, rng, rot=pvc_rot, amp=pvc_amp, time_scale=t_scale)
    pr = rng.uniform(*spec.pr_ms) / 1000 if spec.pr_ms else math.nan
    return Heart(
        p_waves=_anchor(p_waves, "onset"), qrs=_anchor(qrs, "onset"), stt=_anchor(stt, "offset"),
        pvc_qrs=_anchor(pvc_qrs, "onset"), pvc_stt=_anchor(pvc_stt, "offset"),
        pr=pr, qtc=rng.uniform(0.38, MAX_QTC), f_wave_mv=rng.uniform(0.05, 0.12), atrial_rot=atrial_rot,
    )


def plan_beats(rng: np.random.Generator, spec: SynthRecipe, duration: float, hrv: float) -> BeatPlan:
    """QRS onset times and beat kinds for a diagnosis."""
    mean_rr = 60.0 / rng.uniform(*spec.hr_bpm)
    n = beats_needed(duration, mean_rr)
    if spec.rhythm == AF:
        return plan_from_intervals(rng, af_intervals(rng, n, mean_rr, rng.uniform(0.15, 0.30)), duration, AF)
    plan = plan_from_intervals(rng, sinus_intervals(rng, n, mean_rr, hrv), duration, SINUS)
    lo, hi = spec.n_pvc
    if hi:
        plan = insert_pvcs(rng, plan, int(rng.integers(lo, hi + 1)), duration)
    return plan


#: One wave put on the time axis: (wave, time offset s, amplitude factor).
Placed = tuple[wv.Wave, float, float]


def beat_waves(rng: np.random.Generator, heart: Heart, plan: BeatPlan,
               fs: float) -> tuple[list[list[Placed]], list[BeatAnnotation]]:
    """Every planned beat's placed waves (one list per beat) and its fiducial points (samples).

    QT follows the preceding RR (Bazett); QRS amplitude breathes with respiration (+-4 %).
    """
    resp_hz, resp_phase = rng.uniform(0.15, 0.4), rng.uniform(0, 2 * np.pi)
    qt = qt_interval(plan.rr_before, heart.qtc)
    qt_sinus = float(qt_interval(np.median(plan.rr_before), heart.qtc))
    placed: list[list[Placed]] = []
    beats: list[BeatAnnotation] = []

    def sample(t: float) -> int:
        return round(t * fs)

    for t0, kind, qt_i in zip(plan.onsets, plan.kinds, qt, strict=True):
        amp = 1 + 0.04 * np.sin(2 * np.pi * resp_hz * t0 + resp_phase) + rng.normal(0, 0.015)
        ectopic = kind == PVC
        qrs, stt = (heart.pvc_qrs, heart.pvc_stt) if ectopic else (heart.qrs, heart.stt)
        qrs_dur = wv.offset(qrs)
        # an ectopic beat repolarises late: its QT is that of the underlying rate, not the short coupling
        t_end = t0 + (qt_sinus if ectopic else qt_i) + max(0.0, qrs_dur - NORMAL_QRS_S)
        beat = [(w, t0, amp) for w in qrs] + [(w, t_end, amp) for w in stt]
        p_on = p_off = None
        if kind == SINUS and not math.isnan(heart.pr):
            p_start = t0 - heart.pr - rng.normal(0, 0.003)
            beat += [(w, p_start, 1.0) for w in heart.p_waves]
            p_on, p_off = sample(p_start), sample(p_start + wv.offset(heart.p_waves))
        placed.append(beat)
        terminal = None if ectopic or heart.terminal_onset is None else sample(t0 + heart.terminal_onset)
        beats.append(BeatAnnotation(kind=kind, qrs_on=sample(t0), qrs_off=sample(t0 + qrs_dur),
                                    t_off=sample(t_end), p_on=p_on, p_off=p_off, terminal_on=terminal))
    return placed, beats


def place_beats(rng: np.random.Generator, heart: Heart, plan: BeatPlan,
                fs: float) -> tuple[wv.WaveTable, list[BeatAnnotation]]:
    """Every planned beat's waves on the time axis (:func:`beat_waves`) as one table, and its fiducials."""
    placed, beats = beat_waves(rng, heart, plan, fs)
    return wv.WaveTable.from_waves([w for beat in placed for w in beat]), beats


@dataclass(frozen=True, eq=False)
class SyntheticECG:
    """A generated 12-lead record with its planted diagnosis and evidence regions.

    ``signal`` is (n_samples, 12) float32 mV; ``beats`` holds every planned beat's fiducials in samples
    (beats at the edges may reach outside the record); ``info`` the realised generation parameters.
    """

    signal: np.ndarray
    fs: float
    lead_names: tuple[str, ...]
    codes: tuple[str, ...]
    ground_truth: GroundTruth
    beats: tuple[BeatAnnotation, ...]
    seed: int
    age: int
    sex: str
    name: str = "synthetic"
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        """Samples per lead."""
        return int(self.signal.shape[0])

    def mask(self, code: str | None = None) -> np.ndarray:
        """(12, n_samples) bool evidence mask of ``code`` (None: all codes)."""
        return self.ground_truth.mask(code)

    def digital(self) -> np.ndarray:
        """(12, n_samples) int16 ADC values as written to ``val`` (gain 1000/mV, baseline 0)."""
        return np.clip(np.round(self.signal.T.astype(np.float64) * GAIN), -32768, 32767).astype(np.int16)

    def renamed(self, name: str) -> SyntheticECG:
        """The same record under another name (ground truth included)."""
        return replace(self, name=name, ground_truth=replace(self.ground_truth, record=name))

    def to_record(self) -> Record:
        """The record as :func:`ecgxai.io.read_record` would return it after writing (1 uV steps)."""
        digital = self.digital().T.astype(np.int64)
        n_leads = len(self.lead_names)
        return Record(
            name=self.name, signal=(digital / GAIN).astype(np.float32), fs=float(self.fs),
            lead_names=self.lead_names, gain=np.full(n_leads, GAIN),
            baseline=np.zeros(n_leads, dtype=np.int64), age=float(self.age), sex=self.sex,
            dx=self.codes, digital=digital, comments=tuple(header_comments(self)),
        )


def header_comments(ecg: SyntheticECG) -> list[str]:
    """The Challenge header comment lines (without ``#``)."""
    return [f"Age: {ecg.age}", f"Sex: {ecg.sex}", f"Dx: {','.join(ecg.codes)}",
            "Rx: Unknown", "Hx: Unknown", "Sx: Unknown"]


def _check_levels(duration: float, levels: Mapping[str, float]) -> None:
    if not math.isfinite(duration) or duration < 2.0:
        raise ConfigurationError(f"duration must be at least 2 s, got {duration!r}")
    for key, value in levels.items():
        if not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"{key} must be a finite number >= 0, got {value!r}")
    if levels["hrv"] > 0.2:
        raise ConfigurationError(f"hrv is a relative RR variation and must be <= 0.2, got {levels['hrv']}")


def generate_ecg(
    code: str,
    seed: int,
    *,
    fs: float = 500,
    duration: float = 10.0,
    noise_mv: float = 0.02,
    wander_mv: float = 0.1,
    hrv: float = 0.03,
    powerline_mv: float = 0.0,
    powerline_hz: float = 50.0,
    name: str = "synthetic",
) -> SyntheticECG:
    """Generate one 12-lead ECG showing diagnosis ``code`` (one of ``SYNTH_CODES``).

    The same arguments always give the same record, bit for bit. Heart, rhythm and artefacts use
    separate random streams of ``seed``, so changing a noise level leaves the heartbeat unchanged.
    ``noise_mv``: white-noise SD on a limb lead; ``wander_mv``: baseline wander amplitude; ``hrv``:
    relative sinus RR variation; ``powerline_mv``: mains hum amplitude at ``powerline_hz``.
    """
    code = str(code).strip()  # as synth_recipe reads it
    spec = synth_recipe(code)
    fs = check_fs(fs)
    duration = float(duration)
    levels = {"noise_mv": float(noise_mv), "wander_mv": float(wander_mv), "hrv": float(hrv),
              "powerline_mv": float(powerline_mv), "powerline_hz": float(powerline_hz)}
    _check_levels(duration, levels)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigurationError(f"seed must be a non-negative integer, got {seed!r}")
    heart_rng, rhythm_rng, artefact_rng = (np.random.default_rng(s)
                                           for s in np.random.SeedSequence(int(seed)).spawn(3))
    n_samples = round(duration * fs)
    heart = sample_heart(heart_rng, spec)
    plan = plan_beats(rhythm_rng, spec, duration, levels["hrv"])
    table, beats = place_beats(rhythm_rng, heart, plan, fs)
    dipole = wv.render(table, n_samples, fs)
    if spec.rhythm == AF:
        dipole += wv.fibrillatory_waves(heart_rng, n_samples, fs, amplitude_mv=heart.f_wave_mv,
                                        rot=heart.atrial_rot)
    leads = DIPOLE_TO_LEADS @ dipole + electrode_artefacts(
        artefact_rng, n_samples, fs, noise_mv=levels["noise_mv"], wander_mv=levels["wander_mv"],
        powerline_mv=levels["powerline_mv"], powerline_hz=levels["powerline_hz"])
    age, sex = int(heart_rng.integers(25, 86)), ("Male", "Female")[int(heart_rng.integers(2))]
    in_record = tuple(b for b in beats
                      if b.t_off > 0 and (b.qrs_on if b.p_on is None else b.p_on) < n_samples)
    truth = GroundTruth(record=name, fs=fs, n_samples=n_samples, lead_names=LEAD_NAMES, codes=(code,),
                        regions={code: evidence_regions(code, beats, n_samples, LEAD_NAMES)})
    info = {"mean_hr_bpm": 60.0 / float(np.mean(np.diff(plan.onsets))), "pr_ms": heart.pr * 1000,
            "qrs_ms": heart.qrs_duration * 1000, "pvc_qrs_ms": heart.pvc_duration * 1000,
            "qtc_ms": heart.qtc * 1000, "n_pvc": plan.kinds.count(PVC), **levels}
    return SyntheticECG(signal=np.ascontiguousarray(leads.T, dtype=np.float32), fs=fs, lead_names=LEAD_NAMES,
                        codes=(code,), ground_truth=truth, beats=in_record, seed=int(seed), age=age,
                        sex=sex, name=name, info=info)
