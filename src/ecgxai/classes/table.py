"""The class table: one :class:`DiagnosisClass` per diagnosis ecgxai knows, holding every per-class fact.

``SCORED_CLASSES`` follows ``dx_mapping_scored.csv`` of the PhysioNet/CinC Challenge 2020/2021
(same order, which is also the reference model's output order). Each entry carries its
evaluation region (:mod:`ecgxai.classes.regions`), its explanation defaults (``None`` or empty:
the toolkit-wide default) and, for the classes the generator plants, its synthesis recipe, whose
ranges keep a margin from the diagnostic thresholds (e.g. sinus tachycardia at 108-140 bpm rather
than just above 100) so a record's label is never ambiguous to a measuring algorithm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ecgxai.classes import regions
from ecgxai.classes.regions import EvaluationRegion
from ecgxai.errors import ConfigurationError


@dataclass(frozen=True)
class SynthRecipe:
    """How the generator plants one diagnosis: rhythm, conduction pattern and parameter ranges."""

    description: str
    rhythm: str  # "sinus" or "af"
    conduction: str  # "normal", "rbbb" or "lbbb"
    hr_bpm: tuple[float, float]
    pr_ms: tuple[float, float] | None  # None: no P waves
    n_pvc: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class DiagnosisClass:
    """One diagnosis: SNOMED CT code, names, evaluation region, explanation defaults, synthesis."""

    code: str
    name: str
    abbreviation: str
    region: EvaluationRegion
    #: Event window length in seconds (None: ``BASE_WINDOW_SEC``).
    window_sec: float | None = None
    #: Lead prior in [0, 1] (1 = where the diagnosis is classically read); used by LIME when asked.
    lead_prior: Mapping[str, float] = field(default_factory=dict, hash=False)
    #: (LIME, TimeSHAP) weights of the fused pipeline (None: ``DEFAULT_FUSION_WEIGHTS``).
    fusion_weights: tuple[float, float] | None = None
    #: QRS widened by a conduction delay: the ``qrs_term`` window ends later.
    wide_qrs: bool = False
    #: How :func:`ecgxai.synth.generate_ecg` plants it (None: not synthesised).
    synth: SynthRecipe | None = None


# --- the codes code refers to by name --------------------------------------------------------------------

NSR, SB, STACH, AFIB = "426783006", "426177001", "427084000", "164889003"
IAVB, RBBB, LBBB, PVC = "270492004", "59118001", "164909002", "427172004"
CRBBB, VPB, PAC, SVPB = "713427006", "17338001", "284470004", "63593006"
ST_ELEVATION, T_INVERSION, Q_WAVE = "164931005", "59931005", "164917005"

_PVC_PRIOR = {"V1": 1.0, "V2": 0.8, "V5": 0.8, "V6": 0.8, "II": 0.6}
_SINUS = "sinus"
_NORMAL_PR = (130, 180)

SCORED_CLASSES: tuple[DiagnosisClass, ...] = (
    DiagnosisClass(IAVB, "1st degree av block", "IAVB", regions.LONG_PR, synth=SynthRecipe(
        "first-degree AV block: sinus rhythm, 55-80 bpm, PR 240-320 ms",
        _SINUS, "normal", (55, 80), (240, 320))),
    DiagnosisClass(AFIB, "atrial fibrillation", "AF", regions.AF, window_sec=0.5,
                   lead_prior={"II": 1.0, "V1": 1.0, "aVF": 0.7, "III": 0.6, "V2": 0.5}, synth=SynthRecipe(
        "atrial fibrillation: 70-125 bpm, irregularly irregular RR (CV 0.15-0.3), no P waves, "
        "5-8 Hz f waves largest in V1 and the inferior leads", "af", "normal", (70, 125), None)),
    DiagnosisClass("164890007", "atrial flutter", "AFL", regions.FLUTTER),
    DiagnosisClass("426627000", "bradycardia", "Brady", regions.BRADYCARDIA),
    DiagnosisClass(CRBBB, "complete right bundle branch block", "CRBBB", regions.RBBB, wide_qrs=True),
    DiagnosisClass("713426002", "incomplete right bundle branch block", "IRBBB", regions.RBBB, wide_qrs=True),
    DiagnosisClass("445118002", "left anterior fascicular block", "LAnFB", regions.LAFB),
    DiagnosisClass("39732003", "left axis deviation", "LAD", regions.LAD),
    DiagnosisClass(LBBB, "left bundle branch block", "LBBB", regions.LBBB, wide_qrs=True, synth=SynthRecipe(
        "left bundle branch block: sinus rhythm, QRS ~135-165 ms, broad notched R in I, aVL, V5, V6, "
        "QS/rS in V1-V2, discordant ST-T", _SINUS, "lbbb", (60, 95), (140, 190))),
    DiagnosisClass("251146004", "low qrs voltages", "LQRSV", regions.LOW_QRS),
    DiagnosisClass("698252002", "nonspecific intraventricular conduction disorder", "NSIVCB", regions.NSIVCB,
                   wide_qrs=True),
    DiagnosisClass("10370003", "pacing rhythm", "PR", regions.PACED),
    DiagnosisClass(PAC, "premature atrial contraction", "PAC", regions.PAC),
    DiagnosisClass(PVC, "premature ventricular contractions", "PVC", regions.PVC, window_sec=0.4,
                   lead_prior=_PVC_PRIOR, synth=SynthRecipe(
        "premature ventricular contractions: sinus rhythm with 1-3 early (55-70 % of the RR), wide "
        "(~150-185 ms), large, P-less beats, each followed by a compensatory pause",
        _SINUS, "normal", (60, 90), _NORMAL_PR, n_pvc=(1, 3))),
    DiagnosisClass("164947007", "prolonged pr interval", "LPR", regions.LONG_PR),
    DiagnosisClass("111975006", "prolonged qt interval", "LQT", regions.LONG_QT),
    DiagnosisClass(Q_WAVE, "qwave abnormal", "QAb", regions.Q_WAVE),
    DiagnosisClass("47665007", "right axis deviation", "RAD", regions.RAD),
    DiagnosisClass(RBBB, "right bundle branch block", "RBBB", regions.RBBB, wide_qrs=True, synth=SynthRecipe(
        "right bundle branch block: sinus rhythm, QRS ~130-155 ms, rSR' in V1-V2, wide slurred S in I, "
        "aVL, V5, V6, T inverted in V1-V2", _SINUS, "rbbb", (60, 95), _NORMAL_PR)),
    DiagnosisClass("427393009", "sinus arrhythmia", "SA", regions.SINUS_ARRHYTHMIA),
    DiagnosisClass(SB, "sinus bradycardia", "SB", regions.SINUS_BRADY, synth=SynthRecipe(
        "sinus bradycardia, 42-55 bpm, otherwise normal", _SINUS, "normal", (42, 55), (140, 190))),
    DiagnosisClass(NSR, "sinus rhythm", "NSR", regions.SINUS, window_sec=0.25,
                   lead_prior={"II": 1.0, "V1": 0.8, "I": 0.6, "aVF": 0.6}, synth=SynthRecipe(
        "sinus rhythm, 62-95 bpm, PR 130-180 ms, narrow QRS", _SINUS, "normal", (62, 95), _NORMAL_PR)),
    DiagnosisClass(STACH, "sinus tachycardia", "STach", regions.SINUS_TACHY, synth=SynthRecipe(
        "sinus tachycardia, 108-140 bpm, otherwise normal", _SINUS, "normal", (108, 140), (115, 160))),
    DiagnosisClass(SVPB, "supraventricular premature beats", "SVPB", regions.PAC),
    DiagnosisClass("164934002", "t wave abnormal", "TAb", regions.T_WAVE),
    DiagnosisClass(T_INVERSION, "t wave inversion", "TInv", regions.T_WAVE),
    DiagnosisClass(VPB, "ventricular premature beats", "VPB", regions.PVC, window_sec=0.4,
                   lead_prior=_PVC_PRIOR),
)
#: Diagnoses beyond the scored classes that ecgxai knows (the localisation benchmark plants them).
UNSCORED_CLASSES: tuple[DiagnosisClass, ...] = (
    DiagnosisClass(ST_ELEVATION, "st elevation", "STE", regions.ST_ELEVATION),
)
SCORED_CODES: tuple[str, ...] = tuple(c.code for c in SCORED_CLASSES)

#: Pairs the Challenge scores as the same diagnosis (each code is the other's alias).
EQUIVALENT_CODES: tuple[tuple[str, str], ...] = ((CRBBB, RBBB), (PAC, SVPB), (PVC, VPB))

#: Classes the generator plants, in a fixed order (a synthetic dataset's and the demo model's classes).
SYNTH_CODES: tuple[str, ...] = (NSR, SB, STACH, AFIB, IAVB, RBBB, LBBB, PVC)
#: Classes the localisation benchmark plants, in class order (the benchmark classifier's outputs).
BENCHMARK_CODES: tuple[str, ...] = (RBBB, LBBB, IAVB, PVC, AFIB, ST_ELEVATION, T_INVERSION, Q_WAVE)


def _check_table() -> None:
    """Codes are unique, equivalent codes share every fact but the names, the code lists are known."""
    known = [c.code for c in (*SCORED_CLASSES, *UNSCORED_CLASSES)]
    if len(set(known)) != len(known) or len(SCORED_CODES) != 27:
        raise ConfigurationError(f"the class table must list 27 scored classes, each once: {known}")
    shared = {c.code: (c.region, c.window_sec, dict(c.lead_prior), c.fusion_weights, c.wide_qrs)
              for c in SCORED_CLASSES}
    unequal = [(a, b) for a, b in EQUIVALENT_CODES if shared[a] != shared[b]]
    if unequal:
        raise ConfigurationError(f"equivalent codes with different regions or defaults: {unequal}")
    synthesised = [c.code for c in SCORED_CLASSES if c.synth is not None]
    if sorted(synthesised) != sorted(SYNTH_CODES) or not set(BENCHMARK_CODES) <= set(known):
        raise ConfigurationError(f"SYNTH_CODES {SYNTH_CODES} must be the classes with a recipe "
                                 f"{synthesised}, BENCHMARK_CODES {BENCHMARK_CODES} known classes")


_check_table()
