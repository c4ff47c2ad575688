"""Project-wide defaults, overridable by environment variables and by arguments.

``MAXLEN``, ``RANDOM_SEED`` and ``DATA_ROOT`` keep the original toolkit's names.
They are read from ``ECGXAI_MAXLEN``, ``ECGXAI_RANDOM_SEED`` and
``ECGXAI_DATA_ROOT`` when ecgxai is imported; functions take ``None`` to mean
"use the value here", so changing these attributes at run time also works.
"""

from __future__ import annotations

import os
from pathlib import Path

from ecgxai.errors import ConfigurationError


def _int_from_env(name: str, default: int, minimum: int) -> int:
    """Read a positive integer setting from the environment, refusing junk loudly."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigurationError(f"{name}={value} must be >= {minimum}")
    return value


MAXLEN: int = _int_from_env("ECGXAI_MAXLEN", 5000, minimum=1)
RANDOM_SEED: int = _int_from_env("ECGXAI_RANDOM_SEED", 42, minimum=0)
DATA_ROOT: Path = Path(os.environ.get("ECGXAI_DATA_ROOT", "."))

#: Sampling rate assumed by the original toolkit when a header is missing (opt-in only).
FALLBACK_FS: float = 500.0

#: The standard 12-lead order of the PhysioNet/CinC Challenge records.
STANDARD_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)

#: The lead sets of the PhysioNet/CinC Challenge 2021, by number of leads.
CHALLENGE_LEAD_SETS: dict[int, tuple[str, ...]] = {
    12: STANDARD_LEADS,
    6: ("I", "II", "III", "aVR", "aVL", "aVF"),
    4: ("I", "II", "III", "V2"),
    3: ("I", "II", "V2"),
    2: ("I", "II"),
}

#: Fixed beat-window types, relative to each R-peak (their offsets: :mod:`ecgxai.signal.windows`).
WINDOW_TYPES: tuple[str, ...] = ("pre", "qrs_on", "qrs", "qrs_term", "stt", "tlate", "pace", "beat")

#: Record x class sections an HTML report draws by default: each adds, per method, a 12-lead
#: chart of ~0.23 MB that takes ~3 s to rasterise (the metric summaries always cover every record).
REPORT_MAX_RECORDS: int = 20


def resolve_maxlen(maxlen: int | None) -> int:
    """Return ``maxlen`` or the configured default, checking it is positive."""
    value = MAXLEN if maxlen is None else int(maxlen)
    if value < 1:
        raise ConfigurationError(f"maxlen must be >= 1, got {value}")
    return value


def resolve_seed(seed: int | None) -> int:
    """Return ``seed`` or the configured default seed."""
    return RANDOM_SEED if seed is None else int(seed)
