"""Look-ups on the class table: by code, aliases, explanation defaults, synthesis and targets.

``WINDOW_SEC_BY_SNOMED``, ``LEAD_PRIOR_BY_SNOMED`` and ``FUSION_WEIGHTS_BY_SNOMED`` keep the original
toolkit's names: they start as the table's explanation defaults and are the live settings (change
them to tune a class, as the original README describes). ``TARGET_META`` keeps the original form:
canonical code -> ``{"name": ..., "aliases": [...]}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ecgxai.classes.regions import EvaluationRegion
from ecgxai.classes.table import (
    AFIB,
    EQUIVALENT_CODES,
    NSR,
    SCORED_CLASSES,
    SYNTH_CODES,
    UNSCORED_CLASSES,
    DiagnosisClass,
    SynthRecipe,
)
from ecgxai.errors import ConfigurationError, UnknownClassError

_BY_CODE: dict[str, DiagnosisClass] = {c.code: c for c in (*SCORED_CLASSES, *UNSCORED_CLASSES)}


def diagnosis_class(code: str | int) -> DiagnosisClass:
    """The table entry of a code; UnknownClassError naming the code for anything unknown."""
    try:
        return _BY_CODE[str(code).strip()]
    except KeyError:
        raise UnknownClassError(f"{code!r} is not one of the 27 scored SNOMED CT codes nor of "
                                f"{[c.code for c in UNSCORED_CLASSES]}") from None


def class_name(code: str | int) -> str:
    """Human name of a known code."""
    return diagnosis_class(code).name


def abbreviation(code: str | int) -> str:
    """Abbreviation of a known code (``dx_mapping_scored.csv``'s)."""
    return diagnosis_class(code).abbreviation


def equivalents(code: str | int) -> tuple[str, ...]:
    """The code itself followed by the codes scored as the same diagnosis (its aliases)."""
    code = str(code).strip()
    others = [b if a == code else a for a, b in EQUIVALENT_CODES if code in (a, b)]
    return (code, *others)


# --- evaluation ---------------------------------------------------------------------------------------


def evaluation_region(code: str | int) -> EvaluationRegion:
    """Where an explanation of the class should point (leads, windows) and the criterion's source."""
    return diagnosis_class(code).region


#: Evaluation region of every scored class (code -> region); equivalent codes share one region.
EVALUATION_REGIONS: dict[str, EvaluationRegion] = {c.code: c.region for c in SCORED_CLASSES}
#: Codes whose ``qrs_term`` window ends later (bundle branch blocks, intraventricular conduction delay).
WIDE_QRS_CODES: frozenset[str] = frozenset(c.code for c in SCORED_CLASSES if c.wide_qrs)


# --- explanation defaults -----------------------------------------------------------------------------

BASE_WINDOW_SEC = 0.5
DEFAULT_FUSION_WEIGHTS: tuple[float, float] = (0.5, 0.5)
#: Event window length per class (classes without an entry: ``BASE_WINDOW_SEC``).
WINDOW_SEC_BY_SNOMED: dict[str, float] = {c.code: c.window_sec for c in SCORED_CLASSES
                                          if c.window_sec is not None}
#: Lead priors in [0, 1]: 1 = where the diagnosis is classically read.
LEAD_PRIOR_BY_SNOMED: dict[str, dict[str, float]] = {c.code: dict(c.lead_prior) for c in SCORED_CLASSES
                                                     if c.lead_prior}
#: (LIME, TimeSHAP) weights used by the fused pipeline.
FUSION_WEIGHTS_BY_SNOMED: dict[str, tuple[float, float]] = {
    c.code: c.fusion_weights for c in SCORED_CLASSES if c.fusion_weights is not None}


def window_sec_for(code: str | int, table: Mapping[str, float] | None = None) -> float:
    """Event window length for a class (``BASE_WINDOW_SEC`` when it has no entry)."""
    return float((WINDOW_SEC_BY_SNOMED if table is None else table).get(str(code), BASE_WINDOW_SEC))


def lead_prior_for(code: str | int) -> dict[str, float]:
    """Lead prior of a class; empty when it has none."""
    return dict(LEAD_PRIOR_BY_SNOMED.get(str(code), {}))


def fusion_weights_for(code: str | int) -> tuple[float, float]:
    """(LIME, TimeSHAP) fusion weights for a class."""
    return FUSION_WEIGHTS_BY_SNOMED.get(str(code), DEFAULT_FUSION_WEIGHTS)


# --- synthesis ----------------------------------------------------------------------------------------


def synth_recipe(code: str | int) -> SynthRecipe:
    """How the generator plants ``code``; UnknownClassError lists the supported codes otherwise."""
    entry = _BY_CODE.get(str(code).strip())
    recipe = None if entry is None else entry.synth
    if recipe is None:
        raise UnknownClassError(f"{code!r} cannot be synthesised; supported codes: {', '.join(SYNTH_CODES)}")
    return recipe


#: code -> one-line description of what the generator plants.
SYNTH_DESCRIPTIONS: dict[str, str] = {code: synth_recipe(code).description for code in SYNTH_CODES}


# --- targets ------------------------------------------------------------------------------------------


def make_target_meta(codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """TARGET_META entries for known codes, aliases = the code and its scored equivalents."""
    return {str(c): {"name": class_name(c), "aliases": list(equivalents(c))} for c in codes}


#: Default targets, as in the original toolkit: atrial fibrillation and sinus rhythm.
TARGET_META: dict[str, dict[str, Any]] = make_target_meta([AFIB, NSR])


def validate_target_meta(
    target_meta: Mapping[str, Mapping[str, Any]],
    class_names: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Check a TARGET_META mapping and return it normalised (codes as str, canonical first).

    With ``class_names``, every target needs at least one alias among them,
    otherwise UnknownClassError names the target.
    """
    if not isinstance(target_meta, Mapping) or not target_meta:
        raise ConfigurationError("target_meta must be a non-empty mapping code -> {name, aliases}")
    known = None if class_names is None else {str(c) for c in class_names}
    out: dict[str, dict[str, Any]] = {}
    for code, meta in target_meta.items():
        code = str(code)
        if not code.isdigit():
            raise UnknownClassError(f"target {code!r} is not a SNOMED CT code (digits only)")
        if not isinstance(meta, Mapping):
            raise ConfigurationError(f"target {code}: meta must be a mapping, got {type(meta).__name__}")
        aliases = [str(a) for a in meta.get("aliases", [code])]
        aliases = [code, *[a for a in aliases if a != code]]
        bad = [a for a in aliases if not a.isdigit()]
        if bad:
            raise UnknownClassError(f"target {code}: aliases {bad} are not SNOMED CT codes")
        if known is not None and not known.intersection(aliases):
            raise UnknownClassError(
                f"target {code}: none of its codes {aliases} is among the model's classes"
            )
        known_name = _BY_CODE[code].name if code in _BY_CODE else code
        out[code] = {"name": str(meta.get("name") or known_name), "aliases": aliases}
    return out
