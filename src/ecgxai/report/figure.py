"""The interface every ecgxai figure shares (inline display in Jupyter, SVG text, save by suffix), and
:class:`MetricFigure`, the Matplotlib figure behind it."""

from __future__ import annotations

import io
import math
from abc import ABC, abstractmethod
from pathlib import Path

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure

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


#: Colours of the methods (or other series) of a figure, in order.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#393b79")


#: Metadata that keeps Matplotlib from stamping the date (with a fixed SVG id salt, the same
#: figure gives the same file).
_NO_DATE = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


class MetricFigure(ReportFigure):
    """A Matplotlib figure with the ecgxai figure interface; ``figure`` is the Matplotlib Figure."""

    def __init__(self, figure: Figure) -> None:
        self.figure = figure

    def to_svg(self) -> str:
        """SVG text of the figure."""
        buffer = io.StringIO()
        with rc_context({"svg.hashsalt": "ecgxai"}):  # element ids from content, not random
            self.figure.savefig(buffer, format="svg", bbox_inches="tight", metadata=_NO_DATE["svg"])
        return buffer.getvalue()

    def _write_binary(self, path: Path, fmt: str, dpi: float) -> None:
        self.figure.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_NO_DATE[fmt])


def axes_grid(n: int, ncols: int, size: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    """A Figure (no pyplot state) with ``n`` axes in rows of ``ncols``; unused cells removed."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    figure = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = list(figure.subplots(nrows, ncols, squeeze=False).ravel())
    for extra in axes[n:]:
        extra.remove()
    return figure, axes[:n]
