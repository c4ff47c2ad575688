"""Result tables of explanations: one row per explanation, scalars as columns, structures as JSON text.

Shared by the resumable runs (``<method>.csv`` beside the payloads, without the maps) and the
original toolkit's class pipelines (with them); :func:`payload_from_row` reads a row back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ecgxai.errors import ECGXAIError
from ecgxai.explain.payload import Explanation

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
