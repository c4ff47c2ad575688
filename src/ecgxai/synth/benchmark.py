"""A localisation benchmark whose masks are exact: every record comes with a class-neutral twin.

A benchmark record and its twin share one person's heart, beat timing, axis, noise and baseline
wander (the same random streams); only the record carries the diagnosis's evidence, implanted
into that shared base. The mask is, by definition, where the written record differs from its
written twin: on a lead whose largest difference reaches :data:`LEAD_FLOOR_MV`, every sample whose
difference is at least :data:`MASK_FRACTION` of that largest difference. So the mask is where the
evidence is, for any model: outside it the two files differ by less than that threshold.

Evidence per diagnosis (the base is always sinus rhythm at 62-95 bpm with a narrow QRS):

- RBBB: the S wave of every conducted beat becomes a delayed terminal R' (QRS ~150 ms);
- LBBB: the QRS of every conducted beat becomes a broad notched LBBB complex;
- first-degree AV block: every P wave moves earlier, to a PR of 240-320 ms;
- PVC: one or two sinus QRS-T are replaced by premature wide beats whose repolarisation lasts
  until the sinus T it displaces would have ended, so the whole difference lies in the ectopic beat;
- AF: P waves give way to continuous f waves; the RR sequence is the twin's, so the evidence is
  the atrial activity alone;
- ST elevation, T-wave inversion, pathological Q waves: lead-specific by definition, implanted in
  one coronary territory's leads (:data:`TERRITORIES`): a 0.10-0.25 mV elevation from the J point to
  the T peak; the upright T waves inverted; a 40-50 ms Q wave at QRS onset.

Explainers never see the twin: it defines the mask and lets tests check it. Rate diagnoses carry
their evidence in every beat's timing and are not localisable (:data:`NOT_LOCALISABLE`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgxai.classes import (
    AFIB,
    BENCHMARK_CODES,
    IAVB,
    LBBB,
    NSR,
    PVC,
    Q_WAVE,
    RBBB,
    SB,
    ST_ELEVATION,
    STACH,
    T_INVERSION,
    synth_recipe,
)
from ecgxai.errors import ConfigurationError
from ecgxai.synth import waves as wv
from ecgxai.synth.datasets import Seed, record_seed
from ecgxai.synth.generator import (
    Heart,
    Placed,
    SyntheticECG,
    beat_waves,
    plan_beats,
    sample_heart,
)
from ecgxai.synth.geometry import DIPOLE_TO_LEADS, LEAD_NAMES
from ecgxai.synth.groundtruth import GroundTruth, merge_intervals
from ecgxai.synth.noise import electrode_artefacts
from ecgxai.synth.rhythm import PVC as PVC_BEAT
from ecgxai.synth.rhythm import SINUS, BeatPlan, qt_interval
from ecgxai.synth.writer import check_record_name, write_synthetic

#: Diagnoses whose evidence is global (every beat's timing): reported, never scored.
NOT_LOCALISABLE: dict[str, str] = {
    SB: "rate below 60 bpm: the evidence is every RR interval, not a region",
    STACH: "rate above 100 bpm: the evidence is every RR interval, not a region",
}
#: Leads of each coronary territory (the lead-specific diagnoses are implanted in one of them).
TERRITORIES: dict[str, tuple[str, ...]] = {
    "inferior": ("II", "III", "aVF"),
    "anterior": ("V2", "V3", "V4"),
    "lateral": ("I", "aVL", "V5", "V6"),
}
#: A sample is evidence when its record-twin difference is at least this share of its lead's largest.
MASK_FRACTION = 0.1
#: A lead holds evidence only when its largest record-twin difference reaches this (mV).
LEAD_FLOOR_MV = 0.05
#: Diagnoses that cannot be combined in one training record.
EXCLUSIVE: tuple[frozenset[str], ...] = (frozenset({RBBB, LBBB}), frozenset({AFIB, IAVB}))
_LOCAL = (ST_ELEVATION, T_INVERSION, Q_WAVE)
#: Columns of the table :func:`generate_localisation_benchmark` returns.
BENCHMARK_COLUMNS = ["record", "path", "twin_path", "code", "seed", "territory", "mask_share"]
_GAIN = 1000.0


@dataclass
class Build:
    """A record under construction: the twin's beats being changed, plus added dipole and lead signals."""

    rng: np.random.Generator
    heart: Heart
    plan: BeatPlan
    fs: float
    n_samples: int
    beats: list[list[Placed]]
    kinds: list[str]
    territory: str
    dipole: np.ndarray = field(init=False)
    leads: np.ndarray = field(init=False)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dipole = np.zeros((3, self.n_samples))
        self.leads = np.zeros((len(LEAD_NAMES), self.n_samples))

    def conducted(self) -> list[int]:
        """Indices of the beats still conducted from the atria (not replaced by ectopic ones)."""
        return [i for i, kind in enumerate(self.kinds) if kind == SINUS]


def _groups(beat: list[Placed], group: str) -> list[Placed]:
    return [item for item in beat if item[0].group == group]


def _replace_qrs(build: Build, waves: tuple[wv.Wave, ...], keep: Callable[[wv.Wave], bool]) -> None:
    """In every conducted beat, keep the QRS waves ``keep`` accepts and add ``waves`` at its QRS onset."""
    for i in build.conducted():
        beat = build.beats[i]
        _, t0, amp = _groups(beat, wv.QRS)[0]
        kept = [it for it in beat if it[0].group != wv.QRS or keep(it[0])]
        build.beats[i] = kept + [(w, t0, amp) for w in waves]


def _rbbb(build: Build) -> None:
    rng = build.rng
    late = wv.randomize(wv.RBBB_QRS[-1:], rng, rot=wv.random_rotation(rng, 20, 12),
                        amp=rng.uniform(0.8, 1.25), time_scale=rng.uniform(0.9, 1.08))
    _replace_qrs(build, late, lambda w: w.name != "S")


def _lbbb(build: Build) -> None:
    rng = build.rng
    qrs = wv.randomize(wv.LBBB_QRS, rng, rot=wv.random_rotation(rng, 20, 12), amp=rng.uniform(0.8, 1.25),
                       time_scale=rng.uniform(0.93, 1.12))
    _replace_qrs(build, wv.shift(qrs, -wv.onset(qrs)), lambda w: False)


def _iavb(build: Build) -> None:
    pr = build.rng.uniform(0.24, 0.32)
    delay = pr - build.heart.pr
    build.beats = [[(w, t - delay, a) if w.group == wv.P else (w, t, a) for w, t, a in beat]
                   for beat in build.beats]
    build.info["pr_ms"] = pr * 1000


def _pvc(build: Build) -> None:
    rng, onsets = build.rng, build.plan.onsets
    duration = build.n_samples / build.fs
    candidates = [i for i in build.conducted()[1:-1]
                  if onsets[i - 1] > 0.3 and onsets[i + 1] < duration - 0.8]
    chosen: list[int] = []
    wanted = int(rng.integers(1, 3))
    for i in rng.permutation(candidates):
        if len(chosen) < wanted and all(abs(int(i) - j) >= 3 for j in chosen):
            chosen.append(int(i))
    heart = build.heart
    qt_sinus = float(qt_interval(np.median(build.plan.rr_before), heart.qtc))
    for i in chosen:
        beat = build.beats[i]
        _, t_end_sinus, amp = _groups(beat, wv.STT)[0]
        t0 = onsets[i - 1] + rng.uniform(0.55, 0.7) * (onsets[i] - onsets[i - 1])
        # the ectopic repolarisation lasts until the displaced sinus T would have ended
        t_end = max(t0 + qt_sinus + max(0.0, heart.pvc_duration - 0.09), t_end_sinus)
        build.beats[i] = (_groups(beat, wv.P) + [(w, t0, amp) for w in heart.pvc_qrs]
                          + [(w, t_end, amp) for w in heart.pvc_stt])
        build.kinds[i] = PVC_BEAT
    build.info["n_pvc"] = len(chosen)


def _af(build: Build) -> None:
    build.beats = [[it for it in beat if it[0].group != wv.P] for beat in build.beats]
    build.dipole += wv.fibrillatory_waves(build.rng, build.n_samples, build.fs,
                                          amplitude_mv=build.heart.f_wave_mv, rot=build.heart.atrial_rot)


def _territory_rows(build: Build) -> list[int]:
    return [LEAD_NAMES.index(lead) for lead in TERRITORIES[build.territory]]


def _bumps(build: Build, spans: Sequence[tuple[float, float]], ramp: float) -> np.ndarray:
    """(n_samples,) sum of plateaus rising over ``ramp`` s from each start and falling from each end."""
    t = np.arange(build.n_samples) / build.fs
    out = np.zeros(build.n_samples)
    for start, end in spans:
        rise = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - start) / ramp, 0, 1))
        fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - end) / ramp, 0, 1))
        out += rise * fall
    return out


def _st_elevation(build: Build) -> None:
    spans = []
    for i in build.conducted():
        beat = build.beats[i]
        j_point = max(t + w.offset for w, t, _ in _groups(beat, wv.QRS))
        t_peak = max(t + w.center for w, t, _ in _groups(beat, wv.STT))
        spans.append((j_point, t_peak))
    shape = _bumps(build, spans, ramp=0.04)
    for row in _territory_rows(build):
        build.leads[row] += build.rng.uniform(0.10, 0.25) * shape


def _t_inversion(build: Build) -> None:
    stt = [it for i in build.conducted() for it in _groups(build.beats[i], wv.STT)]
    t_leads = DIPOLE_TO_LEADS @ wv.render(wv.WaveTable.from_waves(stt), build.n_samples, build.fs)
    for row in _territory_rows(build):
        peak = t_leads[row, np.argmax(np.abs(t_leads[row]))]
        if peak > 0:  # invert upright T waves only
            build.leads[row] -= build.rng.uniform(1.5, 2.2) * t_leads[row]


def _q_wave(build: Build) -> None:
    t = np.arange(build.n_samples) / build.fs
    onsets = [_groups(build.beats[i], wv.QRS)[0][1] for i in build.conducted()]
    sigma = build.rng.uniform(0.008, 0.010)
    shape = sum(np.exp(-0.5 * ((t - (t0 + 2.5 * sigma)) / sigma) ** 2) for t0 in onsets)
    for row in _territory_rows(build):
        build.leads[row] -= build.rng.uniform(0.15, 0.35) * shape


#: How each diagnosis is implanted, in the order combinations apply them (ectopic beats first, so the
#: others apply to conducted beats only).
IMPLANTS: dict[str, Callable[[Build], None]] = {
    PVC: _pvc, RBBB: _rbbb, LBBB: _lbbb, IAVB: _iavb, AFIB: _af,
    ST_ELEVATION: _st_elevation, T_INVERSION: _t_inversion, Q_WAVE: _q_wave,
}


@dataclass(frozen=True, eq=False)
class BenchmarkPair:
    """A benchmark record (its mask in ``record.ground_truth``) and its class-neutral twin."""

    record: SyntheticECG
    twin: SyntheticECG

    def difference(self) -> np.ndarray:
        """(12, n_samples) record minus twin in mV, as written (1 uV steps)."""
        return (self.record.digital().astype(np.int64) - self.twin.digital()) / _GAIN


def evidence_mask(difference: np.ndarray) -> np.ndarray:
    """(leads, samples) bool: samples whose |difference| reaches :data:`MASK_FRACTION` of their lead's
    largest, on leads whose largest reaches :data:`LEAD_FLOOR_MV`."""
    size = np.abs(difference)
    peak = size.max(axis=1, keepdims=True)
    return (peak >= LEAD_FLOOR_MV) & (size >= MASK_FRACTION * peak)


def lead_thresholds(difference: np.ndarray) -> np.ndarray:
    """(leads,) the per-lead threshold of :func:`evidence_mask` (inf on leads without evidence)."""
    peak = np.abs(difference).max(axis=1)
    return np.where(peak >= LEAD_FLOOR_MV, MASK_FRACTION * peak, np.inf)


def mask_regions(mask: np.ndarray, lead_names: Sequence[str]) -> dict[str, tuple[tuple[int, int], ...]]:
    """lead -> the runs of True of its mask row as half-open sample intervals (leads without any left out)."""
    out = {}
    for lead, row in zip(lead_names, mask, strict=True):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        if edges.size:
            out[lead] = merge_intervals(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True), row.size)
    return out


def _codes(codes: str | Sequence[str]) -> tuple[str, ...]:
    chosen = (codes,) if isinstance(codes, str) else tuple(str(c) for c in codes)
    unknown = [c for c in chosen if c not in IMPLANTS]
    if unknown or len(set(chosen)) != len(chosen):
        raise ConfigurationError(f"benchmark codes must be distinct codes of {list(BENCHMARK_CODES)}, "
                                 f"got {chosen}")
    clash = [sorted(pair) for pair in EXCLUSIVE if pair <= set(chosen)]
    if clash:
        raise ConfigurationError(f"diagnoses {clash[0]} cannot be combined in one record")
    return tuple(c for c in IMPLANTS if c in chosen)


def generate_pair(codes: str | Sequence[str], seed: int, *, territory: str | None = None, fs: float = 500,
                  duration: float = 10.0, noise_mv: float = 0.02, wander_mv: float = 0.1, hrv: float = 0.03,
                  name: str = "benchmark", rhythm_seed: int | None = None) -> BenchmarkPair:
    """A benchmark record showing ``codes`` (one code; several, or none, for training data) and its twin.

    The twin is the record's base with nothing implanted (sinus rhythm, its header says so). The
    same arguments give the same pair; the base depends on ``seed`` only, never on ``codes``.
    ``territory`` (a key of :data:`TERRITORIES`) places ST elevation, T inversion and Q waves;
    by default it is drawn. A single-code record's ground truth holds its exact mask.
    ``rhythm_seed`` (default ``seed``) seeds the beat timing alone: two seeds with one rhythm seed give
    two people whose beats fall at the same times (a neutral record to paste a mask into).
    """
    chosen = _codes(codes)
    if territory is not None and territory not in TERRITORIES:
        raise ConfigurationError(f"territory must be one of {list(TERRITORIES)}, got {territory!r}")
    base = synth_recipe(NSR)
    heart_rng, rhythm_rng, artefact_rng, evidence_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4))
    if rhythm_seed is not None:
        rhythm_rng = np.random.default_rng(np.random.SeedSequence(int(rhythm_seed)).spawn(4)[1])
    n_samples = round(duration * fs)
    heart = sample_heart(heart_rng, base)
    plan = plan_beats(rhythm_rng, base, duration, hrv)
    placed, beats = beat_waves(rhythm_rng, heart, plan, fs)
    artefacts = electrode_artefacts(artefact_rng, n_samples, fs, noise_mv=noise_mv, wander_mv=wander_mv)
    build = Build(rng=evidence_rng, heart=heart, plan=plan, fs=fs, n_samples=n_samples,
                  beats=[list(beat) for beat in placed], kinds=list(plan.kinds),
                  territory=territory or list(TERRITORIES)[int(evidence_rng.integers(len(TERRITORIES)))])
    for code in chosen:
        IMPLANTS[code](build)

    def leads_of(beat_lists: list[list[Placed]]) -> np.ndarray:
        table = wv.WaveTable.from_waves([w for beat in beat_lists for w in beat])
        return DIPOLE_TO_LEADS @ wv.render(table, n_samples, fs) + artefacts

    age, sex = int(heart_rng.integers(25, 86)), ("Male", "Female")[int(heart_rng.integers(2))]
    info = {"mean_hr_bpm": 60.0 / float(np.mean(np.diff(plan.onsets))), "base_pr_ms": heart.pr * 1000,
            "territory": build.territory if set(chosen) & set(_LOCAL) else None, "noise_mv": noise_mv,
            "wander_mv": wander_mv, "hrv": hrv, **build.info}

    def ecg(signal: np.ndarray, ecg_codes: tuple[str, ...], ecg_name: str) -> SyntheticECG:
        truth = GroundTruth(record=ecg_name, fs=fs, n_samples=n_samples, lead_names=LEAD_NAMES,
                            codes=ecg_codes)
        return SyntheticECG(signal=np.ascontiguousarray(signal.T, dtype=np.float32), fs=fs,
                            lead_names=LEAD_NAMES, codes=ecg_codes, ground_truth=truth, beats=tuple(beats),
                            seed=int(seed), age=age, sex=sex, name=ecg_name, info=info)

    twin = ecg(leads_of(placed), (NSR,), f"{name}_twin")
    record = ecg(leads_of(build.beats) + DIPOLE_TO_LEADS @ build.dipole + build.leads, chosen or (NSR,), name)
    pair = BenchmarkPair(record, twin)
    if len(chosen) == 1:
        regions = mask_regions(evidence_mask(pair.difference()), LEAD_NAMES)
        truth = replace(record.ground_truth, regions={chosen[0]: regions})
        pair = BenchmarkPair(replace(record, ground_truth=truth), twin)
    return pair


def generate_localisation_benchmark(out_dir: str | Path, n_per_class: int = 20, seed: Seed = 0, *,
                                    codes: Sequence[str] = BENCHMARK_CODES, prefix: str = "LOC",
                                    **levels: Any) -> pd.DataFrame:
    """Write ``n_per_class`` benchmark records of every code to ``out_dir`` and their twins to
    ``out_dir/twins`` (Challenge format, each record with its exact ``NAME.mask.json``).

    Classes are interleaved and record i is generated with ``record_seed(seed, i)``. ``levels`` go
    to :func:`generate_pair`. Returns one row per record: ``record``, ``path``, ``twin_path``,
    ``code``, ``seed``, ``territory``, ``mask_share`` (the mask's share of the record's samples).
    """
    codes = [_codes(c)[0] for c in codes]
    if int(n_per_class) < 0 or not codes:
        raise ConfigurationError(f"need codes and n_per_class >= 0, got {list(codes)} and {n_per_class}")
    out = Path(out_dir)
    rows = []
    for i in range(int(n_per_class) * len(codes)):
        code, rec_seed = codes[i % len(codes)], record_seed(seed, i)
        name = check_record_name(f"{prefix}{i + 1:05d}")
        pair = generate_pair(code, rec_seed, name=name, **levels)
        base = write_synthetic(pair.record, out, name)
        twin = write_synthetic(pair.twin, out / "twins", name)
        rows.append({"record": name, "path": str(base), "twin_path": str(twin), "code": code,
                     "seed": rec_seed, "territory": pair.record.info["territory"],
                     "mask_share": float(pair.record.mask(code).mean())})
    return pd.DataFrame(rows, columns=BENCHMARK_COLUMNS)


def training_labels(rng: np.random.Generator, codes: Sequence[str] = BENCHMARK_CODES,
                    second: float = 0.25) -> tuple[str, ...]:
    """A training record's diagnoses: none (a neutral record) with chance 1 / (len(codes) + 1), else one
    code, joined by a compatible second one with chance ``second``."""
    pick = int(rng.integers(len(codes) + 1))
    if pick == len(codes):
        return ()
    first = codes[pick]
    allowed = [c for c in codes if c != first and not any({first, c} <= pair for pair in EXCLUSIVE)]
    if rng.random() < second and allowed:
        return (first, allowed[int(rng.integers(len(allowed)))])
    return (first,)


def benchmark_batch(n: int, seed: Seed, *, codes: Sequence[str] = BENCHMARK_CODES,
                    level_ranges: dict[str, tuple[float, float]] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: x (n, samples, 12) float32 mV records of :func:`generate_pair`, y (n, len(codes)) their
    multi-hot labels (neutral records all 0). Record i is seeded ``record_seed(seed, i)``; its labels
    (:func:`training_labels`) and, with ``level_ranges``, its noise levels are drawn from that seed."""
    signals, labels = [], np.zeros((int(n), len(codes)), dtype=np.float32)
    for i in range(int(n)):
        rec_seed = record_seed(seed, i)
        rng = np.random.default_rng([rec_seed, 1])
        chosen = training_labels(rng, codes)
        levels = {key: float(rng.uniform(*bounds)) for key, bounds in (level_ranges or {}).items()}
        signals.append(generate_pair(chosen, rec_seed, **levels).record.signal)
        labels[i, [codes.index(c) for c in chosen]] = 1.0
    return np.stack(signals), labels
