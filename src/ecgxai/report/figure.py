"""The interface every ecgxai figure shares: inline display in Jupyter, SVG text, save by suffix."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from ecgxai.errors import ConfigurationError

#: File formats :meth:`ReportFigure.save` writes, chosen by the file's suffix.
FORMATS = ("svg", "png", "pdf")
#: Resolution of PNG output unless ``dpi`` is given.
DEFAULT_DPI = 150


class ReportFigure(ABC):
    """A figure shown inline in Jupyter (as SVG) and saved as SVG, PNG or PDF."""

    @abstractmethod
    def to_svg(self) -> str:
        """The figure as SVG text."""

    @abstractmethod
    def _write_binary(self, path: Path, fmt: str, dpi: float) -> None:
        """Write the figure to ``path`` as ``fmt`` ("png" or "pdf")."""

    def save(self, path: str | Path, *, dpi: float = DEFAULT_DPI) -> Path:
        """Write the figure as SVG, PNG or PDF, chosen by the suffix of ``path``; return the path."""
        path = Path(path)
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in FORMATS:
            raise ConfigurationError(f"{path}: cannot save a figure as {path.suffix or 'no suffix'!r}; "
                                     f"use one of {', '.join('.' + f for f in FORMATS)}")
        if dpi <= 0:
            raise ConfigurationError(f"dpi must be > 0, got {dpi}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "svg":
            path.write_text(self.to_svg(), encoding="utf-8")
        else:
            self._write_binary(path, fmt, dpi)
        return path

    def _repr_svg_(self) -> str:
        return self.to_svg()
