"""Per-class explanation defaults, in one place, under the original toolkit's names.

Change these dicts to tune a class, as the original README describes:
``WINDOW_SEC_BY_SNOMED`` (event window length), ``LEAD_PRIOR_BY_SNOMED``
(how strongly each lead is favoured when lead masks are sampled; used only when
``use_lead_priors=True``, and then labelled in the explanation's params) and
``FUSION_WEIGHTS_BY_SNOMED`` (LIME vs TimeSHAP weights when fusing).
"""

from __future__ import annotations

from collections.abc import Mapping

from ecgxai.io.classes import AF_CODE, SINUS_RHYTHM_CODE

BASE_WINDOW_SEC = 0.5

#: Event window length per class: short windows for P-wave driven sinus rhythm, beat-length for
#: ventricular premature beats, half a second otherwise (the original's values).
WINDOW_SEC_BY_SNOMED: dict[str, float] = {
    SINUS_RHYTHM_CODE: 0.25,
    AF_CODE: 0.5,
    "17338001": 0.4,   # ventricular premature beats
    "427172004": 0.4,  # premature ventricular contractions (scored as the same diagnosis)
}

#: Lead priors in [0, 1]: 1 = where the diagnosis is classically read.
LEAD_PRIOR_BY_SNOMED: dict[str, dict[str, float]] = {
    AF_CODE: {"II": 1.0, "V1": 1.0, "aVF": 0.7, "III": 0.6, "V2": 0.5},
    SINUS_RHYTHM_CODE: {"II": 1.0, "V1": 0.8, "I": 0.6, "aVF": 0.6},
    "17338001": {"V1": 1.0, "V2": 0.8, "V5": 0.8, "V6": 0.8, "II": 0.6},
    "427172004": {"V1": 1.0, "V2": 0.8, "V5": 0.8, "V6": 0.8, "II": 0.6},
}

#: (LIME, TimeSHAP) weights used by the fused pipeline.
FUSION_WEIGHTS_BY_SNOMED: dict[str, tuple[float, float]] = {}
DEFAULT_FUSION_WEIGHTS: tuple[float, float] = (0.5, 0.5)


def window_sec_for(code: str, table: Mapping[str, float] | None = None) -> float:
    """Event window length for a class (``BASE_WINDOW_SEC`` when it has no entry)."""
    return float((WINDOW_SEC_BY_SNOMED if table is None else table).get(str(code), BASE_WINDOW_SEC))


def lead_prior_for(code: str) -> dict[str, float]:
    """Lead prior of a class; empty when it has none."""
    return dict(LEAD_PRIOR_BY_SNOMED.get(str(code), {}))


def fusion_weights_for(code: str) -> tuple[float, float]:
    """(LIME, TimeSHAP) fusion weights for a class."""
    return FUSION_WEIGHTS_BY_SNOMED.get(str(code), DEFAULT_FUSION_WEIGHTS)
