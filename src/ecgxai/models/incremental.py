"""Incremental inference for inputs that differ from one base input only inside a time window (issue 17).

Perturbation explainers (occlusion, LIME, TimeSHAP) evaluate many inputs that each differ from one
base input (T, L) only inside a known window [a, b). For a model made of a time-local trunk
(convolutions, batch normalisation, elementwise activations, residual adds, channel concatenation),
global average and/or max pooling over time and a head, the trunk feature at time step j depends
only on input samples [j*S - left, j*S + right] (S the trunk's total stride, R = max(left, right)
its receptive field either side), so a perturbation changes only the features whose reach meets
[a, b). After Krypton (Nakandala et al., SIGMOD 2019) the engine

1. runs the trunk once per base input and keeps its feature map (cached per base) as prefix sums
   and prefix/suffix maxima over time;
2. runs the trunk on a crop of each perturbed input: the window plus left + right samples either
   side (enough context to compute every changed feature exactly), starting at a multiple of S,
   with a length congruent to T modulo S (so strided 'same' convolutions pad a crop as they pad the
   whole input) rounded up to one of a few lengths so crops batch together;
3. splices the exactly computed features of each crop into the base's feature map and pools over
   the whole spliced map -- computed as base sum - base slice + crop slice (in float64) and as the
   maximum of the base's prefix/suffix maxima around the slice and the crop slice, which is the
   pooling of the spliced map -- then applies the head.

Backends (:mod:`~ecgxai.models.incremental_keras`, :mod:`~ecgxai.models.incremental_torch`) find the
split and the reach in the model graph; :func:`build_engine` confirms both by measurement before
the engine is used. The base cache assumes the model's weights do not change between calls
(:meth:`IncrementalForward.clear_cache` forgets it).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ecgxai.errors import ConfigurationError, InputShapeError, NotIncrementalError
from ecgxai.models.batching import even_batches

if TYPE_CHECKING:
    from ecgxai.models.base import Classifier

log = logging.getLogger(__name__)

Pool = Literal["avg", "max"]
#: Agreement with the full forward pass the engine promises, in probability.
PROBABILITY_TOLERANCE = 1e-5
#: Largest self-check difference of spliced and full feature maps, relative to the map's largest
#: value (float32 round-off of a different summation order is about 1e-6).
FEATURE_TOLERANCE = 1e-4
#: Base inputs whose feature maps are kept (explainers work on one base at a time).
BASE_CACHE_SIZE = 4


@dataclass(frozen=True)
class Reach:
    """Input samples a trunk feature at time step j depends on: [j*stride - left, j*stride + right]."""

    stride: int = 1
    left: int = 0
    right: int = 0

    def then(self, kernel: int, stride: int, dilation: int, pad_left: int) -> Reach:
        """The reach after a sliding window (convolution or pooling) over features of this reach."""
        span = dilation * (kernel - 1)
        return Reach(self.stride * stride, self.left + pad_left * self.stride,
                     self.right + (span - pad_left) * self.stride)

    @staticmethod
    def merge(reaches: Sequence[Reach], name: str) -> Reach:
        """The reach of an elementwise combination (add, concatenation) of feature maps."""
        strides = sorted({r.stride for r in reaches})
        if len(strides) > 1:
            raise NotIncrementalError(f"{name} combines feature maps of strides {strides}")
        return Reach(strides[0], max(r.left for r in reaches), max(r.right for r in reaches))


@dataclass(frozen=True)
class SplitModel:
    """A model cut after its trunk, as a backend hands it to the engine."""

    trunk: Callable[[np.ndarray], np.ndarray]       # (n, t, L) float32 -> (n, t', C), channels last
    head: Callable[[list[np.ndarray]], np.ndarray]  # one (n, C) float32 per entry of pools -> raw output
    pools: tuple[Pool, ...]
    reach: Reach
    split: str


@dataclass(frozen=True)
class _BaseMaps:
    """A base input's trunk feature map (T', C) and what pooling a spliced copy of it needs."""

    features: np.ndarray
    prefix_sum: np.ndarray  # (T' + 1, C) float64: sum of features[:k]
    prefix_max: np.ndarray  # (T' + 1, C): max of features[:k], -inf for k = 0
    suffix_max: np.ndarray  # (T' + 1, C): max of features[k:], -inf for k = T'

    @classmethod
    def of(cls, features: np.ndarray) -> _BaseMaps:
        """Prefix sums and prefix/suffix maxima of a feature map."""
        floor = np.full((1, features.shape[1]), -np.inf, dtype=features.dtype)
        return cls(features,
                   np.concatenate([np.zeros_like(floor, dtype=np.float64),
                                   np.cumsum(features, axis=0, dtype=np.float64)]),
                   np.concatenate([floor, np.maximum.accumulate(features, axis=0)]),
                   np.concatenate([np.maximum.accumulate(features[::-1], axis=0)[::-1], floor]))


class IncrementalForward:
    """Probabilities of inputs that differ from one base input inside known windows, computed by
    running the model's trunk on crops around the windows only (see the module docstring)."""

    def __init__(self, classifier: Classifier, split: SplitModel) -> None:
        self.classifier = classifier
        self.parts = split
        self.receptive_field = max(split.reach.left, split.reach.right, 0)
        self.stride = split.reach.stride
        self.split = split.split
        self._bases: OrderedDict[bytes, _BaseMaps] = OrderedDict()
        self._window_costs: dict[int, float] = {}

    def __repr__(self) -> str:
        return (f"IncrementalForward(split={self.split!r}, receptive_field={self.receptive_field}, "
                f"stride={self.stride}, pools={self.parts.pools})")

    def predict(self, base: np.ndarray, batch: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """Probabilities (M, C) float32 of batch (M, T, L), where batch[m] equals base (T, L) outside
        windows[m] = (start, end) samples; agrees with the full forward pass within 1e-5."""
        started = time.perf_counter()
        base, batch, windows = check_local(self.classifier, base, batch, windows)
        raw, fraction, batches = self._raw(base, batch, windows)
        out = self.classifier._probabilities(raw, len(batch))
        counter = self.classifier.counter
        counter.forward_samples += len(batch)
        counter.forward_fraction += fraction
        counter.forward_batches += batches
        counter.model_seconds += time.perf_counter() - started
        return out

    def window_cost(self, width: int, n: int = 16) -> float:
        """Measured time of one input that differs from its base in a ``width``-sample window, through
        this engine, in full forward passes (best of two runs after a warm-up; cached per width).

        Small networks pay per call more than per sample, so the saving the crops promise on paper
        may not arrive; callers weigh a method's real cost with this."""
        if width not in self._window_costs:
            self._window_costs[width] = self._measured_cost(int(width), int(n))
        return self._window_costs[width]

    def _measured_cost(self, width: int, n: int) -> float:
        total, n_leads = self.classifier.input_shape
        width = min(max(width, 1), total)
        base = np.random.default_rng(0).normal(0, self._probe_scale(), (total, n_leads)).astype(np.float32)
        starts = np.linspace(0, total - width, n).astype(np.int64)
        windows = np.stack([starts, starts + width], axis=1)
        batch = np.repeat(base[None], n, axis=0)
        for m, (a, b) in enumerate(windows.tolist()):
            batch[m, a:b] = 0.0
        local = _best_seconds(lambda: self._raw(base, batch, windows), repeats=3)
        full = _best_seconds(lambda: self.classifier._forward(batch), repeats=3)
        self._bases.clear()
        return local / full

    def clear_cache(self) -> None:
        """Forget the cached base feature maps (needed after changing the model's weights)."""
        self._bases.clear()

    # --- the computation --------------------------------------------------------------------------

    def _raw(self, base: np.ndarray, batch: np.ndarray, windows: np.ndarray) -> tuple[np.ndarray, float, int]:
        """Raw model outputs (M, C), the forward-pass share computed and the model calls made."""
        total = self.classifier.input_length
        maps, fresh = self._base_maps(base)
        starts, lengths = self._plan(windows)
        raw = np.empty((len(batch), self.classifier.n_classes), dtype=np.float32)
        fraction, batches = float(fresh), int(fresh)
        for length in np.unique(lengths).tolist():
            rows = np.flatnonzero(lengths == length)
            if length == total:  # the window is too wide for a crop to save anything
                for lo, hi in even_batches(len(rows), self.classifier.batch_size):
                    inputs = self.classifier.check_input(batch[rows[lo:hi]])
                    raw[rows[lo:hi]] = self.classifier._forward(inputs)
                    batches += 1
            else:
                per_call = max(self.classifier.batch_size, self.classifier.batch_size * total // length)
                for lo, hi in even_batches(len(rows), per_call):
                    chunk = rows[lo:hi]
                    features = self._crop_features(base, batch, windows, chunk, starts[chunk], length)
                    raw[chunk] = self.parts.head(self._pooled(maps, features, starts[chunk], length))
                    batches += 1
            fraction += len(rows) * length / total
        return raw, fraction, batches

    def _base_maps(self, base: np.ndarray) -> tuple[_BaseMaps, bool]:
        """The base's feature maps from the cache or the trunk, and whether the trunk ran."""
        key = hashlib.blake2b(base.tobytes(), digest_size=16).digest()
        if key in self._bases:
            self._bases.move_to_end(key)
            return self._bases[key], False
        maps = _BaseMaps.of(self.parts.trunk(base[None])[0])
        self._bases[key] = maps
        if len(self._bases) > BASE_CACHE_SIZE:
            self._bases.popitem(last=False)
        return maps, True

    def _plan(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Crop start and length per window (length T: run the whole input)."""
        total, reach = self.classifier.input_length, self.parts.reach
        context = max(reach.left, 0) + max(reach.right, 0)
        first = np.maximum(windows[:, 0] - context, 0) // self.stride * self.stride
        last = np.minimum(windows[:, 1] + context, total)
        lengths = np.minimum(crop_lengths(last - first, self.stride, total), total)
        return np.where(lengths == total, 0, np.minimum(first, total - lengths)), lengths

    def _crop_features(self, base: np.ndarray, batch: np.ndarray, windows: np.ndarray, rows: np.ndarray,
                       starts: np.ndarray, length: int) -> np.ndarray:
        """Trunk feature maps of the crops [start, start + length) of batch[rows], checked to be finite
        and to equal the base outside their windows."""
        steps = starts[:, None] + np.arange(length)
        crops = np.asarray(batch[rows[:, None], steps], dtype=np.float32)
        outside = (steps < windows[rows, :1]) | (steps >= windows[rows, 1:])
        changed = np.any(crops != base[steps], axis=2) & outside
        if changed.any():
            m = int(np.flatnonzero(changed.any(axis=1))[0])
            raise ConfigurationError(f"{self.classifier.source}: input {rows[m]} differs from the base "
                                     f"outside its window {tuple(windows[rows[m]].tolist())}")
        if not np.all(np.isfinite(crops)):
            raise InputShapeError(f"{self.classifier.source}: input holds NaN or infinite values")
        return self.parts.trunk(crops)

    def _valid(self, starts: np.ndarray, length: int, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Per crop, the time steps [lo, hi) of its feature map that equal the full input's: those
        whose reach lies inside the crop, or crosses an end the crop shares with the input."""
        left, right = max(self.parts.reach.left, 0), max(self.parts.reach.right, 0)
        lo = np.where(starts == 0, 0, -(-left // self.stride))
        ends = starts + length == self.classifier.input_length
        hi = np.where(ends, n_steps, (length - 1 - right) // self.stride + 1)
        return lo, hi

    def _pooled(self, maps: _BaseMaps, features: np.ndarray, starts: np.ndarray, length: int
                ) -> list[np.ndarray]:
        """Each pool over the base's feature map with the crops' valid steps spliced in, (n, C) float32."""
        lo, hi = self._valid(starts, length, features.shape[1])
        first, stop = starts // self.stride + lo, starts // self.stride + hi
        steps = np.arange(features.shape[1])
        inside = ((steps >= lo[:, None]) & (steps < hi[:, None]))[:, :, None]
        out = []
        for pool in self.parts.pools:
            if pool == "avg":
                kept = maps.prefix_sum[-1] - maps.prefix_sum[stop] + maps.prefix_sum[first]
                total = kept + np.where(inside, features, 0).sum(axis=1, dtype=np.float64)
                out.append((total / len(maps.features)).astype(np.float32))
            else:
                kept = np.maximum(maps.prefix_max[first], maps.suffix_max[stop])
                out.append(np.maximum(kept, np.where(inside, features, -np.inf).max(axis=1)))
        return out

    # --- the self-check -----------------------------------------------------------------------------

    def _probe_scale(self) -> float:
        """Spread of the random inputs the engine is probed with, in the model's units (ADC counts or mV)."""
        return 500.0 if self.classifier.units == "adc" else 1.0

    def self_check(self, seed: int = 17) -> None:
        """Compare spliced with full feature maps and engine with full-pass probabilities on random
        local perturbations of a random base; raise NotIncrementalError when they differ."""
        total, n_leads = self.classifier.input_shape
        rng = np.random.default_rng(seed)
        scale = self._probe_scale()
        base = rng.normal(0, scale, (total, n_leads)).astype(np.float32)
        windows = probe_windows(total, rng)
        batch = np.repeat(base[None], len(windows), axis=0)
        for m, (a, b) in enumerate(windows.tolist()):
            batch[m, a:b] = rng.normal(0, 2 * scale, (b - a, n_leads))
        try:
            self._check_features(base, batch, windows)
            raw, _, _ = self._raw(base, batch, windows)
        except NotIncrementalError:
            raise
        except Exception as exc:  # misaligned crops (slices of the wrong length), a crop the model refuses
            raise NotIncrementalError(f"self-check failed: {type(exc).__name__}: {exc}") from None
        finally:
            self.clear_cache()
        full = self.classifier._probabilities(self.classifier._forward(batch), len(batch))
        error = float(np.abs(self.classifier._probabilities(raw, len(batch)) - full).max())
        if error > PROBABILITY_TOLERANCE:
            raise NotIncrementalError(f"self-check failed: probabilities differ from the full pass by "
                                      f"{error:.3g}")

    def _check_features(self, base: np.ndarray, batch: np.ndarray, windows: np.ndarray) -> None:
        """Raise NotIncrementalError when a spliced feature map differs from the full input's."""
        base_features = self.parts.trunk(base[None])[0]
        full = self.parts.trunk(batch)
        starts, lengths = self._plan(windows)
        for length in np.unique(lengths[lengths < self.classifier.input_length]).tolist():
            rows = np.flatnonzero(lengths == length)
            features = self._crop_features(base, batch, windows, rows, starts[rows], length)
            lo, hi = self._valid(starts[rows], length, features.shape[1])
            for m, row in enumerate(rows.tolist()):
                spliced = base_features.copy()
                first = starts[row] // self.stride + lo[m]
                spliced[first:first + hi[m] - lo[m]] = features[m, lo[m]:hi[m]]
                error = float(np.abs(spliced - full[row]).max())
                if error > FEATURE_TOLERANCE * max(float(np.abs(full[row]).max()), 1e-30):
                    raise NotIncrementalError(f"self-check failed: window {tuple(windows[row].tolist())} "
                                              f"changes the feature map beyond the reach {self.parts.reach}")


def _best_seconds(run: Callable[[], object], repeats: int) -> float:
    """Shortest of ``repeats`` timings of ``run`` (the first also warms caches and traces)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times[1:] or times)


def crop_lengths(needed: np.ndarray, stride: int, total: int) -> np.ndarray:
    """Crop lengths of at least ``needed`` samples, congruent to ``total`` modulo ``stride`` and rounded
    up to 4 significant bits of stride steps (at most 1/16 longer), so similar windows share a length."""
    rest = total % stride
    steps = np.maximum(-(-(needed - rest) // stride), 1)
    grain = 2 ** np.maximum(np.floor(np.log2(steps)).astype(np.int64) - 4, 0)
    return rest + stride * (-(-steps // grain) * grain)


def probe_windows(total: int, rng: np.random.Generator) -> np.ndarray:
    """Windows the self-check perturbs: single samples and short windows at both ends and inside,
    random ones, and the whole input."""
    short = max(total // 100, 1)
    fixed = [(0, 1), (0, short), (total - short, total), (total - 1, total), (total // 3, total // 3 + 1),
             (total // 2 - short // 2, total // 2 + 5 * short), (0, total)]
    starts = rng.integers(0, total - 1, 4)
    widths = rng.integers(1, max(total // 10, 2), 4)
    random = np.stack([starts, np.minimum(starts + widths, total)], axis=1)
    return np.concatenate([np.array(fixed), random]).clip(0, total).astype(np.int64)


def check_local(classifier: Classifier, base: np.ndarray, batch: np.ndarray, windows: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base as a checked (T, L) float32 array, batch as an (M, T, L) array (its values are checked
    where they are read) and windows as (M, 2) int64 (start, end) with 0 <= start <= end <= T."""
    checked = classifier.check_input(base)
    if len(checked) != 1:
        raise InputShapeError(f"{classifier.source}: base has shape {np.shape(base)}, expected one input "
                              f"{classifier.input_shape}")
    batch = np.asarray(batch)
    batch = batch[None] if batch.ndim == 2 else batch
    if batch.ndim != 3 or batch.shape[1:] != classifier.input_shape or not len(batch):
        raise InputShapeError(f"{classifier.source}: batch has shape {batch.shape}, model expects "
                              f"(M, {classifier.input_length}, {classifier.n_leads}) with M >= 1")
    spans = np.asarray(windows)
    if spans.shape != (len(batch), 2) or not np.issubdtype(spans.dtype, np.integer):
        raise ConfigurationError(f"windows must be {len(batch)} integer (start, end) pairs, one per input; "
                                 f"got an array of shape {spans.shape} and type {spans.dtype}")
    spans = spans.astype(np.int64)
    if np.any(spans[:, 0] < 0) or np.any(spans[:, 0] > spans[:, 1]) or np.any(spans[:, 1] > batch.shape[1]):
        raise ConfigurationError(f"windows must satisfy 0 <= start <= end <= {classifier.input_length}")
    return checked[0], batch, spans


def build_engine(classifier: Classifier) -> IncrementalForward | None:
    """The classifier's engine, self-checked; None (the reason logged) when the model does not fit."""
    try:
        engine = IncrementalForward(classifier, classifier._split_model())
    except NotIncrementalError as exc:
        log.info("%s: no incremental engine, local perturbations run the full model (%s)",
                 classifier.source, exc)
        return None
    except Exception as exc:  # the graph walk relies on framework internals that may change
        log.warning("%s: no incremental engine, local perturbations run the full model (analysing the "
                    "model failed: %s: %s)", classifier.source, type(exc).__name__, exc)
        return None
    try:
        engine.self_check()
    except NotIncrementalError as exc:
        log.warning("%s: the incremental engine (split after %r, receptive field %d, stride %d) is not used, "
                    "local perturbations run the full model: %s", classifier.source, engine.split,
                    engine.receptive_field, engine.stride, exc)
        return None
    log.info("%s: %r", classifier.source, engine)
    return engine
