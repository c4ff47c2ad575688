"""Cleaning one lead with neurokit2's ``ecg_clean``: the first step of R-peak detection and delineation."""

from __future__ import annotations

import logging
import warnings

import numpy as np

log = logging.getLogger(__name__)


def nk_rate(fs: float) -> int | float:
    """``fs`` as neurokit2 wants it: an int when it is whole."""
    return int(fs) if float(fs).is_integer() else fs


def clean_lead(lead: np.ndarray, fs: float) -> np.ndarray:
    """neurokit2's cleaned lead (zeros when neurokit2 fails, e.g. on a too short signal)."""
    import neurokit2 as nk

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cleaned = np.asarray(nk.ecg_clean(lead, sampling_rate=nk_rate(fs)), dtype=np.float64)
    except Exception as exc:  # neurokit2 raises TypeError/ValueError on odd input
        log.debug("neurokit2 ecg_clean failed: %s: %s", type(exc).__name__, exc)
        return np.zeros(lead.size)
    return np.nan_to_num(cleaned, nan=0.0, posinf=0.0, neginf=0.0)
