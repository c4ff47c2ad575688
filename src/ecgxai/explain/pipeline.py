"""Class pipelines over a selection table, with the original toolkit's names and return shapes.

``run_pipeline_for_classes`` -> (payloads by class then ``sel_idx``, result table);
``run_fused_pipeline_for_classes`` -> (fused payloads, LIME table, TimeSHAP table).
They are the resumable runs without a folder: the selected rows go through
:func:`~ecgxai.explain.runs.explain_items` with a memory store. Payloads are plain dicts in the
original format (``Explanation.from_payload`` types them); result tables hold plain columns, spans
as JSON text. A record that fails is logged, gets a row with its ``error`` and no payload, and the
run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ecgxai.errors import ConfigurationError, ECGXAIError
from ecgxai.explain.payload import Explanation
from ecgxai.explain.runs import FUSED_PARTS, MemoryStore, Params, WorkItem, explain_items, resolve_run_method
from ecgxai.explain.tables import TABLE_COLUMNS, explanation_row, payload_from_row
from ecgxai.io.preprocessing import preprocess_for_model
from ecgxai.models.base import Classifier
from ecgxai.models.loader import load_model
from ecgxai.parallel import TaskFailure

log = logging.getLogger(__name__)

ExplainClass = Literal["force", "pred"]
#: Payload dicts by ``sel_idx``, and those by class.
Payloads = dict[int, dict[str, Any]]
PayloadsByClass = dict[str, Payloads]

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
    x = preprocess_for_model(filename, maxlen=classifier.input_length, units=classifier.units,
                             lead_names=classifier.lead_names)
    return classifier.class_names[int(np.argmax(classifier.predict(x)[0]))]


@dataclass
class _Found:
    """One method's results per selected row: its explanations and result-table rows."""

    explanations: dict[int, Explanation] = field(default_factory=dict)
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, position: int, row: Any, result: Explanation | TaskFailure) -> None:
        """The row's explanation, or its failure as an error row."""
        if isinstance(result, TaskFailure):
            self.rows[position] = {"group_class": str(row.group_class), "sel_idx": int(row.sel_idx),
                                   "filename": str(row.filename),
                                   "error": f"{result.error_type}: {result.message}"}
            return
        self.explanations[position] = result
        self.rows[position] = explanation_row(row.group_class, row.sel_idx, row.filename, result)

    def payloads(self) -> Payloads:
        """{sel_idx: payload dict} in selection order."""
        return {int(x.sel_idx): x.to_payload() for _, x in sorted(self.explanations.items())}

    def table(self) -> pd.DataFrame:
        """The result table in selection order."""
        return pd.DataFrame([self.rows[k] for k in sorted(self.rows)], columns=TABLE_COLUMNS)


def _explain_rows(classifier: Classifier, rows: pd.DataFrame, method: str, params: Params, seed: int | None,
                  explain_class: ExplainClass, progress: bool,
                  fusion_kwargs: Mapping[str, Any]) -> tuple[str, dict[str, _Found]]:
    """Explain every selected row through the one core, kept in memory: the method run (``auto``
    resolved) and per method (for ``fused`` its LIME and TimeSHAP parts too) each row's result."""
    if explain_class not in ("force", "pred"):
        raise ConfigurationError(f"explain_class must be 'force' or 'pred', got {explain_class!r}")
    method, params = resolve_run_method(method, classifier, params)
    picked = list(rows.itertuples(index=False))
    found = {name: _Found() for name in ((*FUSED_PARTS, method) if method == "fused" else (method,))}
    items, positions = [], []
    for position, row in enumerate(picked):
        try:
            code = _explained_code(classifier, row.filename, row.group_class, explain_class)
        except ECGXAIError as exc:
            log.warning("skipping %s: %s", row.filename, exc)
            for results in found.values():
                results.add(position, row, TaskFailure.from_exception(exc))
            continue
        items.append(WorkItem(code, str(row.filename), int(row.sel_idx)))
        positions.append(position)
    for name, k, result in explain_items(classifier, items, method, MemoryStore(), params=params, seed=seed,
                                         progress=progress, fusion_kwargs=fusion_kwargs):
        found[name].add(positions[k], picked[positions[k]], result)
    return method, found


def _for_classes(run_one: Callable[..., tuple[Any, ...]], target_classes: Sequence[str], sel_df: pd.DataFrame,
                 model: Any, class_names: Sequence[str] | None,
                 other: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """``run_one`` for each class on one loaded model: (its payloads by class, then each of its tables
    concatenated over the classes)."""
    classifier = _classifier(model, class_names)
    results = {str(code): run_one(str(code), sel_df, classifier, None, *other, **kwargs)
               for code in target_classes}
    tables = zip(*(result[1:] for result in results.values()), strict=True)
    return ({code: result[0] for code, result in results.items()}, *map(_concat, tables))


def run_pipeline_for_class(target_class: str, sel_df: pd.DataFrame, model: Any,
                           class_names: Sequence[str] | None = None, max_examples_per_class: int | None = 3,
                           plot: bool = False, *, method: str = "lime", params: Params = None,
                           seed: int | None = None, explain_class: ExplainClass = "force",
                           progress: bool = True) -> tuple[Payloads, pd.DataFrame]:
    """Explain the selected records of one class: ({sel_idx: payload}, result table)."""
    classifier = _classifier(model, class_names)
    rows = _rows_for(sel_df, target_class, max_examples_per_class)
    method, found = _explain_rows(classifier, rows, method, params, seed, explain_class, progress, {})
    _warn_plot(plot)
    return found[method].payloads(), found[method].table()


def run_pipeline_for_classes(target_classes: Sequence[str], sel_df: pd.DataFrame, model: Any,
                             class_names: Sequence[str] | None = None,
                             max_examples_per_class: int | None = 3, plot: bool = False,
                             **kwargs: Any) -> tuple[PayloadsByClass, pd.DataFrame]:
    """:func:`run_pipeline_for_class` for each class: ({class: {sel_idx: payload}}, one table)."""
    payloads, table = _for_classes(run_pipeline_for_class, target_classes, sel_df, model, class_names,
                                   (max_examples_per_class, plot), kwargs)
    return payloads, table


def run_fused_pipeline_for_class(target_class: str, sel_df: pd.DataFrame, model: Any,
                                 class_names: Sequence[str] | None = None,
                                 max_examples_per_class: int | None = 3, plot: bool = False, *,
                                 params: Params = None, seed: int | None = None,
                                 explain_class: ExplainClass = "force", progress: bool = True,
                                 **fusion_kwargs: Any
                                 ) -> tuple[Payloads, pd.DataFrame, pd.DataFrame]:
    """LIME and TimeSHAP on the same records, fused per record: (fused, LIME table, TimeSHAP table).

    Fusion uses the explained class's method weights from ``FUSION_WEIGHTS_BY_SNOMED`` unless
    ``method_weights`` is given; other keywords go to ``fuse_lime_timeshap_payload``.
    """
    classifier = _classifier(model, class_names)
    rows = _rows_for(sel_df, target_class, max_examples_per_class)
    _, found = _explain_rows(classifier, rows, "fused", params, seed, explain_class, progress, fusion_kwargs)
    _warn_plot(plot)
    return found["fused"].payloads(), found["lime"].table(), found["timeshap"].table()


def run_fused_pipeline_for_classes(target_classes: Sequence[str], sel_df: pd.DataFrame, model: Any,
                                   class_names: Sequence[str] | None = None,
                                   max_examples_per_class: int | None = 3, plot: bool = False, **kwargs: Any
                                   ) -> tuple[PayloadsByClass, pd.DataFrame, pd.DataFrame]:
    """:func:`run_fused_pipeline_for_class` for each class: (fused by class, LIME table, TimeSHAP table)."""
    fused, lime, shap = _for_classes(run_fused_pipeline_for_class, target_classes, sel_df, model, class_names,
                                     (max_examples_per_class, plot), kwargs)
    return fused, lime, shap


def _concat(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    frames = [t for t in tables if len(t)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TABLE_COLUMNS)


def _warn_plot(plot: bool) -> None:
    if plot:
        log.warning("plot=True: the pipelines do not draw; pass the returned payloads to "
                    "ecgxai.plot_from_payload (or plot_comparison) instead")
