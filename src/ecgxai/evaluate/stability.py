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
  overlap: :mod:`ecgxai.evaluate.rankings`);
- :func:`run_extra_beat_stability_experiment` does all of it for one record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ecgxai import config
from ecgxai.errors import ConfigurationError, InvalidSignalError
from ecgxai.evaluate.rankings import jaccard_at_k, ranking, rbo, spearman
from ecgxai.explain.explainers import explain_record
from ecgxai.explain.payload import Explanation
from ecgxai.explain.relevance import relevance_of
from ecgxai.explain.settings import ExplainParams, derive_seed
from ecgxai.io.files import file_inside
from ecgxai.io.records import Record, read_record, record_base
from ecgxai.models.base import Classifier
from ecgxai.signal.peaks import detect_r_peaks
from ecgxai.synth.writer import check_record_name, write_challenge_record

#: A beat's region runs from this long before its R-peak ...
BEAT_BEFORE_SEC = 0.30
#: ... to this long after it (exclusive).
BEAT_AFTER_SEC = 0.40
#: Largest time difference (s) at which two R-peaks count as the same beat.
MATCH_TOL_SEC = 0.08
_EPS = 1e-9


# --- writing an augmented record -----------------------------------------------------------------


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


# --- comparing explanations ------------------------------------------------------------------------


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
        path = file_inside(out_root, f"{check_record_name(name)}.{target}.{method}.json")
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
