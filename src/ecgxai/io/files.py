"""Result files: atomic writes, JSON, and tables as CSV or Parquet chosen by extension."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from ecgxai.errors import ConfigurationError

TABLE_SUFFIXES = (".csv", ".parquet")
#: Longest record, class or file name ecgxai accepts.
MAX_NAME_LENGTH = 100


#: Suffix of the temporary files that atomic writes rename into place.
TEMP_SUFFIX = ".tmp"


def check_safe_name(name: str, what: str = "name", *, dots: bool = False) -> str:
    """``name`` when it is safe as a file or record name, else :class:`ConfigurationError`.

    Safe: 1-100 letters, digits, ``_`` or ``-`` (and ``.`` when ``dots``, never ``..``), starting with a
    letter or digit (so not an option, not hidden). No path separators, so nothing lands outside its
    folder; record names we write take no dots (a suffix would be replaced by ``.mat``/``.hea``).
    """
    allowed = "A-Za-z0-9_." if dots else "A-Za-z0-9_"
    pattern = rf"[A-Za-z0-9][{allowed}-]{{0,{MAX_NAME_LENGTH - 1}}}"
    if not isinstance(name, str) or not re.fullmatch(pattern, name) or ".." in name:
        extra = ", '.'" if dots else ""
        raise ConfigurationError(f"unsafe {what} {name!r}: use 1-{MAX_NAME_LENGTH} letters, digits, '_', "
                                 f"'-'{extra} (starting with a letter or digit; no path separators or '..')")
    return name


def file_inside(out_dir: str | Path, filename: str) -> Path:
    """``out_dir/filename``, refusing any file name that would land outside ``out_dir``
    (separators, '..', or a symlink pointing elsewhere)."""
    root = Path(out_dir).resolve()
    if not filename or Path(filename).name != filename or filename in (".", ".."):
        raise ConfigurationError(f"unsafe file name {filename!r}")
    path = root / filename
    if path.resolve().parent != root:
        raise ConfigurationError(f"{filename!r} would be written outside {root}")
    return path


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds,
    so readers never see a half-written file. The temporary name (``.NAME.XXXX.tmp``) never
    matches ``*.json`` or ``*.csv``, so a run killed mid-write leaves nothing that looks like output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_json_object(path: str | Path, error: type[Exception], what: str) -> dict[str, Any]:
    """A file holding one JSON object, as a dict (empty when the file is absent); ``error`` names
    the file when it is unreadable or not an object."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise error(f"{path}: unreadable {what}, not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: a {what} must be a JSON object, found {type(data).__name__}")
    return data


def write_json_atomic(path: str | Path, data: Mapping[str, Any] | list[Any]) -> None:
    """Write JSON atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def _table_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ConfigurationError(f"{path}: tables are written as .csv or .parquet, not {suffix!r}")
    return suffix


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV or Parquet by the file's extension, atomically."""
    path = Path(path)
    suffix = _table_suffix(path)
    with atomic_output(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path


def read_table(path: str | Path, **csv_kwargs: Any) -> pd.DataFrame:
    """Read a CSV or Parquet table by the file's extension."""
    path = Path(path)
    suffix = _table_suffix(path)
    if not path.is_file():
        raise ConfigurationError(f"{path}: table file not found")
    return pd.read_csv(path, **csv_kwargs) if suffix == ".csv" else pd.read_parquet(path)
