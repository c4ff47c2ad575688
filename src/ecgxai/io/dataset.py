"""Collections of records: find them in a directory tree, index their headers, build labels."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ecgxai.errors import ECGXAIError, RecordNotFoundError
from ecgxai.io.class_lists import check_codes_known
from ecgxai.io.records import parse_dx, parse_header_comments, read_header, record_base, signal_file_of

log = logging.getLogger(__name__)


def find_records(*sources: str | Path) -> list[Path]:
    """Record base paths from files and directories (searched recursively for ``.hea``).

    A file argument may name the record with or without suffix. Results are
    sorted within each directory and de-duplicated, keeping argument order.
    """
    found: list[Path] = []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            found.extend(sorted(record_base(h) for h in source.rglob("*.hea")))
        elif any(record_base(source).with_suffix(s).exists() for s in (".hea", ".mat", ".dat")):
            found.append(record_base(source))
        else:
            raise RecordNotFoundError(source, "no such record or directory")
    return list(dict.fromkeys(found))


def index_records(*sources: str | Path) -> pd.DataFrame:
    """One row per record found, from headers only: name, path, fs, samples, duration, leads, age,
    sex, dx.

    A record whose header cannot be read keeps its row, with the reason in ``error``.
    """
    rows = []
    for base in find_records(*sources):
        row: dict[str, object] = {"record": base.name, "path": str(base), "error": None}
        try:
            header = read_header(base)
        except ECGXAIError as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
            log.warning("skipping %s", exc)
        else:
            meta = parse_header_comments(header.comments or [])
            row.update(
                fs=float(header.fs),
                n_samples=int(header.sig_len),
                duration_sec=header.sig_len / header.fs,
                n_leads=int(header.n_sig),
                lead_names=",".join(header.sig_name or []),
                age=meta["age"],
                sex=meta["sex"],
                dx=",".join(meta["dx"]),
            )
        rows.append(row)
    columns = ["record", "path", "fs", "n_samples", "duration_sec", "n_leads", "lead_names",
               "age", "sex", "dx", "error"]
    return pd.DataFrame(rows, columns=columns)


def import_key_data(path: str | Path) -> tuple[list[str | None], list[float | None], list[str], list[str]]:
    """The original's directory scan: ``(gender, age, labels, ecg_filenames)``.

    ``labels`` are the raw ``#Dx`` strings and ``ecg_filenames`` the ``.mat``
    (or ``.dat``) paths, for every readable header under ``path``.
    """
    index = index_records(path)
    good = index[index["error"].isna()]
    filenames = [signal_file_of(p) for p in good["path"]]
    return (
        [None if pd.isna(s) else s for s in good["sex"]],
        [None if pd.isna(a) else float(a) for a in good["age"]],
        list(good["dx"]),
        [str(f) for f in filenames],
    )


def build_y_true_from_labels(
    labels: Iterable[str | Sequence[str]],
    class_names: Sequence[str],
    unknown: str = "ignore",
) -> np.ndarray:
    """Multi-hot (N, C) float32 labels from ``#Dx`` strings (``"164889003,59118001"``) or code lists.

    Codes outside ``class_names`` (unscored diagnoses) are ignored by default;
    ``unknown="error"`` raises UnknownClassError instead.
    """
    if unknown not in ("ignore", "error"):
        raise ValueError(f"unknown must be 'ignore' or 'error', got {unknown!r}")
    col = {str(c): j for j, c in enumerate(class_names)}
    labels = list(labels)
    y = np.zeros((len(labels), len(col)), dtype=np.float32)
    for i, entry in enumerate(labels):
        codes = parse_dx(entry) if isinstance(entry, str) else tuple(str(c) for c in entry)
        if unknown == "error":
            check_codes_known(codes, list(col), where=f"labels[{i}]")
        for code in codes:
            if code in col:
                y[i, col[code]] = 1.0
    return y

