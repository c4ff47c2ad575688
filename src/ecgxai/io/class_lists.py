"""Diagnosis classes: the Challenge's 27 scored SNOMED CT codes, class lists and targets.

``SCORED_CLASSES`` follows ``dx_mapping_scored.csv`` of the PhysioNet/CinC
Challenge 2020/2021 (same order, which is also the reference model's output
order). ``TARGET_META`` keeps the original toolkit's form: canonical code ->
``{"name": ..., "aliases": [...]}``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecgxai.errors import ConfigurationError, UnknownClassError


@dataclass(frozen=True)
class DiagnosisClass:
    """One scored diagnosis: SNOMED CT code, name and abbreviation."""

    code: str
    name: str
    abbreviation: str


SCORED_CLASSES: tuple[DiagnosisClass, ...] = tuple(
    DiagnosisClass(code, name, abbr)
    for name, code, abbr in [
        ("1st degree av block", "270492004", "IAVB"),
        ("atrial fibrillation", "164889003", "AF"),
        ("atrial flutter", "164890007", "AFL"),
        ("bradycardia", "426627000", "Brady"),
        ("complete right bundle branch block", "713427006", "CRBBB"),
        ("incomplete right bundle branch block", "713426002", "IRBBB"),
        ("left anterior fascicular block", "445118002", "LAnFB"),
        ("left axis deviation", "39732003", "LAD"),
        ("left bundle branch block", "164909002", "LBBB"),
        ("low qrs voltages", "251146004", "LQRSV"),
        ("nonspecific intraventricular conduction disorder", "698252002", "NSIVCB"),
        ("pacing rhythm", "10370003", "PR"),
        ("premature atrial contraction", "284470004", "PAC"),
        ("premature ventricular contractions", "427172004", "PVC"),
        ("prolonged pr interval", "164947007", "LPR"),
        ("prolonged qt interval", "111975006", "LQT"),
        ("qwave abnormal", "164917005", "QAb"),
        ("right axis deviation", "47665007", "RAD"),
        ("right bundle branch block", "59118001", "RBBB"),
        ("sinus arrhythmia", "427393009", "SA"),
        ("sinus bradycardia", "426177001", "SB"),
        ("sinus rhythm", "426783006", "NSR"),
        ("sinus tachycardia", "427084000", "STach"),
        ("supraventricular premature beats", "63593006", "SVPB"),
        ("t wave abnormal", "164934002", "TAb"),
        ("t wave inversion", "59931005", "TInv"),
        ("ventricular premature beats", "17338001", "VPB"),
    ]
)

#: Pairs the Challenge scores as the same diagnosis.
EQUIVALENT_CODES: tuple[tuple[str, str], ...] = (
    ("713427006", "59118001"),
    ("284470004", "63593006"),
    ("427172004", "17338001"),
)

SCORED_CODES: tuple[str, ...] = tuple(c.code for c in SCORED_CLASSES)
#: Diagnoses beyond the scored classes that ecgxai knows by name (the localisation benchmark plants them).
UNSCORED_CLASSES: tuple[DiagnosisClass, ...] = (DiagnosisClass("164931005", "st elevation", "STE"),)
_BY_CODE: dict[str, DiagnosisClass] = {c.code: c for c in (*SCORED_CLASSES, *UNSCORED_CLASSES)}

AF_CODE = "164889003"
SINUS_RHYTHM_CODE = "426783006"


def equivalents(code: str) -> tuple[str, ...]:
    """The code itself followed by the codes scored as the same diagnosis."""
    code = str(code)
    others = [b if a == code else a for a, b in EQUIVALENT_CODES if code in (a, b)]
    return (code, *others)


def class_name(code: str) -> str:
    """Human name of a scored (or known unscored) code; raises UnknownClassError for anything else."""
    try:
        return _BY_CODE[str(code)].name
    except KeyError:
        raise UnknownClassError(f"{code!r} is not one of the 27 scored SNOMED CT codes") from None


def make_target_meta(codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """TARGET_META entries for scored codes, aliases = the code and its scored equivalents."""
    return {str(c): {"name": class_name(c), "aliases": list(equivalents(c))} for c in codes}


#: Default targets, as in the original toolkit: atrial fibrillation and sinus rhythm.
TARGET_META: dict[str, dict[str, Any]] = make_target_meta([AF_CODE, SINUS_RHYTHM_CODE])


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


def load_class_names(source: str | Path | Sequence[str] | np.ndarray) -> tuple[str, ...]:
    """Class codes from a list, a ``.txt`` (one per line), a ``.npy`` or a ``.csv`` file.

    ``.npy`` files are read without pickle; a ``.csv`` needs a ``SNOMED CT Code``
    (or ``code``) column, as in ``dx_mapping_scored.csv``.
    """
    if isinstance(source, (str, Path)):
        codes = _read_class_file(Path(source))
    else:
        codes = [str(c) for c in np.asarray(source).ravel()]
    codes = [c.strip() for c in codes if c.strip()]
    if not codes:
        raise ConfigurationError(f"class list {source!s:.80} is empty")
    if len(set(codes)) != len(codes):
        raise ConfigurationError(f"class list {source!s:.80} holds duplicate codes")
    return tuple(codes)


def _read_class_file(path: Path) -> list[str]:
    if not path.is_file():
        raise ConfigurationError(f"{path}: class file not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return [str(c) for c in np.load(path, allow_pickle=False).ravel()]
        except ValueError as exc:
            raise ConfigurationError(f"{path}: not a plain (non-pickled) numpy array: {exc}") from None
    if suffix == ".csv":
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        column = next((c for c in ("SNOMED CT Code", "code") if rows and c in rows[0]), None)
        if column is None:
            raise ConfigurationError(f"{path}: needs a 'SNOMED CT Code' or 'code' column")
        return [row[column] for row in rows]
    return path.read_text().split()


def scored_classes_from_csv(path: str | Path) -> tuple[DiagnosisClass, ...]:
    """Read a Challenge ``dx_mapping_scored.csv`` into DiagnosisClass entries."""
    with Path(path).open(newline="") as fh:
        return tuple(
            DiagnosisClass(row["SNOMED CT Code"].strip(), row["Dx"].strip(), row["Abbreviation"].strip())
            for row in csv.DictReader(fh)
        )


def check_codes_known(codes: Iterable[str], class_names: Sequence[str], where: str) -> None:
    """Raise UnknownClassError naming ``where`` if any code is not in ``class_names``."""
    known = set(class_names)
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise UnknownClassError(f"{where}: unknown class code(s) {unknown}")
