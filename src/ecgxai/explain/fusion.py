"""Fuse a LIME and a TimeSHAP explanation of one record into one explanation.

:func:`fuse_lime_timeshap_payload` works lead by lead:

1. Each method's span weights are divided by that method's largest |weight| on
   the lead, so both live in [-1, 1].
2. The lead's time axis is cut at every span boundary of either method into
   elementary intervals. On each interval a method's weight is that of the span
   covering it (the largest-|weight| one should a method's own spans overlap).
3. Intervals covered by both methods are *overlaps*. Their magnitude is
   ``agg`` of the two |weights| (``"mean"`` and ``"geomean"`` weighted by the
   normalised ``method_weights``; ``"min"``/``"max"`` ignore them). Same sign
   (a zero weight conflicts with nothing) is *agreement* and keeps that sign.
   Opposite signs are a *conflict*, resolved by ``sign_policy``:

   - ``"penalize"``: the magnitude is shrunk by the fraction of the weighted
     evidence that survives cancellation,
     ``|wL*a + wT*b| / (wL*|a| + wT*|b|)``, and takes the sign of the larger
     weighted weight (``wL*a + wT*b``). Equal and opposite evidence fuses to 0,
     a weak objection to a strong attribution barely dents it, and with
     ``agg="mean"`` the rule is exactly the signed weighted mean, so the
     penalty is the same cancellation a plain average would apply;
   - ``"drop"``: the interval is removed;
   - ``"abs"``: signs are ignored everywhere: overlaps get the magnitude and
     every fused weight (solo ones too) is non-negative.

4. Intervals covered by one method only (*solo*) keep ``beta`` x its weight.
5. Pruning drops intervals with |weight| < ``tau`` (``tau_mode="abs"``) or
   duration x |weight| < ``tau`` (``tau_mode="mass"``).
6. Neighbouring intervals whose gap is <= ``gap_merge`` seconds, whose weight is
   within ``wt_merge_tol`` of the span being built and of the same sign are
   merged into one span with the duration-weighted mean weight (a negative
   ``gap_merge`` or ``wt_merge_tol`` disables merging).

``meta["agreement_vs_solo"]`` splits each lead's fused mass into agreement,
conflict (what the sign policy left of opposite-sign overlaps) and solo parts,
measured before merging and rescaled to the merged mass, so the three add up
to ``meta["lead_masses"]``.

When both payloads carry their whole attribution maps (ecgxai's own), the same rules are
applied per cell of the maps instead of per interval of the spans: each map is divided by its
largest |value| per lead, every cell is an overlap (both maps hold every lead and event, so
``beta`` has nothing to act on), ``sign_policy`` resolves conflicts, ``tau`` sets weak cells to
zero (``"mass"``: cell seconds x |weight|), and the fused map's spans are derived as every
explainer's are (the top events by fused weight on the ``topk`` leads by span mass). Maps on
different segments are fused per sample.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecgxai.errors import ConfigurationError
from ecgxai.explain.attribution import Attribution
from ecgxai.explain.payload import Explanation, Span, lead_masses, top_leads
from ecgxai.explain.spans import spans_from_attribution

PayloadLike = Mapping[str, Any] | Explanation
Combiner = Callable[[np.ndarray, np.ndarray, float, float], np.ndarray]

AGREE, CONFLICT, SOLO = 0, 1, 2
KIND_NAMES = {AGREE: "agreement_mass", CONFLICT: "conflict_mass", SOLO: "solo_mass"}
SIGN_POLICIES = ("penalize", "drop", "abs")
TAU_MODES = ("abs", "mass")
EDGE_DECIMALS = 9  # span boundaries closer than 1 ns are the same boundary


def _geomean(a: np.ndarray, b: np.ndarray, wa: float, wb: float) -> np.ndarray:
    """Weighted geometric mean exp(wa log a + wb log b) of magnitudes (weights sum to 1)."""
    return np.power(a, wa) * np.power(b, wb)


def _mean(a: np.ndarray, b: np.ndarray, wa: float, wb: float) -> np.ndarray:
    """Weighted arithmetic mean of magnitudes (weights sum to 1)."""
    return wa * a + wb * b


def _min(a: np.ndarray, b: np.ndarray, wa: float, wb: float) -> np.ndarray:
    """Smaller magnitude (method weights ignored)."""
    return np.minimum(a, b)


def _max(a: np.ndarray, b: np.ndarray, wa: float, wb: float) -> np.ndarray:
    """Larger magnitude (method weights ignored)."""
    return np.maximum(a, b)


COMBINERS: dict[str, Combiner] = {"geomean": _geomean, "mean": _mean, "min": _min, "max": _max}


@dataclass(frozen=True)
class FusionSettings:
    """Validated fusion keywords."""

    agg: str = "geomean"
    beta: float = 0.35
    tau: float = 0.02
    tau_mode: str = "abs"
    topk: int = 5
    method_weights: Sequence[float] = (0.5, 0.5)  # stored as a float pair
    sign_policy: str = "penalize"
    gap_merge: float = 0.02
    wt_merge_tol: float = 0.15
    force_leads: Iterable[str] | str = ()  # stored as a tuple of lead names
    method_label: str = "LIME+TimeSHAP"

    def __post_init__(self) -> None:
        _check_choice("agg", self.agg, tuple(COMBINERS))
        _check_choice("sign_policy", self.sign_policy, SIGN_POLICIES)
        _check_choice("tau_mode", self.tau_mode, TAU_MODES)
        for name in ("beta", "tau"):
            if _number(name, getattr(self, name)) < 0:
                raise ConfigurationError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("gap_merge", "wt_merge_tol"):
            _number(name, getattr(self, name))
        if isinstance(self.topk, bool) or not isinstance(self.topk, int | np.integer) or self.topk < 0:
            raise ConfigurationError(f"topk must be an integer >= 0, got {self.topk!r}")
        object.__setattr__(self, "topk", int(self.topk))
        object.__setattr__(self, "method_weights", _method_weights(self.method_weights))
        object.__setattr__(self, "force_leads", _lead_names(self.force_leads))

    @property
    def weights(self) -> tuple[float, float]:
        """Method weights normalised to sum to 1."""
        wl, wt = (float(w) for w in self.method_weights)
        return wl / (wl + wt), wt / (wl + wt)

    def as_dict(self) -> dict[str, Any]:
        """Every keyword value, JSON-ready."""
        return {"agg": self.agg, "beta": float(self.beta), "tau": float(self.tau), "tau_mode": self.tau_mode,
                "topk": self.topk, "method_weights": [float(w) for w in self.method_weights],
                "sign_policy": self.sign_policy, "gap_merge": float(self.gap_merge),
                "wt_merge_tol": float(self.wt_merge_tol), "force_leads": list(self.force_leads),
                "method_label": self.method_label}


def _check_choice(name: str, value: object, choices: Sequence[str]) -> None:
    """Refuse a value outside ``choices``."""
    if value not in choices:
        raise ConfigurationError(f"unknown {name} {value!r}; expected one of {list(choices)}")


def _number(name: str, value: object) -> float:
    """A finite real number, or a ConfigurationError naming the keyword."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ConfigurationError(f"{name} must be finite, got {value!r}")
    return float(value)


def _method_weights(weights: object) -> tuple[float, float]:
    """Two non-negative finite numbers with a positive sum, as a float pair."""
    values = [] if isinstance(weights, str | bytes) else list(np.ravel(np.asarray(weights, dtype=object)))
    if len(values) != 2 or np.ndim(weights) != 1:
        raise ConfigurationError(f"method_weights must be two numbers, got {weights!r}")
    wl, wt = (_number("method_weights", w) for w in values)
    if min(wl, wt) < 0 or wl + wt <= 0:
        raise ConfigurationError(f"method_weights must be >= 0 with a positive sum, got {weights!r}")
    return wl, wt


def _lead_names(leads: Iterable[str] | str) -> tuple[str, ...]:
    """Lead names without duplicates (a single string is one lead)."""
    return (str(leads),) if isinstance(leads, str) else tuple(_ordered_union(str(lead) for lead in leads))


def _explanation(payload: PayloadLike, role: str) -> Explanation:
    """An Explanation from a payload dict or Explanation, with finite spans and scores."""
    try:
        exp = Explanation.from_payload(payload)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{role} is not a usable payload: {exc}") from exc
    weights = [w for spans in exp.perlead_spans.values() for s in spans for w in s]
    if not all(math.isfinite(w) for w in [*weights, *exp.lead_scores.values()]):
        raise ConfigurationError(f"{role} holds non-finite span or lead-score values")
    return exp


def _check_same_record(exp_l: Explanation, exp_t: Explanation) -> None:
    """Refuse payloads whose non-empty mat_paths name different records."""
    paths = [os.path.normpath(p) for p in (exp_l.mat_path, exp_t.mat_path) if p]
    if len(set(paths)) > 1:
        raise ConfigurationError(f"payloads explain different records: {exp_l.mat_path!r} vs "
                                 f"{exp_t.mat_path!r}")


def _normalised(spans: Sequence[Span]) -> np.ndarray:
    """Spans as an (n, 3) array with weights divided by their max |weight|."""
    arr = np.array(spans, dtype=float).reshape(-1, 3)
    peak = np.abs(arr[:, 2]).max(initial=0.0)
    if peak > 0:
        arr[:, 2] /= peak
    return arr


def _sample(spans: np.ndarray, mids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per interval midpoint: whether a span covers it, and that span's weight (largest |w| wins)."""
    if not len(spans):
        return np.zeros(len(mids), dtype=bool), np.zeros(len(mids))
    inside = (spans[:, 0] <= mids[:, None]) & (mids[:, None] < spans[:, 1])
    weights = np.where(inside, spans[:, 2], 0.0)
    pick = np.abs(weights).argmax(axis=1)
    return inside.any(axis=1), weights[np.arange(len(mids)), pick]


def _penalize(a: np.ndarray, b: np.ndarray, mag: np.ndarray, wl: float, wt: float) -> np.ndarray:
    """Conflict weight: sign(wl a + wt b) x mag x |wl a + wt b| / (wl|a| + wt|b|)."""
    net = wl * a + wt * b
    total = wl * np.abs(a) + wt * np.abs(b)
    share = np.divide(np.abs(net), total, out=np.zeros_like(net), where=total > 0)
    return np.sign(net) * mag * share


def _combine(a: np.ndarray, b: np.ndarray, has_l: np.ndarray, has_t: np.ndarray,
             cfg: FusionSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fused weight, kind (AGREE/CONFLICT/SOLO) and keep-mask of every elementary interval."""
    wl, wt = cfg.weights
    both = has_l & has_t
    conflict = both & (a * b < 0)
    mag = COMBINERS[cfg.agg](np.abs(a), np.abs(b), wl, wt)
    clash = mag if cfg.sign_policy == "abs" else _penalize(a, b, mag, wl, wt)
    overlap = np.where(conflict, clash, np.sign(a + b) * mag)
    weight = np.where(both, overlap, cfg.beta * np.where(has_l, a, b))
    if cfg.sign_policy == "abs":
        weight = np.abs(weight)
    kind = np.where(both, np.where(conflict, CONFLICT, AGREE), SOLO)
    keep = (has_l | has_t) & ~(conflict & (cfg.sign_policy == "drop"))
    return weight, kind, keep


def _prune(lo: np.ndarray, hi: np.ndarray, weight: np.ndarray, cfg: FusionSettings) -> np.ndarray:
    """Mask of intervals that pass the ``tau`` threshold."""
    size = np.abs(weight) if cfg.tau_mode == "abs" else (hi - lo) * np.abs(weight)
    return size >= cfg.tau


def _merge(lo: np.ndarray, hi: np.ndarray, weight: np.ndarray, gap: float, tol: float) -> list[Span]:
    """Merge close, similar, same-sign neighbours into duration-weighted-mean spans."""
    groups: list[list[float]] = []  # [start, end, covered duration, sum of duration x weight]
    for s, e, w in zip(lo.tolist(), hi.tolist(), weight.tolist(), strict=True):
        last = groups[-1] if groups else None
        current = last[3] / last[2] if last else 0.0
        if last and s - last[1] <= gap and abs(w - current) <= tol and np.sign(w) == np.sign(current):
            last[1], last[2], last[3] = e, last[2] + (e - s), last[3] + (e - s) * w
        else:
            groups.append([s, e, e - s, (e - s) * w])
    return [(s, e, dw / d) for s, e, d, dw in groups]


def _fuse_lead(spans_l: Sequence[Span], spans_t: Sequence[Span],
               cfg: FusionSettings) -> tuple[list[Span], dict[str, float]]:
    """Fused spans of one lead and their agreement / conflict / solo masses."""
    nl, nt = _normalised(spans_l), _normalised(spans_t)
    edges = np.unique(np.round(np.concatenate([nl[:, :2].ravel(), nt[:, :2].ravel()]), EDGE_DECIMALS))
    lo, hi = edges[:-1], edges[1:]
    mids = (lo + hi) / 2
    (has_l, a), (has_t, b) = _sample(nl, mids), _sample(nt, mids)
    weight, kind, keep = _combine(a, b, has_l, has_t, cfg)
    keep &= _prune(lo, hi, weight, cfg)
    lo, hi, weight, kind = lo[keep], hi[keep], weight[keep], kind[keep]
    mass = (hi - lo) * np.abs(weight)
    spans = _merge(lo, hi, weight, cfg.gap_merge, cfg.wt_merge_tol)
    merged_mass = sum((e - s) * abs(w) for s, e, w in spans)
    scale = merged_mass / mass.sum() if mass.sum() > 0 else 0.0
    parts = {name: float(mass[kind == k].sum() * scale) for k, name in KIND_NAMES.items()}
    return spans, parts


def _common_grid(map_l: Attribution, map_t: Attribution) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Both maps' values on one grid (map_l's lead order) and that grid's Attribution axes: their own
    segments when they share them, else per sample."""
    if set(map_l.lead_names) != set(map_t.lead_names) or map_l.n_samples != map_t.n_samples:
        raise ConfigurationError(f"maps on different leads or lengths cannot be fused: {map_l.lead_names} "
                                 f"({map_l.n_samples}) vs {map_t.lead_names} ({map_t.n_samples})")
    columns = [map_t.lead_names.index(lead) for lead in map_l.lead_names]
    same = map_l.resolution == map_t.resolution and np.array_equal(map_l.segments, map_t.segments)
    if same:
        return map_l.values, map_t.values[:, columns], {"resolution": map_l.resolution}
    return map_l.to_samples(), map_t.to_samples()[:, columns], {"resolution": "sample"}


def _per_lead_normalised(values: np.ndarray) -> np.ndarray:
    """Each column divided by its largest |value| (all-zero columns stay zero)."""
    peak = np.abs(values).max(axis=0, keepdims=True)
    return np.divide(values, peak, out=np.zeros_like(values), where=peak > 0)


def fuse_maps(map_l: Attribution, map_t: Attribution, cfg: FusionSettings
              ) -> tuple[Attribution, dict[str, dict[str, float]]]:
    """The fused map of two maps of one record (see the module docstring) and, per lead, its
    agreement / conflict / solo masses (cell seconds x |weight|)."""
    a, b, axes = _common_grid(map_l, map_t)
    a, b = _per_lead_normalised(a), _per_lead_normalised(b)
    covered = np.ones(a.shape, dtype=bool)
    weight, kind, keep = _combine(a, b, covered, covered, cfg)
    if axes["resolution"] == "segment":
        seconds = np.diff(map_l.segments, axis=1) / map_l.model_fs
    else:
        seconds = np.full((len(a), 1), 1.0 / map_l.model_fs)
    keep &= _prune(np.zeros_like(seconds), seconds, weight, cfg)
    weight = np.where(keep, weight, 0.0)
    mass = seconds * np.abs(weight)
    parts = {lead: {name: float(mass[:, i][kind[:, i] == k].sum()) for k, name in KIND_NAMES.items()}
             for i, lead in enumerate(map_l.lead_names)}
    fused = Attribution(values=weight, segments=map_l.segments, lead_names=map_l.lead_names,
                        resolution=axes["resolution"], n_samples=map_l.n_samples, fs=map_l.fs,
                        model_fs=map_l.model_fs, scale="normalised", method="fused",
                        start_sec=map_l.start_sec, end_sec=map_l.end_sec, settings=cfg.as_dict())
    return fused, parts


def _rescaled(parts: Mapping[str, float], total: float) -> dict[str, float]:
    """``parts`` scaled to add up to ``total`` (the lead's span mass), keeping their shares."""
    whole = sum(parts.values())
    return {name: (value * total / whole if whole > 0 else 0.0) for name, value in parts.items()}


def _fused_spans(exp_l: Explanation, exp_t: Explanation, cfg: FusionSettings
                 ) -> tuple[dict[str, list[Span]], dict[str, dict[str, float]], Attribution | None]:
    """Fused spans and mass parts: from the maps when both payloads have one, else span by span."""
    if exp_l.attribution is not None and exp_t.attribution is not None:
        fused, parts = fuse_maps(exp_l.attribution, exp_t.attribution, cfg)
        spans, _, _, _ = spans_from_attribution(fused, cfg.topk, exp_l.params.get("topk_events", 5))
        return spans, {lead: _rescaled(parts[lead], mass) for lead, mass in lead_masses(spans).items()}, fused
    spans: dict[str, list[Span]] = {}
    parts: dict[str, dict[str, float]] = {}
    for lead in _ordered_union(exp_l.perlead_spans, exp_t.perlead_spans):
        fused_spans, split = _fuse_lead(exp_l.perlead_spans.get(lead, []), exp_t.perlead_spans.get(lead, []),
                                        cfg)
        if fused_spans:
            spans[lead], parts[lead] = fused_spans, split
    return spans, parts, None


def _score_shares(exp: Explanation) -> dict[str, float]:
    """Lead scores (or span masses when absent) divided by their sum of |score|."""
    scores = exp.lead_scores or lead_masses(exp.perlead_spans)
    total = sum(abs(v) for v in scores.values())
    return {lead: (v / total if total > 0 else 0.0) for lead, v in scores.items()}


def _blend_scores(shares_l: Mapping[str, float], shares_t: Mapping[str, float],
                  weights: tuple[float, float]) -> dict[str, float]:
    """Method-weighted blend; a lead missing from one method gets the other's part only."""
    leads = _ordered_union(shares_l, shares_t)
    return {lead: weights[0] * shares_l.get(lead, 0.0) + weights[1] * shares_t.get(lead, 0.0)
            for lead in leads}


def _ordered_union(*groups: Iterable[str]) -> list[str]:
    """Items of all groups in first-seen order, without duplicates."""
    return list(dict.fromkeys(item for group in groups for item in group))


def _top(masses: Mapping[str, float], cfg: FusionSettings) -> list[str]:
    """Forced leads first, then the ``topk`` leads by fused mass."""
    return _ordered_union(cfg.force_leads, top_leads(masses, cfg.topk))


def fuse_lime_timeshap_payload(
    payload_L: PayloadLike,  # noqa: N803 - original toolkit's argument names
    payload_T: PayloadLike,  # noqa: N803
    *,
    agg: str = "geomean",
    beta: float = 0.35,
    tau: float = 0.02,
    tau_mode: str = "abs",
    topk: int = 5,
    method_weights: Sequence[float] = (0.5, 0.5),
    sign_policy: str = "penalize",
    gap_merge: float = 0.02,
    wt_merge_tol: float = 0.15,
    force_leads: Iterable[str] | str = (),
    method_label: str = "LIME+TimeSHAP",
) -> Explanation:
    """Fuse a LIME and a TimeSHAP payload of the same record lead- and time-wise (see module doc)."""
    cfg = FusionSettings(agg, beta, tau, tau_mode, topk, method_weights, sign_policy, gap_merge,
                         wt_merge_tol, force_leads, str(method_label))
    exp_l, exp_t = _explanation(payload_L, "payload_L"), _explanation(payload_T, "payload_T")
    _check_same_record(exp_l, exp_t)
    spans, parts, fused_map = _fused_spans(exp_l, exp_t, cfg)
    masses = lead_masses(spans)
    settings = cfg.as_dict()
    return Explanation(
        mat_path=exp_l.mat_path, target_label=exp_l.target_label, method_label=cfg.method_label,
        page_seconds=exp_l.page_seconds, perlead_spans=spans,
        lead_scores=_blend_scores(_score_shares(exp_l), _score_shares(exp_t), cfg.weights),
        top5_leads=_top(masses, cfg), target_code=exp_l.target_code, record=exp_l.record,
        sel_idx=exp_l.sel_idx, probability=exp_l.probability,
        model_evaluations=exp_l.model_evaluations + exp_t.model_evaluations,
        seconds=exp_l.seconds + exp_t.seconds, params=dict(settings),
        meta={"lead_masses": masses, "agreement_vs_solo": parts, "settings": settings},
        attribution=fused_map, start_sec=exp_l.start_sec, end_sec=exp_l.end_sec, fs=exp_l.fs,
        model_fs=exp_l.model_fs,
    )
