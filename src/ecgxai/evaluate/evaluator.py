"""``evaluate_all_payloads``: one metrics row per explanation, computed the same way for every method.

Per payload: the record is read and turned into model input exactly as for prediction (the
payload's stretch, resampled to the model's rate); the explanation is read as relevance (its
whole attribution map, or its spans when it has none: the original toolkit's payloads are
scored exactly as before); R-peaks and heart rate come from the original toolkit's detector on
the whole record at its own rate; tokens are built from the class's evaluation region; then every
metric family of :data:`~ecgxai.evaluate.metrics.FAMILIES` fills its columns: plausibility
(strict/lenient AttAUC, F1, Precision@K, and against delineated waves), the original's targeted
deletion, MoRF/LeRF/insertion, faithfulness correlation and ROAD, and on records with a planted
mask ground-truth localisation, the pointing game and relevance mass and rank. Opt-in
(``extra_metrics``): max-sensitivity and model-randomisation similarity.

Every score with a ``random_<metric>`` column is read against a random map of the *same
resolution* as the explanation (:func:`~ecgxai.explain.relevance.random_like`: per sample or
per segment and lead for a map, per lead x 0.1 s cell for spans), seeded from the run seed,
the record, the class and that resolution only, so methods of one resolution share it. Cells
with equal scores are ranked in a seeded random order shared by every method of a record.
Prior blending (``use_priors``) is off by default and recorded in every row.

``evaluations`` is the row's total of model inputs (forward and gradient); the
``*_evaluations`` columns give each family's part.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgxai.classes import SCORED_CLASSES, class_name, evaluation_region
from ecgxai.errors import ECGXAIError, UnknownClassError
from ecgxai.evaluate.context import MetricContext, MetricFamily
from ecgxai.evaluate.faithfulness import SATURATION
from ecgxai.evaluate.localisation import mask_on_input, planted_mask
from ecgxai.evaluate.metrics import COST_COLUMNS, EXTRA_METRICS, FAMILIES, check_extra_metrics
from ecgxai.evaluate.plausibility import blend_prior
from ecgxai.evaluate.tokens import make_tokens
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import Relevance, random_like, relevance_of, resolution_key
from ecgxai.explain.settings import derive_seed
from ecgxai.io.records import read_record, resolve_record_path
from ecgxai.models.base import Classifier
from ecgxai.models.inputs import classifier_input
from ecgxai.models.loader import load_model
from ecgxai.signal.windows import record_beat_context

log = logging.getLogger(__name__)

#: The columns that say which explanation a row scores (``resolution``: its map's, or ``spans``).
IDENTITY_COLUMNS = ["record", "meta_code", "class_name", "sel_idx", "mat_path", "method", "priors_used",
                    "resolution"]
METRIC_COLUMNS = [*IDENTITY_COLUMNS, *(c for f in FAMILIES for c in f.all_columns()), "probability",
                  "saturated", "evaluations", *COST_COLUMNS, "error"]
#: The columns a metrics summary groups by.
SUMMARY_GROUPS = ["meta_code", "class_name", "method", "priors_used"]
_CODE_BY_NAME = {c.name: c.code for c in SCORED_CLASSES}

__all__ = ["EXTRA_METRICS", "METRIC_COLUMNS", "SUMMARY_GROUPS", "evaluate_all_payloads", "evaluate_payload",
           "summarise_metrics"]


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


def random_relevance(relevance: Relevance, seed: int | None, record: str, code: str,
                     duration_sec: float) -> Relevance:
    """The random map the ``random_*`` columns score: :func:`random_like` ``relevance``, seeded from
    the run seed, record, class and resolution (spans keep the seed they always had)."""
    key = resolution_key(relevance)
    parts = ("random-map",) if key == "spans" else ("random-map", key)
    rng = np.random.default_rng(derive_seed(seed, record, code, *parts))
    return random_like(relevance, rng, duration_sec)


def metric_context(explanation: Explanation, classifier: Classifier, *, use_priors: bool = False, k: int = 20,
                   seed: int | None = None, data_root: str | Path | None = None,
                   curves: bool = False, ranking_scale: str = "probability") -> MetricContext:
    """Everything the metrics read for one explanation (see :class:`MetricContext`)."""
    code = payload_class_code(explanation)
    record_path = resolve_record_path(explanation.mat_path, data_root)
    record = read_record(record_path)
    signal = classifier_input(classifier, record, start_sec=float(explanation.start_sec or 0.0))
    leads = tuple(signal.lead_names)
    shown = signal.end_sec - signal.start_sec
    relevance = relevance_of(explanation, leads, len(signal.x), signal.fs)
    region = evaluation_region(code)
    beats = record_beat_context(record)  # beats over the whole recording at its own rate, as the original
    tokens = make_tokens(relevance, beats, region, leads, class_code=code)
    if use_priors:
        tokens["score"] = blend_prior(tokens["score"].to_numpy(), tokens["lenient"].to_numpy(dtype=float))
    mask = planted_mask(record_path, code, leads)
    if mask is not None:
        mask = mask_on_input(mask, record.fs, signal.fs, signal.start_sec, len(signal.x))
    return MetricContext(
        classifier=classifier, x=signal.x, fs=signal.fs, leads=leads, target=classifier.class_index(code),
        code=code, record=record, explanation=explanation, relevance=relevance,
        random_relevance=random_relevance(relevance, seed, record.name, code, shown), beats=beats,
        region=region, tokens=tokens, shown=shown, mask=mask, seed=seed, k=k, keep_curves=curves,
        ranking_scale=ranking_scale)


def _family_columns(family: MetricFamily, ctx: MetricContext, run: bool) -> dict[str, Any]:
    """The family's columns for this row: computed when ``run``, else NaN; an opt-in family that
    cannot run on this model or payload leaves NaN with a warning."""
    if not run:
        return family.empty()
    try:
        found = dict(family.compute(ctx))
    except (ECGXAIError, NotImplementedError) as exc:
        if family.group != "extra":
            raise
        log.warning("%s of %s (%s): not computed: %s", family.name, ctx.record.name,
                    ctx.explanation.method_label, exc)
        return family.empty()
    if "reason" in found:
        log.warning("%s of %s: %s", family.name, ctx.record.name, found["reason"])
    kept = [*family.empty(), "ranking_curves"]
    return {key: value for key, value in found.items() if key in kept}


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
    ranking_scale: str = "probability",
) -> dict[str, Any]:
    """All metrics of one explanation (one row of ``evaluate_all_payloads``).

    ``ranking=False`` skips the perturbation metrics beyond the original's (MoRF/LeRF/
    insertion, faithfulness correlation, ROAD). ``extra_metrics`` adds expensive ones, any of
    :data:`EXTRA_METRICS` (``"max_sensitivity"``, ``"randomisation"``; the latter needs a Keras
    model and leaves NaN with a warning otherwise). ``curves=True`` (with ``ranking``) also
    returns, under ``"ranking_curves"``, the :func:`ranking_curves` results behind the row's
    ranking columns: ``{"explanation": ..., "random": ...}`` (the random baseline is the one in
    the ``random_*`` columns). ``ranking_scale="logit"`` computes MoRF/LeRF/insertion and ROAD on the
    class logit (see :func:`~ecgxai.evaluate.faithfulness.ranking_curves`; the row's ``ranking_scale``
    says which); ``saturated`` flags rows whose unperturbed probability is above 0.99, where
    probability-scale curves are flat.
    """
    extra = check_extra_metrics(extra_metrics)
    explanation = Explanation.from_payload(payload)
    ctx = metric_context(explanation, classifier, use_priors=use_priors, k=k, seed=seed, data_root=data_root,
                         curves=curves, ranking_scale=ranking_scale)
    before = classifier.counter.evaluations
    row: dict[str, Any] = {
        "record": ctx.record.name, "meta_code": ctx.code, "class_name": class_name(ctx.code),
        "sel_idx": explanation.sel_idx, "mat_path": explanation.mat_path, "method": explanation.method_label,
        "priors_used": bool(use_priors), "resolution": ctx.relevance.resolution,
        "probability": float(classifier.predict(ctx.x)[0, ctx.target]),
    }
    row["saturated"] = row["probability"] > SATURATION
    for family in FAMILIES:
        run = (family.group != "ranking" or ranking) and (family.group != "extra" or family.name in extra)
        row.update(_family_columns(family, ctx, run))
    randomised = row["randomisation_evaluations"]  # on the randomised copy, whose counter is its own
    row["evaluations"] = classifier.counter.evaluations - before + int(np.nan_to_num(randomised))
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
    ranking_scale: str = "probability",
) -> pd.DataFrame:
    """One metrics row per payload (columns METRIC_COLUMNS); a failing payload gets an ``error`` row.

    ``payloads``: {class: {sel_idx: payload}} as the pipelines return, {key: payload} or a
    list. ``method_label`` overrides the payloads' own label in the ``method`` column.
    Relative ``mat_path`` values are resolved against ``data_root`` (default ``DATA_ROOT``).
    ``ranking``, ``extra_metrics`` and ``ranking_scale`` are as in :func:`evaluate_payload`.
    """
    if model is None:
        raise ECGXAIError("evaluate_all_payloads needs model= (deletion metrics re-predict)")
    classifier = load_model(model, class_names=class_names)
    rows = []
    for key, payload in tqdm(list(iter_payloads(payloads)), desc="evaluate", unit="rec",
                             disable=not progress):
        try:
            row = evaluate_payload(payload, classifier, use_priors=use_priors, k=k, seed=seed,
                                   data_root=data_root, ranking=ranking, extra_metrics=extra_metrics,
                                   ranking_scale=ranking_scale)
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
