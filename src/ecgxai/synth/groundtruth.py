"""Planted ground truth: where in each lead the evidence for a record's diagnosis lies.

Regions are per diagnosis code and lead, as half-open sample intervals ``[start, end)``, and are
saved beside the record as ``NAME.mask.json``::

    {"record": "NAME", "fs": 500, "n_samples": 5000, "lead_names": ["I", ..., "V6"],
     "codes": ["59118001"], "regions": {"59118001": {"V1": [[s, e], ...], ...}}}

What counts as evidence, per diagnosis (all beats of the record):

- RBBB: the delayed terminal QRS (the R' wave, from its onset to QRS end) in V1, V2, I, aVL, V5, V6;
- LBBB: the whole wide QRS in I, aVL, V1, V2, V5, V6;
- first-degree AV block: the PR interval (P onset to QRS onset) in all 12 leads, since the delay is a
  timing finding seen in every lead;
- AF: in II and V1 (the leads where f waves and missing P waves are read), each TQ segment (end of
  the previous T to QRS onset: where P waves would be and f waves are) joined with the QRS that ends
  it (the irregular RR intervals are carried by the beats);
- PVC: each premature beat from QRS onset to T end, in all 12 leads;
- sinus rhythm, bradycardia, tachycardia: the P waves and QRS complexes (sinus origin and rate) in
  I, II and aVF, the leads whose upright P wave defines a sinus rhythm.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgxai import classes
from ecgxai.errors import GroundTruthError, MissingGroundTruthError
from ecgxai.io.records import record_base

MASK_SUFFIX = ".mask.json"
Interval = tuple[int, int]
Regions = dict[str, dict[str, tuple[Interval, ...]]]


@dataclass(frozen=True)
class BeatAnnotation:
    """Planted fiducial points of one beat, in samples (may fall outside the record at its edges).

    ``terminal_on`` marks the start of a delayed terminal QRS (the R' of RBBB), when there is one.
    """

    kind: str
    qrs_on: int
    qrs_off: int
    t_off: int
    p_on: int | None = None
    p_off: int | None = None
    terminal_on: int | None = None


# --- which intervals of which leads are evidence -----------------------------------------------

ALL_LEADS = "all"
SINUS_LEADS = ("I", "II", "aVF")


def _sinus_intervals(beats: Sequence[BeatAnnotation]) -> list[Interval]:
    out = [(b.p_on, b.p_off) for b in beats if b.p_on is not None and b.p_off is not None]
    return out + [(b.qrs_on, b.qrs_off) for b in beats]


def _pr_intervals(beats: Sequence[BeatAnnotation]) -> list[Interval]:
    return [(b.p_on, b.qrs_on) for b in beats if b.p_on is not None]


def _af_intervals(beats: Sequence[BeatAnnotation]) -> list[Interval]:
    return [(prev.t_off, b.qrs_off) for prev, b in itertools.pairwise(beats)]


def _terminal_qrs(beats: Sequence[BeatAnnotation]) -> list[Interval]:
    return [(b.terminal_on, b.qrs_off) for b in beats if b.terminal_on is not None]


def _whole_qrs(beats: Sequence[BeatAnnotation]) -> list[Interval]:
    return [(b.qrs_on, b.qrs_off) for b in beats]


def _premature_beats(beats: Sequence[BeatAnnotation]) -> list[Interval]:
    return [(b.qrs_on, b.t_off) for b in beats if b.kind == "pvc"]


#: code -> (leads, function giving the evidence intervals of a beat sequence)
EVIDENCE: dict[str, tuple[tuple[str, ...] | str, Callable[[Sequence[BeatAnnotation]], list[Interval]]]] = {
    classes.NSR: (SINUS_LEADS, _sinus_intervals),
    classes.SB: (SINUS_LEADS, _sinus_intervals),
    classes.STACH: (SINUS_LEADS, _sinus_intervals),
    classes.AFIB: (("II", "V1"), _af_intervals),
    classes.IAVB: (ALL_LEADS, _pr_intervals),
    classes.RBBB: (("I", "aVL", "V1", "V2", "V5", "V6"), _terminal_qrs),
    classes.LBBB: (("I", "aVL", "V1", "V2", "V5", "V6"), _whole_qrs),
    classes.PVC: (ALL_LEADS, _premature_beats),
}


def merge_intervals(intervals: Iterable[Interval], n_samples: int) -> tuple[Interval, ...]:
    """Clip to ``[0, n_samples)``, drop empty intervals and merge overlapping or touching ones."""
    clipped = sorted((max(0, int(s)), min(n_samples, int(e))) for s, e in intervals)
    merged: list[list[int]] = []
    for s, e in clipped:
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return tuple((s, e) for s, e in merged)


def evidence_regions(code: str, beats: Sequence[BeatAnnotation], n_samples: int,
                     lead_names: Sequence[str]) -> dict[str, tuple[Interval, ...]]:
    """lead -> evidence intervals of diagnosis ``code`` for a record's beats (leads in record order)."""
    leads, intervals_of = EVIDENCE[code]
    chosen = lead_names if leads == ALL_LEADS else [name for name in lead_names if name in leads]
    intervals = merge_intervals(intervals_of(beats), n_samples)
    return {lead: intervals for lead in chosen} if intervals else {}


# --- the ground truth of one record ---------------------------------------------------------------


@dataclass(frozen=True)
class GroundTruth:
    """Diagnosis codes of a record and, per code and lead, the sample intervals holding the evidence."""

    record: str
    fs: float
    n_samples: int
    lead_names: tuple[str, ...]
    codes: tuple[str, ...]
    regions: Regions = field(default_factory=dict)

    def mask(self, code: str | None = None) -> np.ndarray:
        """(n_leads, n_samples) bool mask of ``code``'s evidence (None: union over all codes).

        A code the record does not carry has no evidence: its mask is all False.
        """
        out = np.zeros((len(self.lead_names), self.n_samples), dtype=bool)
        row = {name: i for i, name in enumerate(self.lead_names)}
        codes = self.regions if code is None else [str(code)]
        for c in codes:
            for lead, intervals in self.regions.get(c, {}).items():
                for start, end in intervals:
                    out[row[lead], start:end] = True
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ``NAME.mask.json`` content."""
        fs: float | int = int(self.fs) if float(self.fs).is_integer() else float(self.fs)
        return {
            "record": self.record,
            "fs": fs,
            "n_samples": int(self.n_samples),
            "lead_names": list(self.lead_names),
            "codes": list(self.codes),
            "regions": {code: {lead: [[int(s), int(e)] for s, e in ivs] for lead, ivs in leads.items()}
                        for code, leads in self.regions.items()},
        }

    @classmethod
    def from_dict(cls, data: Any, source: str | Path | None = None) -> GroundTruth:
        """Parse and check :meth:`to_dict` output; GroundTruthError names ``source`` on any defect."""
        try:
            return _parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise GroundTruthError(source, f"invalid ground truth: {problem}") from None

    def to_json(self) -> str:
        """Serialise to the ``NAME.mask.json`` text."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str, source: str | Path | None = None) -> GroundTruth:
        """Parse a ``NAME.mask.json`` text."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise GroundTruthError(source, f"not valid JSON ({exc})") from None
        return cls.from_dict(data, source)


def _parse(data: Any) -> GroundTruth:
    """Build a GroundTruth from decoded JSON, raising KeyError/TypeError/ValueError on defects."""
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    fs, n_samples = data["fs"], data["n_samples"]
    if not _is_number(fs) or not math.isfinite(fs) or fs <= 0:
        raise ValueError(f"fs must be positive, got {data['fs']!r}")
    if not _is_int(n_samples) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    lead_names = tuple(_strings(data["lead_names"], "lead_names"))
    if not lead_names or len(set(lead_names)) != len(lead_names):
        raise ValueError("lead_names must be non-empty and unique")
    regions_in = data["regions"]
    if not isinstance(regions_in, Mapping):
        raise TypeError("regions must be an object code -> lead -> intervals")
    regions = {str(code): _parse_leads(leads, lead_names, n_samples, str(code))
               for code, leads in regions_in.items()}
    return GroundTruth(record=str(data["record"]), fs=float(fs), n_samples=n_samples, lead_names=lead_names,
                       codes=tuple(_strings(data["codes"], "codes")), regions=regions)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _strings(values: Any, what: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{what} must be a list of strings")
    return values


def _parse_leads(leads: Any, lead_names: tuple[str, ...], n_samples: int,
                 code: str) -> dict[str, tuple[Interval, ...]]:
    if not isinstance(leads, Mapping):
        raise TypeError(f"regions[{code}] must be an object lead -> intervals")
    out = {}
    for lead, intervals in leads.items():
        if lead not in lead_names:
            raise ValueError(f"regions[{code}] names lead {lead!r}, not in lead_names")
        out[lead] = tuple(_parse_interval(iv, n_samples, f"regions[{code}][{lead}]") for iv in intervals)
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_interval(interval: Any, n_samples: int, where: str) -> Interval:
    ok = (isinstance(interval, list) and len(interval) == 2
          and all(_is_int(v) for v in interval))
    if not ok or not 0 <= interval[0] < interval[1] <= n_samples:
        raise ValueError(f"{where}: {interval!r} is not a [start, end) pair with 0 <= start < end <= "
                         f"{n_samples}")
    return int(interval[0]), int(interval[1])


# --- files ---------------------------------------------------------------------------------------


def mask_path(record_path_or_base: str | Path) -> Path:
    """``NAME.mask.json`` beside the record (``NAME``, ``NAME.mat``, ``NAME.hea`` or the mask itself)."""
    path = Path(record_path_or_base)
    if path.name.endswith(MASK_SUFFIX):
        return path
    base = record_base(path)
    return base.parent / (base.name + MASK_SUFFIX)


def write_ground_truth(truth: GroundTruth, path: str | Path) -> Path:
    """Write ``truth`` to ``path`` (a mask file, or a record path whose mask file is derived)."""
    target = mask_path(path)
    target.write_text(truth.to_json())
    return target


def read_ground_truth(record_path_or_base: str | Path) -> GroundTruth:
    """Read a record's ``NAME.mask.json``; MissingGroundTruthError/GroundTruthError name the file."""
    path = mask_path(record_path_or_base)
    if not path.is_file():
        raise MissingGroundTruthError(path, "ground-truth mask file not found")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GroundTruthError(path, f"unreadable ({type(exc).__name__}: {exc})") from None
    return GroundTruth.from_json(text, source=path)


def load_mask(record_path_or_base: str | Path, code: str | None = None) -> np.ndarray:
    """(n_leads, n_samples) bool evidence mask of a record, leads in the file's ``lead_names`` order.

    ``code`` None gives the union over all codes; a code the record does not carry gives all False.
    """
    return read_ground_truth(record_path_or_base).mask(code)
