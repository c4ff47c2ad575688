"""Class lists from files: the codes a model outputs, read from lists, ``.txt``, ``.npy`` or ``.csv``."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ecgxai.errors import ConfigurationError, UnknownClassError


def load_class_names(source: str | Path | Sequence[str] | np.ndarray) -> tuple[str, ...]:
    """Class codes from a list, a ``.txt`` (one per line), a ``.npy`` or a ``.csv`` file.

    ``.npy`` files are read without pickle; a ``.csv`` needs a ``SNOMED CT Code``
    (or ``code``) column, as in ``dx_mapping_scored.csv``.
    """
    if isinstance(source, (str, Path)):
        codes = _read_class_file(Path(source))
    else:
        codes = [str(c) for c in np.asarray(source).ravel()]
    codes = [c.strip() for c in codes if c.strip()]
    if not codes:
        raise ConfigurationError(f"class list {source!s:.80} is empty")
    if len(set(codes)) != len(codes):
        raise ConfigurationError(f"class list {source!s:.80} holds duplicate codes")
    return tuple(codes)


def _read_class_file(path: Path) -> list[str]:
    if not path.is_file():
        raise ConfigurationError(f"{path}: class file not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return [str(c) for c in np.load(path, allow_pickle=False).ravel()]
        except ValueError as exc:
            raise ConfigurationError(f"{path}: not a plain (non-pickled) numpy array: {exc}") from None
    if suffix == ".csv":
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        column = next((c for c in ("SNOMED CT Code", "code") if rows and c in rows[0]), None)
        if column is None:
            raise ConfigurationError(f"{path}: needs a 'SNOMED CT Code' or 'code' column")
        return [row[column] for row in rows]
    return path.read_text().split()


def check_codes_known(codes: Iterable[str], class_names: Sequence[str], where: str) -> None:
    """Raise UnknownClassError naming ``where`` if any code is not in ``class_names``."""
    known = set(class_names)
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise UnknownClassError(f"{where}: unknown class code(s) {unknown}")
