"""The attribution map: what an explainer found, whole, for one record and one class.

An :class:`Attribution` holds one signed relevance value per lead and *segment* of the model
input (the explainer's events: every event and every lead, for perturbation methods) or per
lead and *sample* (gradient methods), with what is needed to read it: the lead names, the
segment boundaries, the record's and the model's sampling rates, the stretch of the record
it covers, the scale of its values and the method and settings that made it.

Values are totals: a segment's value is the relevance of the whole segment (what removing it
does, for a perturbation method), a sample's the relevance of that sample. So sums over any
region mean the same at every resolution: :meth:`Attribution.to_samples` spreads a segment's
value evenly over its samples, and :meth:`Attribution.to_cells` sums (or averages) the
per-sample values inside lead x ``cell_sec`` cells.

Storage precision: values are kept as float16 multiples of the map's largest ``|value|``
(``peak``), i.e. to about 3 significant digits of the peak (relative error at most 2^-11 for
values above 6e-5 x peak, absolute error at most 6e-8 x peak below). The map is rounded to
that precision when it is made, so an explanation scores exactly the same before and after a
round trip through a file. On disk the values are stored lead by lead, byte-shuffled,
zlib-compressed and base85-encoded inside the payload JSON: a 10 s, 12-lead, 500 Hz sample-level
map of a real ECG takes about 120-130 KB.
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from ecgxai.errors import ConfigurationError

Resolution = Literal["sample", "segment"]
CellAggregate = Literal["sum", "mean"]
RESOLUTIONS: tuple[str, ...] = ("sample", "segment")
#: How values are written inside payload JSON (see the module docstring).
ENCODING = "float16/peak, lead-major, byte-shuffled, zlib, base85"


def quantise(values: np.ndarray) -> tuple[np.ndarray, float]:
    """``values`` rounded to the storage precision (float16 multiples of the peak) and that peak."""
    values = np.asarray(values, dtype=np.float64)
    peak = float(np.abs(values).max(initial=0.0))
    if peak == 0.0:
        return np.zeros_like(values), 0.0
    return (values / peak).astype(np.float16).astype(np.float64) * peak, peak


def encode_values(values: np.ndarray) -> dict[str, Any]:
    """JSON-ready dict of a (rows, leads) value array at storage precision (see :data:`ENCODING`):
    each lead's values in time order (they vary smoothly), low and high bytes apart, compressed."""
    _, peak = quantise(values)
    scaled = np.zeros(values.shape, "<f2") if peak == 0 else (values / peak).astype("<f2")
    shuffled = np.ascontiguousarray(scaled.T).view(np.uint8).reshape(-1, 2).T.tobytes()
    return {"encoding": ENCODING, "shape": list(values.shape), "peak": peak,
            "data": base64.b85encode(zlib.compress(shuffled, 9)).decode("ascii")}


def decode_values(stored: Mapping[str, Any]) -> np.ndarray:
    """The value array of :func:`encode_values` output (float64)."""
    if stored.get("encoding") != ENCODING:
        raise ConfigurationError(f"attribution values in unknown encoding {stored.get('encoding')!r}")
    rows, leads = (int(n) for n in stored["shape"])
    raw = zlib.decompress(base64.b85decode(stored["data"]))
    if len(raw) != 2 * rows * leads:
        raise ConfigurationError(f"attribution values hold {len(raw)} bytes, shape ({rows}, {leads}) "
                                 f"needs {2 * rows * leads}")
    halves = np.frombuffer(raw, np.uint8).reshape(2, -1).T.copy()
    return halves.view("<f2").reshape(leads, rows).T.astype(np.float64) * float(stored["peak"])


@dataclass(eq=False)
class Attribution:
    """A signed relevance map of one record and class over leads x time (see the module docstring).

    ``values`` is (n_samples, L) when ``resolution == "sample"`` and (n_segments, L) when
    ``"segment"``. ``segments`` (n_segments, 2) are the explainer's events as ``[start, end)``
    model-input samples at ``model_fs`` (gaps between them, e.g. between beats, hold no value at
    segment resolution). ``n_samples`` is the model input's length. ``fs`` is the record's
    sampling rate; ``start_sec``/``end_sec`` the record seconds the input covers (``end_sec``
    stops where the real signal does, before any padding). ``scale`` says what the values
    measure (``"logit"``, ``"probability"``, ``"relative"``). ``segment_weights`` holds the
    method's own weight per segment where that is not the sum of the segment's values (the
    event level of a two-level perturbation game); ``meta`` short method diagnostics.
    """

    values: np.ndarray
    segments: np.ndarray
    lead_names: tuple[str, ...]
    resolution: Resolution
    n_samples: int
    fs: float
    model_fs: float
    scale: str
    method: str
    start_sec: float = 0.0
    end_sec: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    segment_weights: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lead_names = tuple(str(lead) for lead in self.lead_names)
        self.segments = np.asarray(self.segments, dtype=np.int64).reshape(-1, 2)
        self.n_samples = int(self.n_samples)
        self.fs, self.model_fs, self.start_sec = float(self.fs), float(self.model_fs), float(self.start_sec)
        if self.end_sec is None:
            self.end_sec = self.start_sec + self.n_samples / self.model_fs
        self.end_sec = float(self.end_sec)
        self._check()
        self.values, _ = quantise(self.values)
        if self.segment_weights is not None:  # few values: kept exactly (they rank the events)
            self.segment_weights = np.asarray(self.segment_weights, dtype=np.float64).ravel()

    def _check(self) -> None:
        """Refuse shapes, segments and values that cannot be a map of this input."""
        if self.resolution not in RESOLUTIONS:
            raise ConfigurationError(f"resolution must be one of {RESOLUTIONS}, got {self.resolution!r}")
        rows = self.n_samples if self.resolution == "sample" else len(self.segments)
        values = np.asarray(self.values)
        if values.shape != (rows, len(self.lead_names)):
            raise ConfigurationError(f"{self.method}: a {self.resolution}-level map of {rows} rows and "
                                     f"{self.n_leads} leads cannot hold values of shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ConfigurationError(f"{self.method}: attribution values hold NaN or infinite values")
        bounds = self.segments
        ordered = np.all(bounds[:, 1] > bounds[:, 0]) and np.all(bounds[1:, 0] >= bounds[:-1, 1])
        if len(bounds) and (bounds.min() < 0 or bounds.max() > self.n_samples or not ordered):
            raise ConfigurationError(f"{self.method}: segments must be sorted, non-empty, non-overlapping "
                                     f"sample ranges within [0, {self.n_samples}]")
        if self.model_fs <= 0 or self.fs <= 0:
            raise ConfigurationError(f"sampling rates must be positive, got fs={self.fs}, "
                                     f"model_fs={self.model_fs}")
        weights = self.segment_weights
        if weights is not None and np.asarray(weights).size != len(bounds):
            raise ConfigurationError(f"{self.method}: {np.asarray(weights).size} segment weights for "
                                     f"{len(bounds)} segments")

    def __eq__(self, other: object) -> bool:
        """Equal axes, provenance and values (arrays compared element by element)."""
        if not isinstance(other, Attribution):
            return NotImplemented
        arrays = ("values", "segments", "segment_weights")
        same_arrays = all(_same_array(getattr(self, name), getattr(other, name)) for name in arrays)
        rest = [name for name in self.__dataclass_fields__ if name not in arrays]
        return same_arrays and all(getattr(self, name) == getattr(other, name) for name in rest)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    # --- views ------------------------------------------------------------------------------

    @property
    def n_leads(self) -> int:
        """Number of leads."""
        return len(self.lead_names)

    @property
    def duration_sec(self) -> float:
        """Seconds of the model input the map spans (padding included)."""
        return self.n_samples / self.model_fs

    def segment_values(self) -> np.ndarray:
        """(n_segments, L): each segment's relevance per lead (sums over its samples at sample level)."""
        if self.resolution == "segment":
            return self.values.copy()
        return sum_per_segment(self.values, self.segments)

    def event_weights(self) -> np.ndarray:
        """(n_segments,): the method's weight per segment (``segment_weights``, else the row sums)."""
        if self.segment_weights is not None:
            return self.segment_weights.copy()
        return self.segment_values().sum(axis=1)

    def to_samples(self) -> np.ndarray:
        """(n_samples, L) per-sample relevance: sample values as they are, a segment's value spread
        evenly over its samples (0 outside every segment)."""
        if self.resolution == "sample":
            return self.values.copy()
        dense = np.zeros((self.n_samples, self.n_leads))
        for (start, end), row in zip(self.segments, self.values, strict=True):
            dense[start:end] = row / (end - start)
        return dense

    def to_cells(self, cell_sec: float, how: CellAggregate = "sum",
                 duration_sec: float | None = None) -> np.ndarray:
        """(L, n_cells) relevance per lead and ``cell_sec`` cell from the input's start: the sum
        (or mean) of :meth:`to_samples` over each cell's samples. Cells cover ``duration_sec``
        (default the whole input); the last one is cut short when it does not fit."""
        if how not in ("sum", "mean"):
            raise ConfigurationError(f"how must be 'sum' or 'mean', got {how!r}")
        duration = self.duration_sec if duration_sec is None else float(duration_sec)
        bounds = cell_bounds(duration, cell_sec, self.model_fs, self.n_samples)
        sums = sum_per_segment(self.to_samples(), bounds).T
        if how == "sum":
            return sums
        lengths = np.maximum(bounds[:, 1] - bounds[:, 0], 1)
        return sums / lengths[None, :]

    def with_values(self, values: np.ndarray, **changes: Any) -> Attribution:
        """A copy on the same axes with other values (e.g. a random map of the same resolution)."""
        return replace(self, values=np.asarray(values, dtype=np.float64), **changes)

    # --- JSON -------------------------------------------------------------------------------

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready dict (values encoded as :data:`ENCODING`); :meth:`from_json_dict` inverts it."""
        return {
            "method": self.method, "scale": self.scale, "resolution": self.resolution,
            "lead_names": list(self.lead_names), "n_samples": self.n_samples, "fs": self.fs,
            "model_fs": self.model_fs, "start_sec": self.start_sec, "end_sec": self.end_sec,
            "segments": self.segments.tolist(), "values": encode_values(self.values),
            "segment_weights": None if self.segment_weights is None else self.segment_weights.tolist(),
            "settings": dict(self.settings), "meta": dict(self.meta),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Attribution:
        """Rebuild an Attribution from :meth:`to_json_dict` output."""
        try:
            return cls(values=decode_values(data["values"]), segments=np.asarray(data["segments"]),
                       lead_names=tuple(data["lead_names"]), resolution=data["resolution"],
                       n_samples=data["n_samples"], fs=data["fs"], model_fs=data["model_fs"],
                       scale=data["scale"], method=data["method"], start_sec=data.get("start_sec", 0.0),
                       end_sec=data.get("end_sec"), settings=dict(data.get("settings") or {}),
                       segment_weights=data.get("segment_weights"), meta=dict(data.get("meta") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"not an attribution map: {exc}") from None


def sum_per_segment(values: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """(n_segments, L) sums of per-sample ``values`` (T, L) over ``[start, end)`` sample ranges."""
    cumulative = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    segments = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    return cumulative[segments[:, 1]] - cumulative[segments[:, 0]]


def cell_edges(duration_sec: float, cell_sec: float) -> np.ndarray:
    """(n, 2) start/end seconds of consecutive ``cell_sec`` cells over [0, duration_sec); the last
    cell is cut at ``duration_sec`` when the duration is not a whole number of cells."""
    if cell_sec <= 0 or duration_sec <= 0:
        raise ConfigurationError(f"cell_sec and duration_sec must be > 0, got {cell_sec}, {duration_sec}")
    n = max(1, math.ceil(duration_sec / cell_sec - 1e-9))
    starts = np.arange(n) * cell_sec
    return np.stack([starts, np.minimum(starts + cell_sec, duration_sec)], axis=1)


def cell_bounds(duration_sec: float, cell_sec: float, fs: float, n_samples: int) -> np.ndarray:
    """(n_cells, 2) sample ranges of :func:`cell_edges` (seconds rounded to samples, clipped to the input)."""
    return np.clip(np.round(cell_edges(duration_sec, cell_sec) * fs), 0, n_samples).astype(np.int64)


def sample_attribution(values: np.ndarray, segments: Sequence[tuple[int, int]], lead_names: Sequence[str],
                       fs: float, **fields: Any) -> Attribution:
    """A sample-level map of a (T, L) attribution at rate ``fs`` (record and model alike unless
    ``fields`` say otherwise)."""
    values = np.asarray(values, dtype=np.float64)
    fields.setdefault("model_fs", fs)
    return Attribution(values=values, segments=np.asarray(segments), lead_names=tuple(lead_names),
                       resolution="sample", n_samples=len(values), fs=fs, **fields)


def segment_attribution(values: np.ndarray, segments: Sequence[tuple[int, int]], lead_names: Sequence[str],
                        n_samples: int, fs: float, **fields: Any) -> Attribution:
    """A segment-level map of an (n_segments, L) grid at rate ``fs`` (see :func:`sample_attribution`)."""
    fields.setdefault("model_fs", fs)
    return Attribution(values=np.asarray(values, dtype=np.float64), segments=np.asarray(segments),
                       lead_names=tuple(lead_names), resolution="segment", n_samples=n_samples, fs=fs,
                       **fields)


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Both None, or equal in shape and every element."""
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))
