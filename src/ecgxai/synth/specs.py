"""The diagnoses the generator can plant, with the physiological ranges each is drawn from.

Ranges keep a margin from the diagnostic thresholds (e.g. sinus tachycardia at 108-140 bpm rather
than just above 100) so a record's label is never ambiguous to a measuring algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecgxai.errors import UnknownClassError
from ecgxai.synth.rhythm import AF, SINUS

NSR = "426783006"
SB = "426177001"
STACH = "427084000"
AFIB = "164889003"
IAVB = "270492004"
RBBB = "59118001"
LBBB = "164909002"
PVC = "427172004"


@dataclass(frozen=True)
class SynthClass:
    """How to generate one diagnosis: rhythm, conduction pattern and parameter ranges."""

    code: str
    abbreviation: str
    description: str
    rhythm: str  # "sinus" or "af"
    conduction: str  # "normal", "rbbb" or "lbbb"
    hr_bpm: tuple[float, float]
    pr_ms: tuple[float, float] | None  # None: no P waves
    n_pvc: tuple[int, int] = (0, 0)


SYNTH_CLASSES: dict[str, SynthClass] = {c.code: c for c in (
    SynthClass(NSR, "NSR", "sinus rhythm, 62-95 bpm, PR 130-180 ms, narrow QRS",
               SINUS, "normal", (62, 95), (130, 180)),
    SynthClass(SB, "SB", "sinus bradycardia, 42-55 bpm, otherwise normal",
               SINUS, "normal", (42, 55), (140, 190)),
    SynthClass(STACH, "STach", "sinus tachycardia, 108-140 bpm, otherwise normal",
               SINUS, "normal", (108, 140), (115, 160)),
    SynthClass(AFIB, "AF", "atrial fibrillation: 70-125 bpm, irregularly irregular RR (CV 0.15-0.3), "
               "no P waves, 5-8 Hz f waves largest in V1 and the inferior leads",
               AF, "normal", (70, 125), None),
    SynthClass(IAVB, "IAVB", "first-degree AV block: sinus rhythm, 55-80 bpm, PR 240-320 ms",
               SINUS, "normal", (55, 80), (240, 320)),
    SynthClass(RBBB, "RBBB", "right bundle branch block: sinus rhythm, QRS ~130-155 ms, rSR' in V1-V2, "
               "wide slurred S in I, aVL, V5, V6, T inverted in V1-V2",
               SINUS, "rbbb", (60, 95), (130, 180)),
    SynthClass(LBBB, "LBBB", "left bundle branch block: sinus rhythm, QRS ~135-165 ms, broad notched R "
               "in I, aVL, V5, V6, QS/rS in V1-V2, discordant ST-T",
               SINUS, "lbbb", (60, 95), (140, 190)),
    SynthClass(PVC, "PVC", "premature ventricular contractions: sinus rhythm with 1-3 early (55-70 % "
               "of the RR), wide (~150-185 ms), large, P-less beats, each followed by a compensatory pause",
               SINUS, "normal", (60, 90), (130, 180), n_pvc=(1, 3)),
)}

#: Supported SNOMED CT codes, in a fixed order (also the default class order of a dataset).
SYNTH_CODES: tuple[str, ...] = tuple(SYNTH_CLASSES)
#: code -> one-line description of what the generator plants.
SYNTH_DESCRIPTIONS: dict[str, str] = {c.code: c.description for c in SYNTH_CLASSES.values()}


def synth_class(code: str | int) -> SynthClass:
    """The generation recipe of ``code``; UnknownClassError lists the supported codes otherwise."""
    try:
        return SYNTH_CLASSES[str(code)]
    except KeyError:
        raise UnknownClassError(
            f"{code!r} cannot be synthesised; supported codes: {', '.join(SYNTH_CODES)}"
        ) from None
