"""Pick confident examples per target diagnosis, as the original toolkit did.

For each target, the class probability is the maximum over the target's aliases
present among the model's classes. Candidates need that probability >=
``min_prob``, a duration <= ``max_duration_sec`` (from the header) and, when
``y_true`` is given, a positive label for any alias. ``k_per_class`` candidates are
drawn at random with the seed; when fewer exist, the ``k`` most probable
duration-eligible records are taken instead (marked ``selected_by="fallback"``).

Given the stretches each row was predicted on (a ``predict --windows`` table: several rows per
record), each record competes with its stretch of highest probability for the target, the
duration limit applies to the stretch, and the selection says which stretch (``start_sec``,
``end_sec``) to explain.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgxai import config
from ecgxai.classes import TARGET_META, validate_target_meta
from ecgxai.errors import ConfigurationError, ECGXAIError
from ecgxai.io.files import write_json_atomic
from ecgxai.io.records import record_base, record_duration

log = logging.getLogger(__name__)

SELECTION_COLUMNS = ["group_class", "group_name", "filename", "record", "sel_idx", "duration_sec",
                     "prob_meta", "alias_code", "selected_by"]
#: Selection columns naming the stretch of the record chosen, when the rows were predicted on stretches.
STRETCH_COLUMNS = ["start_sec", "end_sec"]


def build_selection_df_with_aliases(
    ecg_filenames: Sequence[str | Path],
    probs: np.ndarray,
    class_names: Sequence[str],
    target_meta: Mapping[str, Mapping[str, Any]] | None = None,
    y_true: np.ndarray | None = None,
    k_per_class: int = 5,
    min_prob: float = 0.85,
    random_seed: int | None = None,
    max_duration_sec: float | None = 20.0,
    duration_cache_path: str | Path | None = None,
    stretches: np.ndarray | Sequence[tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """Selection table: ``k_per_class`` records per target with the columns in SELECTION_COLUMNS.

    ``sel_idx`` indexes ``ecg_filenames``/``probs``. Records whose duration cannot
    be read (or whose probabilities are NaN) are never selected. ``stretches`` holds each row's
    (start_sec, end_sec); rows of the same record then compete, per target, through the one with
    the highest probability, ``max_duration_sec`` limits the stretch rather than the record, and
    the table gains the STRETCH_COLUMNS.
    """
    class_names = [str(c) for c in class_names]
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (len(ecg_filenames), len(class_names)):
        raise ConfigurationError(f"probs has shape {probs.shape}, expected "
                                 f"({len(ecg_filenames)}, {len(class_names)}) files x classes")
    if y_true is not None and np.shape(y_true) != probs.shape:
        raise ConfigurationError(f"y_true has shape {np.shape(y_true)}, expected {probs.shape}")
    if k_per_class < 1:
        raise ConfigurationError(f"k_per_class must be >= 1, got {k_per_class}")
    meta = validate_target_meta(TARGET_META if target_meta is None else target_meta, class_names)
    spans = _check_stretches(stretches, len(ecg_filenames))
    records = [str(record_base(name)) for name in ecg_filenames]
    unique = list(dict.fromkeys(records))
    by_record = dict(zip(unique, record_durations(unique, duration_cache_path), strict=True))
    durations = np.array([by_record[r] for r in records], dtype=np.float64)
    eligible = np.isfinite(durations)
    if max_duration_sec is not None:
        eligible &= (durations if spans is None else spans[:, 1] - spans[:, 0]) <= max_duration_sec
    seed = config.resolve_seed(random_seed)
    frames = [
        _select_group(code, entry, ecg_filenames, probs, class_names, y_true, durations, eligible,
                      k_per_class, min_prob, seed, None if spans is None else records)
        for code, entry in meta.items()
    ]
    columns = SELECTION_COLUMNS + ([] if spans is None else STRETCH_COLUMNS)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    if spans is not None and len(table):
        table[STRETCH_COLUMNS] = spans[table["sel_idx"].to_numpy(dtype=int)]
    return table


def _check_stretches(stretches: Any, n_rows: int) -> np.ndarray | None:
    """``stretches`` as an (n_rows, 2) float array of (start_sec, end_sec), or None when not given."""
    if stretches is None:
        return None
    spans = np.asarray(stretches, dtype=np.float64)
    if spans.shape != (n_rows, 2):
        raise ConfigurationError(f"stretches has shape {spans.shape}, expected ({n_rows}, 2) rows x "
                                 "(start_sec, end_sec)")
    return spans


def _best_stretches(records: Sequence[str], scores: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Mask of each record's usable row with the highest score (the earliest one on ties)."""
    best: dict[str, int] = {}
    for i in np.flatnonzero(usable):
        if records[i] not in best or scores[i] > scores[best[records[i]]]:
            best[records[i]] = int(i)
    mask = np.zeros(len(scores), dtype=bool)
    mask[list(best.values())] = True
    return mask


def _select_group(
    code: str, entry: Mapping[str, Any], filenames: Sequence[str | Path], probs: np.ndarray,
    class_names: list[str], y_true: np.ndarray | None, durations: np.ndarray,
    eligible: np.ndarray, k: int, min_prob: float, seed: int, records: Sequence[str] | None,
) -> pd.DataFrame:
    """Rows for one target group, sorted by probability (highest first); with ``records`` (the
    record of each row) only each record's most probable row takes part."""
    columns = [class_names.index(a) for a in entry["aliases"] if a in class_names]
    alias_probs = probs[:, columns]
    group_prob = alias_probs.max(axis=1)  # NaN only for records whose prediction failed
    usable = eligible & np.isfinite(group_prob)
    if records is not None:
        usable &= _best_stretches(records, group_prob, usable)
    candidates = usable & (group_prob >= min_prob)
    if y_true is not None:
        candidates &= np.asarray(y_true)[:, columns].max(axis=1) > 0
    pool = np.flatnonzero(candidates)
    if len(pool) >= k:
        rng = np.random.default_rng([seed, int(code)])  # per-group stream: independent of order
        chosen, how = np.sort(rng.choice(pool, size=k, replace=False)), "random"
    else:
        ranked = np.flatnonzero(usable)
        chosen = ranked[np.argsort(-group_prob[ranked], kind="stable")[:k]]
        how = "fallback"
        log.info("target %s: %d candidates < k=%d; taking the %d most probable eligible records",
                 code, len(pool), k, len(chosen))
    best_alias = [class_names[columns[j]] for j in np.argmax(alias_probs[chosen], axis=1)]
    frame = pd.DataFrame({
        "group_class": code,
        "group_name": entry["name"],
        "filename": [str(filenames[i]) for i in chosen],
        "record": [record_base(filenames[i]).name for i in chosen],
        "sel_idx": chosen.astype(int),
        "duration_sec": durations[chosen],
        "prob_meta": group_prob[chosen],
        "alias_code": best_alias,
        "selected_by": how,
    }, columns=SELECTION_COLUMNS)
    return frame.sort_values("prob_meta", ascending=False, kind="stable", ignore_index=True)


def record_durations(filenames: Sequence[str | Path], cache_path: str | Path | None = None
                     ) -> np.ndarray:
    """Duration in seconds of each record from its header (NaN when unreadable).

    With ``cache_path`` the durations are kept in a JSON file keyed by header
    path, size and modification time, so later calls skip unchanged headers.
    A ``.npy`` cache name from the original toolkit is stored as JSON beside it.
    """
    cache_file = _cache_file(cache_path)
    cache = _load_cache(cache_file)
    out = np.full(len(filenames), np.nan)
    changed = False
    for i, name in enumerate(filenames):
        header = record_base(name).with_suffix(".hea")
        key = _cache_key(header)
        if key is not None and key in cache:
            out[i] = cache[key]
            continue
        try:
            out[i] = record_duration(header)
        except ECGXAIError as exc:
            log.warning("no duration for %s: %s", name, exc)
            continue
        if key is not None:
            cache[key], changed = out[i], True
    if cache_file is not None and changed:
        write_json_atomic(cache_file, cache)
    return out


def _cache_file(cache_path: str | Path | None) -> Path | None:
    if cache_path is None:
        return None
    path = Path(cache_path)
    if path.suffix.lower() != ".json":
        path = path.with_suffix(".json")
        log.info("duration cache kept as JSON (never pickle): %s", path)
    return path


def _cache_key(header: Path) -> str | None:
    try:
        stat = header.stat()
    except OSError:
        return None
    return f"{header.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _load_cache(path: Path | None) -> dict[str, float]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable duration cache %s: %s", path, exc)
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}

