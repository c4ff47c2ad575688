"""The signal every step accepts: a (time, leads) float array, its lead names and its unpadded length.

Zero padding: a trailing block of all-zero rows (how model inputs are padded) is the end of the
signal; R-peak detection, delineation and beat windows never reach into it. NaN or infinite samples
are read as 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecgxai import config
from ecgxai.errors import ConfigurationError
from ecgxai.io.records import check_fs


def as_signal(x: np.ndarray) -> np.ndarray:
    """``x`` as a finite float64 (T, L) array (a 1-D signal becomes one lead)."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ConfigurationError(f"signal must be (time, leads), got shape {x.shape}")
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return x


def signal_length(x: np.ndarray) -> int:
    """Length of ``x`` (T, L) without its trailing block of all-zero (padding) rows."""
    x = as_signal(x)
    nonzero = np.flatnonzero(np.any(x != 0, axis=1))
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def lead_names_of(x: np.ndarray, lead_names: Sequence[str] | None) -> tuple[str, ...]:
    """The lead names of ``x``: given, the standard 12 for 12 columns, else ``lead1``, ``lead2``, ..."""
    n_leads = x.shape[1]
    if lead_names is None:
        if n_leads == len(config.STANDARD_LEADS):
            return config.STANDARD_LEADS
        return tuple(f"lead{i + 1}" for i in range(n_leads))
    names = tuple(str(name) for name in lead_names)
    if len(names) != n_leads:
        raise ConfigurationError(f"{len(names)} lead names for a signal with {n_leads} leads")
    return names


def original_input(x: np.ndarray, fs: float, lead_names: Sequence[str] | None
                   ) -> tuple[np.ndarray, float, list[str]]:
    """Signal, rate and lead names as the original toolkit's steps read them: without names, a
    signal of other than 12 leads has none (so its detector falls back to the highest-variance lead)."""
    x = as_signal(x)
    if lead_names is None:
        names = list(config.STANDARD_LEADS) if x.shape[1] == len(config.STANDARD_LEADS) else []
    else:
        names = [str(name) for name in lead_names]
    if lead_names is not None and len(names) != x.shape[1]:
        raise ConfigurationError(f"{len(names)} lead names for a signal with {x.shape[1]} leads")
    return x, check_fs(fs), names
