"""Turn records into model input: (maxlen, leads) float32 in the model's units.

The original toolkit padded with zeros at the end or truncated at the end
(``pad_sequences(..., padding="post", truncating="post")``) and fed raw ADC
values; both are kept as the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecgxai import config
from ecgxai.errors import LeadMismatchError
from ecgxai.io.records import Record, Units, check_units, read_record


def fit_length(signal: np.ndarray, maxlen: int) -> np.ndarray:
    """Zero-pad at the end or truncate at the end a (time, leads) array to ``maxlen`` rows."""
    out = np.zeros((maxlen, signal.shape[1]), dtype=np.float32)
    n = min(maxlen, signal.shape[0])
    out[:n] = signal[:n]
    return out


def normalise_lead_name(name: str) -> str:
    """Case-insensitive key for a lead name (``AVR`` and ``aVR`` are the same lead)."""
    return name.strip().lower()


def lead_order(record: Record, lead_names: Sequence[str]) -> list[int]:
    """Column indices that put ``record``'s leads in the order ``lead_names``."""
    have = {normalise_lead_name(n): i for i, n in enumerate(record.lead_names)}
    missing = [n for n in lead_names if normalise_lead_name(n) not in have]
    if missing:
        raise LeadMismatchError(
            record.path or record.name,
            f"record has leads {list(record.lead_names)}, model needs {list(lead_names)} "
            f"(missing {missing})",
        )
    return [have[normalise_lead_name(n)] for n in lead_names]


def to_model_input(
    record: Record,
    maxlen: int | None = None,
    units: Units = "adc",
    lead_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Return (maxlen, leads) float32 for one record.

    With ``lead_names`` the record's leads are reordered to match and a record
    lacking one of them raises :class:`LeadMismatchError`; without, all leads are kept.
    """
    check_units(units)
    signal = record.to_units(units)
    if lead_names is not None:
        order = lead_order(record, lead_names)
        if order != list(range(record.n_leads)):
            signal = signal[:, order]
    return fit_length(signal, config.resolve_maxlen(maxlen))


def preprocess_for_model(
    record_path: str | Path | Record,
    maxlen: int | None = None,
    units: Units = "adc",
    lead_names: Sequence[str] | None = None,
    **read_kwargs: object,
) -> np.ndarray:
    """Read a record (or take a :class:`Record`) and return model input, (maxlen, leads) float32."""
    record = record_path if isinstance(record_path, Record) else read_record(record_path, **read_kwargs)
    return to_model_input(record, maxlen=maxlen, units=units, lead_names=lead_names)


def load_mat_TF(record_path: str | Path, maxlen: int | None = None, **kwargs: object) -> np.ndarray:
    """Original name for :func:`preprocess_for_model`: raw ADC values, (maxlen, leads) float32."""
    return preprocess_for_model(record_path, maxlen=maxlen, **kwargs)
