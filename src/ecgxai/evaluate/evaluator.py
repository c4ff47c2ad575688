"""``evaluate_all_payloads``: one metrics row per explanation, computed the same way for every method.

Per payload: the record is read and turned into model input exactly as for prediction;
R-peaks and heart rate come from the original toolkit's detector; tokens are built from
the class's registry entry; then plausibility (strict/lenient AttAUC, F1, Precision@K),
the original's targeted deletion (deletion AUC, faithfulness gain) and, beyond the
original, MoRF/LeRF/insertion curves with a random-attribution baseline on the same
record. Prior blending (``use_priors``) is off by default and recorded in every row.

Also beyond the original, each beside a ``random_<metric>`` column scoring one random
attribution per record and class (:func:`record_random_spans`: a standard-normal weight
on every lead x 0.1 s cell, seeded from the run seed and the record's identity only,
so every method of a record is read against the same baseline):

* by default: faithfulness correlation and ROAD MoRF (:mod:`~ecgxai.evaluate.faithfulness`;
  skipped with ``ranking=False``), and on records with a planted mask the pointing game,
  relevance mass and relevance rank accuracy (:mod:`~ecgxai.evaluate.localisation`; NaN
  without a mask, free of model evaluations);
* on request (``extra_metrics``, see :data:`EXTRA_METRICS`), as each re-explains the record:
  max-sensitivity (:mod:`~ecgxai.evaluate.robustness`) and model-parameter randomisation
  similarity (:mod:`~ecgxai.evaluate.randomisation`). Columns not computed are NaN.

``evaluations`` is the row's total of model inputs (forward and gradient); the
``*_evaluations`` columns give the part each newer metric costs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgxai.errors import ConfigurationError, ECGXAIError, UnknownClassError
from ecgxai.evaluate.faithfulness import (
    CELL_SEC,
    faithfulness_correlations,
    random_attribution,
    random_ranking_curves,
    ranking_curves,
    relevance_map,
    road_morf,
    targeted_deletion,
)
from ecgxai.evaluate.localisation import (
    LOCALISATION_KEYS,
    MASK_RELEVANCE_KEYS,
    localisation_scores,
    mask_relevance_scores,
    planted_mask,
)
from ecgxai.evaluate.plausibility import att_auc, blend_prior, f1_half_max, precision_at_k
from ecgxai.evaluate.randomisation import explanation_randomisation
from ecgxai.evaluate.registry import registry_entry
from ecgxai.evaluate.robustness import explanation_max_sensitivity
from ecgxai.evaluate.tokens import delineated_types, make_tokens
from ecgxai.evaluate.windows import delineated_window_sets, record_beat_context
from ecgxai.explain.payload import Explanation
from ecgxai.explain.settings import derive_seed
from ecgxai.io.classes import SCORED_CLASSES, class_name
from ecgxai.io.preprocessing import to_model_input
from ecgxai.io.records import read_record, resolve_record_path
from ecgxai.models.base import Classifier
from ecgxai.models.loader import load_model

log = logging.getLogger(__name__)

RANKING_KEYS = ("morf_auc", "lerf_auc", "insertion_auc")
#: Metrics computed by default beside the original's, each with a ``random_<metric>`` column.
FAITHFULNESS_KEYS = ("faithfulness_correlation", "road_morf_auc")
#: Opt-in metrics (``extra_metrics`` names) and the column each fills.
EXTRA_METRICS = {"max_sensitivity": "max_sensitivity", "randomisation": "randomisation_similarity"}
#: Model inputs each newer metric cost on the row (NaN when not computed).
COST_COLUMNS = ("faithfulness_correlation_evaluations", "road_evaluations", "max_sensitivity_evaluations",
                "randomisation_evaluations")


def _with_random(keys: Sequence[str]) -> list[str]:
    return [column for key in keys for column in (key, f"random_{key}")]


METRIC_COLUMNS = [
    "record", "meta_code", "class_name", "sel_idx", "mat_path", "method", "priors_used",
    "strict_attauc", "lenient_attauc", "strict_f1", "lenient_f1", "precision_k", "strict_p_at_k",
    "lenient_p_at_k", "strict_attauc_delin", "lenient_attauc_delin", "n_tokens_delin", "deletion_auc",
    "faithfulness_gain", "n_tokens", *RANKING_KEYS, "lerf_morf_gap",
    *(f"random_{k}" for k in RANKING_KEYS), "random_lerf_morf_gap", *_with_random(FAITHFULNESS_KEYS),
    *LOCALISATION_KEYS, *_with_random(MASK_RELEVANCE_KEYS), *_with_random(EXTRA_METRICS.values()),
    "probability", "evaluations", *COST_COLUMNS, "error",
]
#: The columns a metrics summary groups by.
SUMMARY_GROUPS = ["meta_code", "class_name", "method", "priors_used"]
_CODE_BY_NAME = {c.name: c.code for c in SCORED_CLASSES}


def payload_class_code(payload: Explanation) -> str:
    """The class a payload explains: its target_code, or a target_label that is a code or a name."""
    for candidate in (payload.target_code, payload.target_label):
        if candidate and str(candidate).isdigit():
            return str(candidate)
    if payload.target_label in _CODE_BY_NAME:
        return _CODE_BY_NAME[payload.target_label]
    raise UnknownClassError(f"{payload.mat_path}: cannot tell the class from target "
                            f"{payload.target_code!r} / {payload.target_label!r}")


def iter_payloads(payloads: Any) -> Iterator[tuple[Any, Explanation]]:
    """(key, Explanation) from {class: {key: payload}}, {key: payload} or a list of payloads."""
    if isinstance(payloads, (Explanation, Mapping)) and _is_payload(payloads):
        yield None, Explanation.from_payload(payloads)
    elif isinstance(payloads, Mapping):
        for key, value in payloads.items():
            if _is_payload(value):
                yield key, Explanation.from_payload(value)
            else:
                yield from iter_payloads(value)
    else:
        for value in payloads:
            yield None, Explanation.from_payload(value)


def _is_payload(obj: Any) -> bool:
    return isinstance(obj, Explanation) or (isinstance(obj, Mapping) and "perlead_spans" in obj)


def plausibility_metrics(tokens: pd.DataFrame, k: int) -> dict[str, float]:
    """Strict and lenient AttAUC, F1 and Precision@K of a token table."""
    scores = tokens["score"].to_numpy(dtype=float)
    out: dict[str, float] = {"precision_k": k, "n_tokens": len(tokens)}
    for level in ("strict", "lenient"):
        labels = tokens[level].to_numpy(dtype=bool)
        out[f"{level}_attauc"] = att_auc(scores, labels)
        out[f"{level}_f1"] = f1_half_max(scores, labels)
        out[f"{level}_p_at_k"] = precision_at_k(scores, labels, k)
    return out


def evaluate_payload(
    payload: Mapping[str, Any] | Explanation,
    classifier: Classifier,
    *,
    use_priors: bool = False,
    k: int = 20,
    seed: int | None = None,
    data_root: str | Path | None = None,
    ranking: bool = True,
    curves: bool = False,
    extra_metrics: Sequence[str] = (),
) -> dict[str, Any]:
    """All metrics of one explanation (one row of ``evaluate_all_payloads``).

    ``ranking=False`` skips the perturbation metrics beyond the original's (MoRF/LeRF/
    insertion, faithfulness correlation, ROAD). ``extra_metrics`` adds expensive ones, any of
    :data:`EXTRA_METRICS` (``"max_sensitivity"``, ``"randomisation"``; the latter needs a Keras
    model and leaves NaN with a warning otherwise). ``curves=True`` (with ``ranking``) also
    returns, under ``"ranking_curves"``, the :func:`ranking_curves` results behind the row's
    ranking columns: ``{"explanation": ..., "random": ...}`` (the random baseline is the one in
    the ``random_*`` columns).
    """
    extra = _check_extra_metrics(extra_metrics)
    explanation = Explanation.from_payload(payload)
    code = payload_class_code(explanation)
    record_path = resolve_record_path(explanation.mat_path, data_root)
    record = read_record(record_path)
    x = to_model_input(record, maxlen=classifier.input_length, units=classifier.units,
                       lead_names=classifier.lead_names)
    leads = list(classifier.lead_names or record.lead_names)
    entry = registry_entry(code)
    context = record_beat_context(record)  # beats over the whole recording, as the original
    tokens = make_tokens(explanation.perlead_spans, context, entry, leads, class_code=code)
    if use_priors:
        tokens["score"] = blend_prior(tokens["score"].to_numpy(), _prior_mask(tokens))
    delineated = _delineated_plausibility(explanation, record, context, entry, leads, code)
    target = classifier.class_index(code)
    rng = np.random.default_rng(derive_seed(seed, record.name, code, "evaluate"))
    shown = min(record.duration_sec, classifier.input_length / record.fs)
    random_spans = record_random_spans(seed, record.name, code, leads, shown)
    mask = planted_mask(record_path, code, leads)
    before = classifier.counter.evaluations
    row: dict[str, Any] = {
        "record": record.name, "meta_code": code, "class_name": class_name(code),
        "sel_idx": explanation.sel_idx, "mat_path": explanation.mat_path, "method": explanation.method_label,
        "priors_used": bool(use_priors), "probability": float(classifier.predict(x)[0, target]),
        **plausibility_metrics(tokens, k), **delineated,
        **dict.fromkeys(COST_COLUMNS, math.nan),
        **(localisation_scores(explanation, mask, leads, record.fs) if mask is not None
           else dict.fromkeys(LOCALISATION_KEYS, math.nan)),
        **_mask_relevance_columns(explanation.perlead_spans, random_spans, mask, leads, record.fs),
    }
    deletion = targeted_deletion(classifier, x, record.fs, leads, target, tokens, rng)
    row.update(deletion_auc=deletion["deletion_auc"], faithfulness_gain=deletion["faithfulness_gain"])
    row.update(dict.fromkeys(_with_random(FAITHFULNESS_KEYS), math.nan))
    if ranking:
        found = _ranking_curves(classifier, x, record.fs, leads, target, explanation, shown, rng)
        row.update(_ranking_columns(found))
        if curves:
            row["ranking_curves"] = found
        row.update(_faithfulness_columns(classifier, x, record.fs, leads, target, explanation.perlead_spans,
                                         random_spans, shown, (seed, record.name, code)))
    row.update(_extra_columns(extra, classifier, x, record.fs, leads, code, explanation, random_spans,
                              shown, seed, record.name))
    randomised = row["randomisation_evaluations"]  # on the randomised copy, whose counter is its own
    row["evaluations"] = classifier.counter.evaluations - before + int(np.nan_to_num(randomised))
    return row


def _check_extra_metrics(extra_metrics: Sequence[str]) -> tuple[str, ...]:
    names = (extra_metrics,) if isinstance(extra_metrics, str) else tuple(extra_metrics)
    unknown = sorted(set(names) - set(EXTRA_METRICS))
    if unknown:
        raise ConfigurationError(f"unknown extra metrics {unknown}; choose from {list(EXTRA_METRICS)}")
    return names


def record_random_spans(seed: int | None, record: str, code: str, leads: Sequence[str],
                        duration_sec: float) -> dict[str, list[tuple[float, float, float]]]:
    """The random attribution the newer metrics' ``random_*`` columns score on a record and class:
    :func:`~ecgxai.evaluate.faithfulness.random_attribution` on the lead x 0.1 s cells of the shown
    duration, seeded from the run seed, record and class (the same for every method)."""
    rng = np.random.default_rng(derive_seed(seed, record, code, "random-map"))
    return random_attribution(leads, duration_sec, CELL_SEC, rng)


def _metric_rng(identity: tuple[int | None, str, str], metric: str) -> np.random.Generator:
    """A generator per metric, record and class (not method): methods share subsets and noise."""
    seed, record, code = identity
    return np.random.default_rng(derive_seed(seed, record, code, metric))


def _faithfulness_columns(classifier: Classifier, x: np.ndarray, fs: float, leads: Sequence[str], target: int,
                          spans: Mapping[str, Any], random_spans: Mapping[str, Any], shown: float,
                          identity: tuple[int | None, str, str]) -> dict[str, float]:
    """Faithfulness correlation and ROAD MoRF of the explanation and of the random attribution."""
    both = {"own": spans, "random": random_spans}
    maps = {name: relevance_map(s, leads, len(x), fs) for name, s in both.items()}
    correlation = faithfulness_correlations(classifier, x, fs, leads, target, maps,
                                            _metric_rng(identity, "faithfulness-correlation"),
                                            duration_sec=shown)
    road = {name: road_morf(classifier, x, fs, leads, target, s, _metric_rng(identity, "road"),
                            duration_sec=shown) for name, s in both.items()}
    return {"faithfulness_correlation": correlation["correlations"]["own"],
            "random_faithfulness_correlation": correlation["correlations"]["random"],
            "road_morf_auc": road["own"]["road_morf_auc"],
            "random_road_morf_auc": road["random"]["road_morf_auc"],
            "faithfulness_correlation_evaluations": correlation["evaluations"],
            "road_evaluations": road["own"]["evaluations"] + road["random"]["evaluations"]}


def _mask_relevance_columns(spans: Mapping[str, Any], random_spans: Mapping[str, Any],
                            mask: np.ndarray | None, leads: Sequence[str], fs: float) -> dict[str, float]:
    """Pointing game, relevance mass and rank accuracy of the explanation and of the random
    attribution against the planted (leads, samples) mask; NaN without one."""
    if mask is None:
        return dict.fromkeys(_with_random(MASK_RELEVANCE_KEYS), math.nan)
    own = mask_relevance_scores(relevance_map(spans, leads, mask.shape[1], fs), mask.T)
    chance = mask_relevance_scores(relevance_map(random_spans, leads, mask.shape[1], fs), mask.T)
    return {**own, **{f"random_{key}": value for key, value in chance.items()}}


def _extra_columns(extra: Sequence[str], classifier: Classifier, x: np.ndarray, fs: float,
                   leads: Sequence[str], code: str, explanation: Explanation, random_spans: Mapping[str, Any],
                   shown: float, seed: int | None, record: str) -> dict[str, float]:
    """The opt-in metrics asked for (NaN for the others, and for one the model cannot support)."""
    out = dict.fromkeys(_with_random(EXTRA_METRICS.values()), math.nan)
    compute = {"max_sensitivity": explanation_max_sensitivity, "randomisation": explanation_randomisation}
    for name in extra:
        column = EXTRA_METRICS[name]
        try:
            found = compute[name](classifier, x, fs, code, explanation, random_spans,
                                  _metric_rng((seed, record, code), name), seed=seed, identity=record,
                                  lead_names=leads, duration_sec=shown)
        except (ECGXAIError, NotImplementedError) as exc:
            log.warning("%s of %s (%s): not computed: %s", name, record, explanation.method_label, exc)
            continue
        if "reason" in found:
            log.warning("%s of %s: %s", name, record, found["reason"])
        out.update({column: found[column], f"random_{column}": found[f"random_{column}"],
                    f"{name}_evaluations": found["evaluations"]})
    return out


def _delineated_plausibility(explanation: Explanation, record: Any, context: Any, entry: Any,
                             leads: Sequence[str], code: str) -> dict[str, float]:
    """AttAUC against the alternative ground truth of neurokit2-delineated P/PR/QRS/ST/T windows."""
    types = delineated_types(entry.windows)
    given = delineated_window_sets(record.to_units("adc"), record.fs, record.lead_names, types,
                                   r_peaks=context.r_peaks)
    tokens = make_tokens(explanation.perlead_spans, context, entry, leads, class_code=code,
                         window_types=types, given_windows=given)
    scores = tokens["score"].to_numpy(dtype=float)
    return {"strict_attauc_delin": att_auc(scores, tokens["strict"].to_numpy(dtype=bool)),
            "lenient_attauc_delin": att_auc(scores, tokens["lenient"].to_numpy(dtype=bool)),
            "n_tokens_delin": len(tokens)}


def _prior_mask(tokens: pd.DataFrame) -> np.ndarray:
    """The class prior of the original's blend: 1 on the class's lenient leads, 0 elsewhere.

    This reproduces the original's prior-on figures for sinus rhythm (34 of 35 reference
    records); for atrial fibrillation it used a per-lead weighting that its results do not
    document, so prior-on AF figures differ from the original's.
    """
    return tokens["lenient"].to_numpy(dtype=float)


def _ranking_curves(classifier: Classifier, x: np.ndarray, fs: float, leads: Sequence[str], target: int,
                    explanation: Explanation, duration: float,
                    rng: np.random.Generator) -> dict[str, dict[str, Any]]:
    """MoRF/LeRF/insertion of the explanation and of a random attribution on the same record."""
    return {
        "explanation": ranking_curves(classifier, x, fs, leads, target, explanation.perlead_spans,
                                      duration_sec=duration),
        "random": random_ranking_curves(classifier, x, fs, leads, target, rng, duration_sec=duration),
    }


def _ranking_columns(curves: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The table's ranking columns (AUCs and gaps, own and ``random_*``) of :func:`_ranking_curves`."""
    own, chance = curves["explanation"], curves["random"]
    row = {key: own[key] for key in RANKING_KEYS}
    row["lerf_morf_gap"] = own["lerf_morf_gap"]
    row.update({f"random_{key}": chance[key] for key in RANKING_KEYS})
    row["random_lerf_morf_gap"] = chance["lerf_morf_gap"]
    return row


def evaluate_all_payloads(
    payloads: Any,
    method_label: str | None = None,
    model: Any = None,
    class_names: Sequence[str] | None = None,
    debug: bool = False,
    *,
    use_priors: bool = False,
    k: int = 20,
    seed: int | None = None,
    data_root: str | Path | None = None,
    ranking: bool = True,
    progress: bool = True,
    extra_metrics: Sequence[str] = (),
) -> pd.DataFrame:
    """One metrics row per payload (columns METRIC_COLUMNS); a failing payload gets an ``error`` row.

    ``payloads``: {class: {sel_idx: payload}} as the pipelines return, {key: payload} or a
    list. ``method_label`` overrides the payloads' own label in the ``method`` column.
    Relative ``mat_path`` values are resolved against ``data_root`` (default ``DATA_ROOT``).
    ``ranking`` and ``extra_metrics`` are as in :func:`evaluate_payload`.
    """
    if model is None:
        raise ECGXAIError("evaluate_all_payloads needs model= (deletion metrics re-predict)")
    classifier = load_model(model, class_names=class_names)
    rows = []
    for key, payload in tqdm(list(iter_payloads(payloads)), desc="evaluate", unit="rec",
                             disable=not progress):
        try:
            row = evaluate_payload(payload, classifier, use_priors=use_priors, k=k, seed=seed,
                                   data_root=data_root, ranking=ranking, extra_metrics=extra_metrics)
        except ECGXAIError as exc:
            log.warning("cannot evaluate %s: %s", payload.mat_path, exc)
            row = {"mat_path": payload.mat_path, "error": f"{type(exc).__name__}: {exc}"}
        if row.get("sel_idx") is None and isinstance(key, (int, np.integer)):
            row["sel_idx"] = int(key)
        if method_label is not None:
            row["method"] = method_label
        if debug:
            log.info("evaluated %s", {k: v for k, v in row.items() if k != "mat_path"})
        rows.append(row)
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def summarise_metrics(table: pd.DataFrame, metrics: Sequence[str] | None = None,
                      stats: Sequence[str] = ("mean", "std", "count")) -> pd.DataFrame:
    """Per class, method and prior setting: ``stats`` of each metric (every numeric one by default)
    over the rows without an error; a ``count`` column is named ``<metric>_n``."""
    if metrics is None:
        metrics = [c for c in METRIC_COLUMNS if c in table and pd.api.types.is_numeric_dtype(table[c])
                   and c not in ("sel_idx", "priors_used")]
    grouped = table[table["error"].isna()].groupby(SUMMARY_GROUPS)
    if not metrics:  # e.g. every row failed: the groups alone (pandas cannot aggregate no columns)
        return grouped.size().reset_index()[SUMMARY_GROUPS]
    summary = grouped[list(metrics)].agg(list(stats))
    summary.columns = [f"{metric}_{stat}".replace("_count", "_n") for metric, stat in summary.columns]
    return summary.reset_index()
