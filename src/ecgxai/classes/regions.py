"""Where an explanation of each diagnosis should point: leads and beat windows from ECG criteria.

An :class:`EvaluationRegion` holds:

- ``strict_leads``: the leads the diagnostic criterion is read in;
- ``lenient_leads``: those plus the leads where the same finding is commonly also seen
  (always a superset of ``strict_leads``, strict leads first);
- ``windows``: beat-window types (:data:`ecgxai.config.WINDOW_TYPES`) that hold the finding;
- ``source``: a short citation of the criterion.

The atrial fibrillation and sinus rhythm regions are exactly the original toolkit's (its
published AttAUC and P@K numbers depend on them); the others encode the criteria of the cited
documents. :mod:`ecgxai.classes.table` assigns them to classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecgxai import config
from ecgxai.errors import ConfigurationError


@dataclass(frozen=True)
class EvaluationRegion:
    """Leads and window types where one diagnosis shows, with the source of the criterion."""

    strict_leads: tuple[str, ...]
    lenient_leads: tuple[str, ...]
    windows: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        for field_name in ("strict_leads", "lenient_leads", "windows"):
            values = getattr(self, field_name)
            if isinstance(values, str) or not isinstance(values, tuple) or not values:
                raise ConfigurationError(
                    f"EvaluationRegion.{field_name} must be a non-empty tuple, got {values!r}")
            if len(set(values)) != len(values):
                raise ConfigurationError(f"EvaluationRegion.{field_name} holds duplicates: {values!r}")
        bad = [lead for lead in self.lenient_leads + self.strict_leads if lead not in config.STANDARD_LEADS]
        if bad:
            raise ConfigurationError(
                f"EvaluationRegion: unknown lead(s) {bad}; expected {list(config.STANDARD_LEADS)}")
        missing = [lead for lead in self.strict_leads if lead not in self.lenient_leads]
        if missing:
            raise ConfigurationError(
                f"EvaluationRegion: strict lead(s) {missing} missing from the lenient leads")
        unknown = [w for w in self.windows if w not in config.WINDOW_TYPES]
        if unknown:
            raise ConfigurationError(f"EvaluationRegion: unknown window type(s) {unknown}; "
                                     f"expected {list(config.WINDOW_TYPES)}")
        if not self.source.strip():
            raise ConfigurationError("EvaluationRegion.source must cite the criterion")


def _region(
    strict: tuple[str, ...], extra: tuple[str, ...], windows: tuple[str, ...], source: str
) -> EvaluationRegion:
    """A region whose lenient leads are the strict leads followed by ``extra``."""
    lenient = strict + tuple(lead for lead in extra if lead not in strict)
    return EvaluationRegion(strict, lenient, windows, source)


# --- citations ------------------------------------------------------------------------------------------

_PART_II = ("AHA/ACCF/HRS 2007 recommendations for the standardization and interpretation of the ECG, "
            "part II (diagnostic statement list; Mason et al., Circulation 2007)")
_PART_III = ("AHA/ACCF/HRS 2009 recommendations for the standardization and interpretation of the ECG, "
             "part III (intraventricular conduction disturbances; Surawicz et al., Circulation 2009)")
_PART_IV = ("AHA/ACCF/HRS 2009 recommendations for the standardization and interpretation of the ECG, "
            "part IV (ST segment, T and U waves, QT interval; Rautaharju et al., Circulation 2009)")
_BRADY = ("2018 ACC/AHA/HRS guideline on the evaluation and management of patients with bradycardia and "
          "cardiac conduction delay (Kusumoto et al., Circulation 2019)")

_LIMB = ("I", "II", "III", "aVR", "aVL", "aVF")
_PRECORDIAL = ("V1", "V2", "V3", "V4", "V5", "V6")

# Atrial fibrillation and sinus rhythm: exactly the original toolkit's entries.
AF = EvaluationRegion(
    strict_leads=("II", "V1"),
    lenient_leads=("II", "V1", "V2", "aVF", "I", "V5", "V6", "aVR"),
    windows=("beat",),
    source="2020 ESC guidelines for the diagnosis and management of atrial fibrillation (Hindricks et al., "
           "Eur Heart J 2021): irregularly irregular RR intervals, no distinct P waves (best seen in II, V1)",
)
SINUS = EvaluationRegion(
    strict_leads=("II", "V1"),
    lenient_leads=("II", "V1", "I", "aVF", "V2"),
    windows=("pre",),
    source=_PART_II + ": P wave before every QRS, upright in I and II (sinus rhythm)",
)

# First-degree AV block and prolonged PR: PR interval > 200 ms, P wave and PR segment in II and V1.
LONG_PR = _region(("II", "V1"), ("I", "III", "aVF", "V2"), ("pre", "qrs_on"),
                  _PART_II + "; " + _BRADY + ": PR interval > 200 ms (first-degree AV block)")
# Right bundle branch block (complete or incomplete): rsR' in V1-V2, wide slurred S in I, aVL, V5, V6.
RBBB = _region(("V1", "V2"), ("I", "aVL", "V5", "V6"), ("qrs", "qrs_term"),
               _PART_III + ": rsr'/rsR'/rSR' in V1-V2, S wave wider than R (or > 40 ms) in I and V6")
LBBB = _region(("I", "aVL", "V5", "V6"), ("V1", "V2"), ("qrs", "qrs_term"),
               _PART_III + ": broad notched or slurred R in I, aVL, V5, V6, no q there; rS or QS in V1-V2")
NSIVCB = _region(("I", "aVL", "V1", "V5", "V6"), ("II", "aVF", "V2", "V3", "V4"), ("qrs", "qrs_term"),
                 _PART_III + ": QRS > 110 ms without the RBBB or LBBB morphology (nonspecific IVCD)")
# Frontal-plane axis: the sign of the QRS in I and aVF, refined with II, III and aVL.
_AXIS_LEADS = (("I", "aVF"), ("II", "III", "aVL"))
LAFB = _region(*_AXIS_LEADS, ("qrs",),
               _PART_III + ": frontal axis -45 to -90 degrees, qR in aVL, rS in II, III, aVF (LAFB)")
LAD = _region(*_AXIS_LEADS, ("qrs",),
              _PART_II + "; " + _PART_III + ": frontal QRS axis beyond -30 degrees "
              "(QRS negative in II and aVF, positive in I)")
RAD = _region(*_AXIS_LEADS, ("qrs",),
              _PART_II + "; " + _PART_III + ": frontal QRS axis beyond +90 degrees "
              "(QRS negative in I, positive in aVF)")
LOW_QRS = _region(_LIMB, _PRECORDIAL, ("qrs",),
                  _PART_II + ": QRS amplitude < 0.5 mV in every limb lead "
                  "or < 1.0 mV in every precordial lead")
PACED = _region(("II", "V1", "V5"), ("I", "III", "aVF", "V2", "V6"), ("pace", "qrs"),
                _PART_II + " (paced rhythm): pacemaker stimulus artefacts followed by a wide paced QRS")
# Premature atrial/supraventricular beats: the early, abnormal P wave (II and V1).
PAC = _region(("II", "V1"), ("I", "III", "aVF"), ("pre",),
              _PART_II + ": premature P wave of a different morphology before a (usually) narrow QRS")
# Premature ventricular beats: wide, bizarre QRS without a preceding P, discordant ST-T; V1/V6 give the
# bundle-branch-like morphology and II the inferior or superior axis.
PVC = _region(("V1", "V5", "V6", "II"), ("I", "aVF", "V2"), ("qrs", "beat"),
              _PART_II + ": premature wide QRS (> 120 ms) not preceded by a P wave, discordant ST-T")
LONG_QT = _region(("II", "V5"), ("V6", "I", "V2", "V3"), ("stt", "tlate"),
                  _PART_IV + ": QT (QRS onset to T end, lead II or V5) corrected above 450 ms (men) / 460 ms "
                  "(women)")
Q_WAVE = _region(("II", "III", "aVF", "V1", "V2", "V3", "V4"), ("I", "aVL", "V5", "V6"), ("qrs_on", "qrs"),
                 "Fourth universal definition of myocardial infarction "
                 "(Thygesen et al., ESC/ACC/AHA/WHF 2018): pathological Q waves >= 30-40 ms "
                 "in two contiguous leads; any Q in V2-V3 >= 20 ms")
T_WAVE = _region(("I", "II", "aVL", "V2", "V3", "V4", "V5", "V6"), ("V1", "aVF", "III"), ("stt", "tlate"),
                 _PART_IV + ": T wave flat or inverted where normally upright (I, II, aVL, V2-V6)")
_RATE_SOURCE = _PART_II + ": sinus P waves, rate and P-P variation read in the rhythm leads II and V1"
SINUS_BRADY = _region(("II", "V1"), ("I", "aVF", "V2"), ("pre", "beat"), _RATE_SOURCE + " (rate < 60 bpm)")
SINUS_TACHY = _region(("II", "V1"), ("I", "aVF", "V2"), ("pre", "beat"), _RATE_SOURCE + " (rate > 100 bpm)")
SINUS_ARRHYTHMIA = _region(("II", "V1"), ("I", "aVF", "V2"), ("pre", "beat"),
                           _RATE_SOURCE + " (P-P variation > 120 ms or > 10%)")
BRADYCARDIA = _region(("II", "V1"), ("I", "aVF", "V2"), ("pre", "beat"),
                      _BRADY + ": ventricular rate < 50-60 bpm; the P waves (II, V1) tell the mechanism")
ST_ELEVATION = _region(("II", "III", "aVF", "V2", "V3", "V4"), ("I", "aVL", "V1", "V5", "V6"), ("stt",),
                       "Fourth universal definition of myocardial infarction (Thygesen et al., "
                       "ESC/ACC/AHA/WHF 2018): new ST elevation at the J point in two contiguous leads, "
                       ">= 1 mm (>= 2 mm in V2-V3), in the leads of one coronary territory")
FLUTTER = _region(("II", "III", "aVF", "V1"), ("I", "V2", "aVR"), ("beat",),
                  "2019 ESC guidelines for the management of supraventricular tachycardia (Brugada et al., "
                  "Eur Heart J 2020): saw-tooth flutter waves (~300/min) in II, III, aVF, discrete in V1")
