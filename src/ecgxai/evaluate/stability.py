"""Stability of explanations under an extra beat.

One non-edge beat of a record (``[r - 0.30 s, r + 0.40 s)`` around its R-peak, all leads)
is copied and inserted right after itself, so the record gets 0.70 s longer and holds
one more, identical beat. A stable explainer should attribute the same importance to
the same (lead, beat) regions of the beats both records share:

- :func:`insert_extra_beat` writes the augmented record as a valid Challenge record
  (MATLAB v4 ``.mat`` with int16 ``val`` + ``.hea``);
- :func:`match_beats` pairs the beats of the two records by R-peak time;
- :func:`region_scores` and :func:`compare_region_scores` turn two explanations (their maps, or
  their spans) into per-(lead, beat) scores and compare them (Spearman, Jaccard@K, rank-biased
  overlap);
- :func:`run_extra_beat_stability_experiment` does all of it for one record.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import scipy.stats

from ecgxai import config
from ecgxai.errors import ConfigurationError, InvalidSignalError
from ecgxai.explain.explainers import explain_record
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import relevance_of
from ecgxai.explain.settings import ExplainParams, derive_seed
from ecgxai.io.records import Record, read_header, read_record, record_base
from ecgxai.models.base import Classifier
from ecgxai.signal.peaks import detect_r_peaks

#: A beat's region runs from this long before its R-peak ...
BEAT_BEFORE_SEC = 0.30
#: ... to this long after it (exclusive).
BEAT_AFTER_SEC = 0.40
#: Largest time difference (s) at which two R-peaks count as the same beat.
MATCH_TOL_SEC = 0.08
#: Byte offset of the samples in a MATLAB v4 file holding one variable named ``val``
#: (20-byte header + ``val\0``); Challenge headers declare it as format ``16+24``.
MAT_V4_VAL_OFFSET = 24

# wfdb accepts record names of letters, digits, '_' and '-'; a leading letter or digit keeps
# them from looking like options. No '.', so no suffix games and no '..'.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_EPS = 1e-9


# --- writing an augmented record -----------------------------------------------------------------


def check_record_name(name: str) -> str:
    """Return ``name`` when it is a safe record name (letters, digits, ``_``, ``-``), else raise."""
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise ConfigurationError(
            f"unsafe record name {name!r}: use 1-100 letters, digits, '_' or '-' "
            "(no path separators, dots or '..')")
    return name


def _inside(out_dir: str | Path, filename: str) -> Path:
    """``out_dir/filename``, refusing any file name that would land outside ``out_dir``
    (separators, '..', or a symlink pointing elsewhere)."""
    root = Path(out_dir).resolve()
    if not filename or Path(filename).name != filename or filename in (".", ".."):
        raise ConfigurationError(f"unsafe file name {filename!r}")
    path = root / filename
    if path.resolve().parent != root:
        raise ConfigurationError(f"{filename!r} would be written outside {root}")
    return path


def _int16_digital(record: Record) -> np.ndarray:
    """The record's ADC values as (time, leads) int16, as a Challenge ``val`` stores them."""
    if record.digital is not None:
        digital = np.asarray(record.digital)
    else:
        digital = np.rint(record.signal.astype(np.float64) * record.gain + record.baseline)
    if digital.dtype.kind == "f" and not np.array_equal(digital, np.rint(digital)):
        raise InvalidSignalError(record.path, "digital samples are not integers; cannot store as int16")
    info = np.iinfo(np.int16)
    if digital.size and (digital.min() < info.min or digital.max() > info.max):
        raise InvalidSignalError(record.path, "digital samples exceed the int16 range of a Challenge .mat")
    return digital.astype(np.int16)


def _number(value: float) -> str:
    """A header number: ``500`` rather than ``500.0``; full precision otherwise."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _wfdb_checksum(samples: np.ndarray) -> int:
    """WFDB checksum of one lead: the 16-bit two's-complement sum of its samples."""
    total = int(np.asarray(samples, dtype=np.int64).sum())
    return (total + 32768) % 65536 - 32768


def _header_template(path: Path | None) -> tuple[list[str], dict[str, list[Any]]]:
    """Extra first-line fields (date, time) and per-lead units/resolution/zero of the source header."""
    if path is None:
        return [], {}
    header = record_base(path).with_suffix(".hea")
    if not header.is_file():
        return [], {}
    rec = read_header(header)
    first = next((line for line in header.read_text(errors="replace").splitlines()
                  if line.strip() and not line.lstrip().startswith("#")), "")
    fields = {"units": rec.units, "adc_res": rec.adc_res, "adc_zero": rec.adc_zero,
              "block_size": rec.block_size}
    return first.split()[4:], {k: list(v) for k, v in fields.items() if v is not None}


def write_challenge_record(
    out_dir: str | Path,
    name: str,
    digital: np.ndarray,
    *,
    fs: float,
    lead_names: Sequence[str],
    gain: Sequence[float] | np.ndarray,
    baseline: Sequence[int] | np.ndarray,
    comments: Sequence[str] = (),
    template: Path | None = None,
) -> Path:
    """Write ``out_dir/name.mat`` (MATLAB v4, int16 ``val`` (leads, samples)) and ``name.hea``.

    ``digital`` is (time, leads) int16. ``comments`` are header comment lines without
    the leading ``#`` (``Age: 81``, ``Dx: 164889003``, ...). ``template`` (a record path)
    lends its header's date/time fields, units, ADC resolution and zero. Returns the
    record's base path (``out_dir/name``), which :func:`ecgxai.read_record` reads.
    """
    check_record_name(name)
    digital = np.asarray(digital)
    if digital.dtype != np.int16 or digital.ndim != 2 or digital.shape[1] != len(lead_names):
        raise ConfigurationError(f"digital must be (time, {len(lead_names)}) int16, got "
                                 f"{digital.dtype} {digital.shape}")
    mat, hea = _inside(out_dir, f"{name}.mat"), _inside(out_dir, f"{name}.hea")
    extra, fields = _header_template(template)
    n_samples, n_leads = digital.shape
    lines = [" ".join([name, str(n_leads), _number(fs), str(n_samples), *extra])]
    for j, lead in enumerate(lead_names):
        units = fields.get("units", ["mV"] * n_leads)[j] or "mV"
        adc_res = fields.get("adc_res", [16] * n_leads)[j]
        adc_zero = int(fields.get("adc_zero", [0] * n_leads)[j] or 0)
        block = fields.get("block_size", [0] * n_leads)[j] or 0
        base = int(baseline[j])
        gain_text = _number(gain[j]) + (f"({base})" if base != adc_zero else "")
        init = int(digital[0, j]) if n_samples else 0
        lines.append(f"{name}.mat 16+{MAT_V4_VAL_OFFSET} {gain_text}/{units} {adc_res} {adc_zero} "
                     f"{init} {_wfdb_checksum(digital[:, j])} {block} {lead}")
    lines += [f"#{line}" for line in comments]
    scipy.io.savemat(str(mat), {"val": np.ascontiguousarray(digital.T)}, format="4")
    hea.write_text("\n".join(lines) + "\n")
    return mat.with_suffix("")


def _beat_samples(fs: float) -> tuple[int, int]:
    return round(BEAT_BEFORE_SEC * fs), round(BEAT_AFTER_SEC * fs)


def _choose_beat(rng_or_beat_index: Any, eligible: list[int], n_peaks: int, where: Path | None) -> int:
    if not eligible:
        raise InvalidSignalError(where, f"{n_peaks} R-peaks detected; need a beat that is neither the "
                                        "first nor the last and whose window lies inside the record")
    if isinstance(rng_or_beat_index, np.random.Generator):
        return eligible[int(rng_or_beat_index.integers(len(eligible)))]
    if isinstance(rng_or_beat_index, (int, np.integer)) and not isinstance(rng_or_beat_index, bool):
        beat = int(rng_or_beat_index)
        if beat not in eligible:
            raise ConfigurationError(f"beat {beat} cannot be copied: choose one of {eligible} "
                                     "(not the first or last beat, window inside the record)")
        return beat
    raise ConfigurationError("rng_or_beat_index must be a numpy Generator or a beat index, got "
                             f"{type(rng_or_beat_index).__name__}")


def insert_extra_beat(
    record: Record | str | Path,
    rng_or_beat_index: np.random.Generator | int,
    out_dir: str | Path,
    *,
    name: str | None = None,
) -> tuple[Record, dict[str, Any]]:
    """Copy one beat and insert the copy right after it; write and return the augmented record.

    R-peaks are detected on ``record.signal``; the beat is chosen among the beats that
    are neither the first nor the last detected one (and whose window lies inside the
    record), with the seeded generator, or given as an index into the detected R-peaks. The
    generator picks among beats whose window holds no other R-peak when there are any
    (``info["single_beat_window"]``); at fast rates the next R-peak can fall inside it.
    Samples ``[r - 0.30 s, r + 0.40 s)`` of all leads are inserted at ``r + 0.40 s``.

    The augmented record is written to ``out_dir/name.mat`` + ``.hea`` (default name
    ``<record>_xbeat<index>``; names are letters, digits, ``_`` and ``-`` only, so nothing
    lands outside ``out_dir``), keeping gains, baselines, lead names and header comments,
    and is returned as read back by :func:`ecgxai.read_record`. ``info`` holds the beat,
    the copied and inserted intervals in seconds, and the original R-peak times with
    their times in the augmented record.
    """
    rec = record if isinstance(record, Record) else read_record(record)
    if name is not None:
        check_record_name(name)
    peaks = detect_r_peaks(rec.signal, rec.fs, rec.lead_names)
    before, after = _beat_samples(rec.fs)
    eligible = [i for i in range(1, len(peaks) - 1)
                if peaks[i] - before >= 0 and peaks[i] + after <= rec.n_samples]
    # prefer beats whose window holds no other R-peak (at fast rates the next R can fall inside)
    clean = [i for i in eligible
             if peaks[i - 1] < peaks[i] - before and peaks[i + 1] >= peaks[i] + after]
    if isinstance(rng_or_beat_index, np.random.Generator) and clean:
        eligible = clean
    beat = _choose_beat(rng_or_beat_index, eligible, len(peaks), rec.path)
    out_name = check_record_name(name if name is not None else f"{rec.name}_xbeat{beat}")
    source = None if rec.path is None else record_base(rec.path).resolve()
    if source is not None and source == Path(out_dir).resolve() / out_name:
        raise ConfigurationError(f"{out_name!r} in {out_dir} would overwrite the source record")

    r = int(peaks[beat])
    start, stop = r - before, r + after
    length = stop - start
    digital = _int16_digital(rec)
    augmented = np.concatenate([digital[:stop], digital[start:stop], digital[stop:]])
    base = write_challenge_record(out_dir, out_name, augmented, fs=rec.fs, lead_names=rec.lead_names,
                                  gain=rec.gain, baseline=rec.baseline, comments=rec.comments,
                                  template=rec.path)
    new_record = read_record(base)
    mapped = np.where(peaks >= stop, peaks + length, peaks)
    fs = rec.fs
    info = {
        "record": rec.name,
        "augmented_record": out_name,
        "path": str(base),
        "beat_index": beat,
        "single_beat_window": beat in clean,
        "r_peak_sample": r,
        "r_peak_sec": r / fs,
        "copied_interval": (start / fs, stop / fs),
        "inserted_interval": (stop / fs, (stop + length) / fs),
        "inserted_samples": length,
        "inserted_r_peak_sec": (r + length) / fs,
        "r_peaks_original_sec": (peaks / fs).tolist(),
        "r_peaks_mapped_sec": (mapped / fs).tolist(),
        "r_peak_mapping": [(a / fs, b / fs) for a, b in zip(peaks.tolist(), mapped.tolist(), strict=True)],
    }
    return new_record, info


# --- matching beats and scoring regions -----------------------------------------------------------


def match_beats(
    r_times_a: Sequence[float] | np.ndarray,
    r_times_b: Sequence[float] | np.ndarray,
    inserted_interval: tuple[float, float],
    tol: float = MATCH_TOL_SEC,
) -> list[tuple[int, int]]:
    """Pair beats of record A (original) and record B (with an interval inserted) by R-peak time.

    Times of B at or after the end of ``inserted_interval`` are shifted back by its
    length; R-peaks of B inside the interval (the inserted beat) are ignored. Pairs are
    made one-to-one, closest first, within ``tol`` seconds. Returns ``(index_a, index_b)``
    pairs sorted by ``index_a``.
    """
    start, end = (float(t) for t in inserted_interval)
    if not end >= start:
        raise ConfigurationError(f"inserted_interval must be (start, end) with end >= start, "
                                 f"got {inserted_interval}")
    a = np.asarray(r_times_a, dtype=float).ravel()
    b = np.asarray(r_times_b, dtype=float).ravel()
    inside = (b >= start - _EPS) & (b < end - _EPS)
    shifted = np.where(b >= end - _EPS, b - (end - start), b)
    candidates = sorted(
        (abs(a[i] - shifted[j]), i, j)
        for i in range(len(a)) for j in np.flatnonzero(~inside).tolist()
        if abs(a[i] - shifted[j]) <= tol + _EPS
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def region_scores(
    explanation: Explanation | Mapping[str, Any],
    r_times: Sequence[float] | np.ndarray,
    lead_names: Sequence[str],
    before: float = BEAT_BEFORE_SEC,
    after: float = BEAT_AFTER_SEC,
) -> np.ndarray:
    """(leads, beats) scores: the explanation's |relevance| over ``[r - before, r + after)`` per lead
    (its map's, else its spans' overlap x |weight|).

    Times are in the explanation's own record; a lead without relevance scores 0.
    """
    relevance = relevance_of(Explanation.from_payload(explanation), lead_names)
    r = np.asarray(r_times, dtype=float).ravel()
    return np.stack([relevance.window_mass(lead, r - before, r + after) for lead in lead_names]) \
        if len(lead_names) else np.zeros((0, len(r)))


# --- comparing rankings ---------------------------------------------------------------------------


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation; NaN when either vector is constant or shorter than 2."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ConfigurationError(f"vectors differ in length: {a.size} and {b.size}")
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(scipy.stats.spearmanr(a, b).statistic)


def ranking(scores: Sequence[float] | np.ndarray) -> list[int]:
    """Indices of the positive scores, largest first; ties keep index order."""
    scores = np.asarray(scores, dtype=float).ravel()
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if scores[i] > 0]


def jaccard_at_k(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, k: int = 10) -> float:
    """|top-K(a) & top-K(b)| / |top-K(a) | top-K(b)| over positive scores; NaN when both are empty."""
    if k < 1:
        raise ConfigurationError(f"k must be >= 1, got {k}")
    top_a, top_b = set(ranking(a)[:k]), set(ranking(b)[:k])
    union = top_a | top_b
    return len(top_a & top_b) / len(union) if union else math.nan


def rbo(ranking_a: Sequence[Hashable], ranking_b: Sequence[Hashable], p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap RBO_ext (Webber, Moffat & Zobel 2010, eq. 32).

    For rankings S (length s) and L (length l >= s) with overlap X_d at depth d (for
    d > s, of all of S with the first d of L)::

        RBO_ext = (1-p)/p * (sum_{d=1..l} X_d/d p^d + sum_{d=s+1..l} X_s (d-s)/(s d) p^d)
                  + ((X_l - X_s)/l + X_s/s) p^l

    1 for identical rankings, 0 for disjoint ones, NaN when both are empty. Items
    must be unique within a ranking.
    """
    if not 0 < p < 1:
        raise ConfigurationError(f"p must lie in (0, 1), got {p}")
    a, b = list(ranking_a), list(ranking_b)
    if len(set(a)) != len(a) or len(set(b)) != len(b):
        raise ConfigurationError("rankings must not repeat an item")
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    s, n = len(short), len(long_)
    if n == 0:
        return math.nan
    if s == 0:
        return 0.0
    seen_short: set[Hashable] = set()
    seen_long: set[Hashable] = set()
    overlap = 0
    x = [0] * (n + 1)
    for d in range(1, n + 1):
        u = long_[d - 1]
        if d <= s:
            v = short[d - 1]
            overlap += 1 if u == v else int(u in seen_short) + int(v in seen_long)
            seen_short.add(v)
        else:
            overlap += int(u in seen_short)
        seen_long.add(u)
        x[d] = overlap
    total = sum(x[d] / d * p**d for d in range(1, n + 1))
    total += sum(x[s] * (d - s) / (s * d) * p**d for d in range(s + 1, n + 1))
    return (1 - p) / p * total + ((x[n] - x[s]) / n + x[s] / s) * p**n


def compare_region_scores(a: np.ndarray, b: np.ndarray, k: int = 10, p: float = 0.9) -> dict[str, float]:
    """Spearman, Jaccard@K and RBO_ext between two region-score arrays of the same shape.

    Regions are flattened in array order (lead-major for :func:`region_scores` output),
    which also breaks ties in the rankings.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ConfigurationError(f"region scores differ in shape: {a.shape} and {b.shape}")
    return {
        "spearman": spearman(a, b),
        "jaccard_at_k": jaccard_at_k(a, b, k),
        "rbo": rbo(ranking(a), ranking(b), p),
        "n_regions": int(a.size),
    }


def _lead_union(*explanations: Explanation, preferred: Sequence[str] | None = None) -> list[str]:
    leads = list(preferred or [])
    for explanation in explanations:
        named = explanation.attribution.lead_names if explanation.attribution else explanation.perlead_spans
        leads += [lead for lead in named if lead not in leads]
    return leads


def compare_explanations(
    explanation_a: Explanation | Mapping[str, Any],
    r_times_a: Sequence[float] | np.ndarray,
    explanation_b: Explanation | Mapping[str, Any],
    r_times_b: Sequence[float] | np.ndarray,
    pairs: Sequence[tuple[int, int]] | None = None,
    *,
    lead_names: Sequence[str] | None = None,
    k: int = 10,
    p: float = 0.9,
) -> dict[str, float]:
    """Compare two explanations over (lead, matched beat) regions.

    ``pairs`` (default: beat i with beat i) index ``r_times_a`` and ``r_times_b``; each
    explanation is scored at its own beat times. ``lead_names`` default to every lead
    either explanation has spans on.
    """
    exp_a, exp_b = Explanation.from_payload(explanation_a), Explanation.from_payload(explanation_b)
    if pairs is None:
        if len(r_times_a) != len(r_times_b):
            raise ConfigurationError("pairs are needed when the two records differ in beats")
        pairs = [(i, i) for i in range(len(r_times_a))]
    leads = list(lead_names) if lead_names is not None else _lead_union(exp_a, exp_b)
    times_a = [float(r_times_a[i]) for i, _ in pairs]
    times_b = [float(r_times_b[j]) for _, j in pairs]
    return compare_region_scores(region_scores(exp_a, times_a, leads),
                                 region_scores(exp_b, times_b, leads), k=k, p=p)


# --- the experiment -------------------------------------------------------------------------------


def run_extra_beat_stability_experiment(
    classifier: Classifier,
    record_path: str | Path,
    target: str,
    method: str = "lime",
    *,
    out_dir: str | Path,
    seed: int | None = None,
    params: ExplainParams | Mapping[str, Any] | None = None,
    k: int = 10,
    p: float = 0.9,
    tol: float = MATCH_TOL_SEC,
) -> dict[str, Any]:
    """Explain a record and its extra-beat copy for ``target`` and compare the explanations.

    The beat is chosen with a generator seeded by ``derive_seed(seed, record, "extra_beat")``.
    Both records are explained with ``method``, ``params`` and ``seed``; the augmented
    record is explained under the original record's name, so the explainer derives the
    same internal seed (the same LIME/TimeSHAP coalitions) for both. Beats are matched
    by R-peak time (:func:`match_beats`) and regions compared over the matched beats
    whose window ends inside what the model sees in both records (``n_compared_beats``;
    a 10 s record's last beats move past the model's 10 s input once 0.70 s is inserted).

    Writes the augmented record and both payloads (JSON) into ``out_dir`` and returns
    ``record``, ``target``, ``method``, ``seed``, ``inserted_beat`` (the info of
    :func:`insert_extra_beat`), ``n_matched_beats``, ``n_compared_beats``, ``n_regions``,
    ``matched_beats``, ``spearman``, ``jaccard_at_k``, ``rbo``, ``k``, ``p``, the
    explanations ``original`` and ``augmented`` and their ``*_payload_path``.
    """
    out_root = Path(out_dir)
    out_root.mkdir(parents=True, exist_ok=True)
    rec = read_record(record_path)
    run_seed = config.resolve_seed(seed)
    rng = np.random.default_rng(derive_seed(run_seed, rec.name, "extra_beat"))
    augmented, info = insert_extra_beat(rec, rng, out_root)

    original = explain_record(classifier, rec, str(target), method=method, params=params, seed=run_seed)
    extra = explain_record(classifier, replace(augmented, name=rec.name), str(target), method=method,
                           params=params, seed=run_seed)
    extra.record = augmented.name

    r_a = np.asarray(info["r_peaks_original_sec"])
    r_b = detect_r_peaks(augmented.signal, augmented.fs, augmented.lead_names) / augmented.fs
    pairs = match_beats(r_a, r_b, info["inserted_interval"], tol=tol)
    visible = [(i, j) for i, j in pairs
               if r_a[i] + BEAT_AFTER_SEC <= original.page_seconds + _EPS
               and r_b[j] + BEAT_AFTER_SEC <= extra.page_seconds + _EPS]
    leads = _lead_union(original, extra, preferred=classifier.lead_names)
    scores = compare_explanations(original, r_a, extra, r_b, visible, lead_names=leads, k=k, p=p)

    paths = {}
    for key, explanation, name in (("original", original, rec.name), ("augmented", extra, augmented.name)):
        path = _inside(out_root, f"{check_record_name(name)}.{target}.{method}.json")
        path.write_text(explanation.to_json())
        paths[key] = str(path)
    return {
        "record": rec.name,
        "target": str(target),
        "method": method,
        "seed": run_seed,
        "inserted_beat": info,
        "n_matched_beats": len(pairs),
        "n_compared_beats": len(visible),
        "n_regions": scores["n_regions"],
        "matched_beats": pairs,
        "spearman": scores["spearman"],
        "jaccard_at_k": scores["jaccard_at_k"],
        "rbo": scores["rbo"],
        "k": k,
        "p": p,
        "original": original,
        "augmented": extra,
        "original_payload_path": paths["original"],
        "augmented_payload_path": paths["augmented"],
        "augmented_record_path": info["path"],
    }
