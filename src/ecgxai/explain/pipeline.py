"""Class pipelines over a selection table, with the original toolkit's names and return shapes.

``run_pipeline_for_classes`` -> (payloads by class then ``sel_idx``, result table);
``run_fused_pipeline_for_classes`` -> (fused payloads, LIME table, TimeSHAP table).
Payloads are plain dicts in the original format (``Explanation.from_payload`` types
them); result tables hold plain columns, spans as JSON text. A record that fails is
logged, gets a row with its ``error`` and no payload, and the run goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgxai.classes import fusion_weights_for
from ecgxai.errors import ConfigurationError, ECGXAIError
from ecgxai.explain.explainers import explain_record
from ecgxai.explain.fusion import fuse_lime_timeshap_payload
from ecgxai.explain.payload import Explanation
from ecgxai.explain.settings import ExplainParams
from ecgxai.io.preprocessing import preprocess_for_model
from ecgxai.models.base import Classifier
from ecgxai.models.loader import load_model

log = logging.getLogger(__name__)

ExplainClass = Literal["force", "pred"]
JSON_COLUMNS = ("perlead_spans", "lead_scores", "event_spans", "params", "meta", "attribution")
TABLE_COLUMNS = ["group_class", "sel_idx", "record", "filename", "target_code", "target_label",
                 "method_label", "probability", "model_evaluations", "seconds", "seed",
                 "page_seconds", "start_sec", "end_sec", "fs", "model_fs", "top5_leads", *JSON_COLUMNS,
                 "error"]
#: The columns of the tables ``explain`` writes beside the payload files (which hold the maps).
RUN_TABLE_COLUMNS = [column for column in TABLE_COLUMNS if column != "attribution"]


def explanation_row(group_class: str, sel_idx: int, filename: str, explanation: Explanation,
                    with_map: bool = True) -> dict[str, Any]:
    """One result-table row: scalars as columns, structures as JSON text (never pickles); the
    attribution map too unless ``with_map`` is False (it is about 100 KB of text)."""
    payload = explanation.to_payload()
    row = {key: payload[key] for key in TABLE_COLUMNS if key in payload and key not in JSON_COLUMNS}
    row.update({key: json.dumps(payload.get(key)) for key in JSON_COLUMNS
                if with_map or key != "attribution"})
    row.update(group_class=str(group_class), sel_idx=int(sel_idx), filename=str(filename),
               top5_leads=",".join(explanation.top5_leads), error=None)
    return row


def payload_from_row(row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    """Rebuild the payload dict of a result-table row (the inverse of :func:`explanation_row`)."""
    data = dict(row)
    if data.get("error"):
        raise ECGXAIError(f"row for {data.get('record')} holds no explanation: {data['error']}")
    fields = {k: v for k, v in data.items() if k in Explanation.__dataclass_fields__}
    fields.update({k: json.loads(data[k]) for k in JSON_COLUMNS if isinstance(data.get(k), str)})
    leads = data.get("top5_leads") or ""
    fields["top5_leads"] = leads.split(",") if isinstance(leads, str) and leads else list(leads or [])
    fields["mat_path"] = data.get("filename", fields.get("mat_path", ""))
    fields["sel_idx"] = int(data["sel_idx"]) if data.get("sel_idx") is not None else None
    return Explanation.from_payload(fields).to_payload()


#: The original's names for the same routine: the row already says which method made it.
payload_from_lime_row = payload_from_row
payload_from_timeshap_row = payload_from_row


def _classifier(model: Any, class_names: Sequence[str] | None) -> Classifier:
    classifier = load_model(model, class_names=class_names)
    if class_names is not None and list(classifier.class_names) != [str(c) for c in class_names]:
        raise ConfigurationError("class_names differ from the classifier's class list")
    return classifier


def _rows_for(sel_df: pd.DataFrame, target_class: str, limit: int | None) -> pd.DataFrame:
    missing = {"group_class", "filename", "sel_idx"} - set(sel_df.columns)
    if missing:
        raise ConfigurationError(f"sel_df lacks columns {sorted(missing)}")
    rows = sel_df[sel_df["group_class"].astype(str) == str(target_class)]
    return rows if limit is None else rows.head(limit)


def _explained_code(classifier: Classifier, filename: str, group_class: str,
                    explain_class: ExplainClass) -> str:
    """The group's class (``force``) or the model's most probable class (``pred``)."""
    if explain_class == "force":
        return str(group_class)
    if explain_class == "pred":
        x = preprocess_for_model(filename, maxlen=classifier.input_length, units=classifier.units,
                                 lead_names=classifier.lead_names)
        return classifier.class_names[int(np.argmax(classifier.predict(x)[0]))]
    raise ConfigurationError(f"explain_class must be 'force' or 'pred', got {explain_class!r}")


def _explain_rows(classifier: Classifier, rows: pd.DataFrame, methods: Sequence[str],
                  params: ExplainParams | Mapping[str, Any] | None, seed: int | None,
                  explain_class: ExplainClass, progress: bool
                  ) -> dict[str, tuple[dict[int, Explanation], list[dict[str, Any]]]]:
    """Explain every selected row with every method; failures become error rows."""
    results: dict[str, tuple[dict[int, Explanation], list[dict[str, Any]]]] = {
        m: ({}, []) for m in methods}
    for row in tqdm(list(rows.itertuples(index=False)), desc="explain", unit="rec", disable=not progress):
        for method in methods:
            explanations, table = results[method]
            try:
                code = _explained_code(classifier, row.filename, row.group_class, explain_class)
                explanation = explain_record(classifier, row.filename, code, method=method,
                                             params=params, seed=seed)
            except ECGXAIError as exc:
                log.warning("skipping %s (%s): %s", row.filename, method, exc)
                table.append({"group_class": str(row.group_class), "sel_idx": int(row.sel_idx),
                              "filename": str(row.filename), "error": f"{type(exc).__name__}: {exc}"})
                continue
            explanation.sel_idx = int(row.sel_idx)
            explanations[int(row.sel_idx)] = explanation
            table.append(explanation_row(row.group_class, row.sel_idx, row.filename, explanation))
    return results


def fuse_for_class(lime: Explanation, shap: Explanation, code: str, **fusion_kwargs: Any) -> Explanation:
    """Fuse with the class's method weights (``FUSION_WEIGHTS_BY_SNOMED``) unless given explicitly."""
    settings = {"method_weights": fusion_weights_for(code), **fusion_kwargs}
    return fuse_lime_timeshap_payload(lime, shap, **settings)


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def run_pipeline_for_class(
    target_class: str,
    sel_df: pd.DataFrame,
    model: Any,
    class_names: Sequence[str] | None = None,
    max_examples_per_class: int | None = 3,
    plot: bool = False,
    *,
    method: str = "lime",
    params: ExplainParams | Mapping[str, Any] | None = None,
    seed: int | None = None,
    explain_class: ExplainClass = "force",
    progress: bool = True,
) -> tuple[dict[int, dict[str, Any]], pd.DataFrame]:
    """Explain the selected records of one class: ({sel_idx: payload}, result table)."""
    classifier = _classifier(model, class_names)
    rows = _rows_for(sel_df, target_class, max_examples_per_class)
    explanations, table = _explain_rows(classifier, rows, [method], params, seed, explain_class,
                                        progress)[method]
    _warn_plot(plot)
    return {k: e.to_payload() for k, e in explanations.items()}, _table(table)


def run_pipeline_for_classes(
    target_classes: Sequence[str],
    sel_df: pd.DataFrame,
    model: Any,
    class_names: Sequence[str] | None = None,
    max_examples_per_class: int | None = 3,
    plot: bool = False,
    **kwargs: Any,
) -> tuple[dict[str, dict[int, dict[str, Any]]], pd.DataFrame]:
    """:func:`run_pipeline_for_class` for each class: ({class: {sel_idx: payload}}, one table)."""
    classifier = _classifier(model, class_names)
    payloads: dict[str, dict[int, dict[str, Any]]] = {}
    tables = []
    for code in target_classes:
        payloads[str(code)], table = run_pipeline_for_class(
            str(code), sel_df, classifier, None, max_examples_per_class, plot, **kwargs)
        tables.append(table)
    return payloads, _concat(tables)


def run_fused_pipeline_for_class(
    target_class: str,
    sel_df: pd.DataFrame,
    model: Any,
    class_names: Sequence[str] | None = None,
    max_examples_per_class: int | None = 3,
    plot: bool = False,
    *,
    params: ExplainParams | Mapping[str, Any] | None = None,
    seed: int | None = None,
    explain_class: ExplainClass = "force",
    progress: bool = True,
    **fusion_kwargs: Any,
) -> tuple[dict[int, dict[str, Any]], pd.DataFrame, pd.DataFrame]:
    """LIME and TimeSHAP on the same records, fused per record: (fused, LIME table, TimeSHAP table).

    Fusion uses the class's method weights from ``FUSION_WEIGHTS_BY_SNOMED`` unless
    ``method_weights`` is given; other keywords go to ``fuse_lime_timeshap_payload``.
    """
    classifier = _classifier(model, class_names)
    rows = _rows_for(sel_df, target_class, max_examples_per_class)
    results = _explain_rows(classifier, rows, ["lime", "timeshap"], params, seed, explain_class,
                            progress)
    (lime, lime_table), (shap, shap_table) = results["lime"], results["timeshap"]
    fused = {k: fuse_for_class(lime[k], shap[k], target_class, **fusion_kwargs).to_payload()
             for k in lime if k in shap}
    _warn_plot(plot)
    return fused, _table(lime_table), _table(shap_table)


def run_fused_pipeline_for_classes(
    target_classes: Sequence[str],
    sel_df: pd.DataFrame,
    model: Any,
    class_names: Sequence[str] | None = None,
    max_examples_per_class: int | None = 3,
    plot: bool = False,
    **kwargs: Any,
) -> tuple[dict[str, dict[int, dict[str, Any]]], pd.DataFrame, pd.DataFrame]:
    """:func:`run_fused_pipeline_for_class` for each class: (fused by class, LIME table, TimeSHAP table)."""
    classifier = _classifier(model, class_names)
    fused: dict[str, dict[int, dict[str, Any]]] = {}
    lime_tables, shap_tables = [], []
    for code in target_classes:
        fused[str(code)], lime_table, shap_table = run_fused_pipeline_for_class(
            str(code), sel_df, classifier, None, max_examples_per_class, plot, **kwargs)
        lime_tables.append(lime_table)
        shap_tables.append(shap_table)
    return fused, _concat(lime_tables), _concat(shap_tables)


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [t for t in tables if len(t)]
    return pd.concat(frames, ignore_index=True) if frames else _table([])


def _warn_plot(plot: bool) -> None:
    if plot:
        log.warning("plot=True: the pipelines do not draw; pass the returned payloads to "
                    "ecgxai.plot_from_payload (or plot_comparison) instead")
