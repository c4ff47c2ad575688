"""Does a model use the benchmark masks? Hybrids of a benchmark record and a neutral record.

For a benchmark record with its exact mask and a neutral record of another person (never its
own twin), the model is asked for the record's class on four inputs: the record, the neutral
record, the neutral record with the record's masked region pasted in, and the record with its
masked region replaced by the neutral record's. A model that reads the evidence where the mask
says gives the first and third high and the second and fourth low.

Two choices of neutral record (:data:`NEUTRALS`): ``sibling``, another person whose beats fall at
the record's beat times (another heart, axis, noise and wander; evidence tied to the beat, such as
a long PR or a Q wave, then lands where it belongs), and ``other``, the twin of the next record
(beats at unrelated times).

:func:`reference_auroc` separates the benchmark from the methods: it scores Integrated Gradients
from the all-zero input (the method's default) and from the record's own twin, an oracle reference
no explainer is given. When the twin-referenced map finds the mask and the zero-referenced one does
not, the masks are true for the model and the shortfall lies in the reference the method compares with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ecgxai.errors import ConfigurationError
from ecgxai.evaluate.plausibility import att_auc
from ecgxai.explain.methods.integrated_gradients import integrated_gradients
from ecgxai.models.base import Classifier
from ecgxai.synth.benchmark import BenchmarkPair, generate_pair

HYBRIDS = ("p_record", "p_neutral", "p_neutral_with_mask", "p_record_without_mask")
NEUTRALS = ("sibling", "other")
#: Integrated Gradients references of :func:`reference_auroc`: the method's default and the oracle.
REFERENCES = ("ig_from_zero", "ig_from_twin")
#: Added to a record's seed to draw its sibling (another person on the same beat times).
SIBLING_OFFSET = 7919


def hybrids(record: np.ndarray, neutral: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(4, T, L) inputs of :data:`HYBRIDS` from a (T, L) record, a (T, L) neutral record and the
    record's (L, T) mask."""
    inside = np.asarray(mask, dtype=bool).T
    return np.stack([record, neutral, np.where(inside, record, neutral),
                     np.where(inside, neutral, record)]).astype(np.float32)


def neutral_record(pairs: Sequence[BenchmarkPair], i: int, kind: str) -> np.ndarray:
    """(T, L) neutral record for pair i: its ``sibling`` or the twin of pair i + 1 (``other``)."""
    if kind not in NEUTRALS:
        raise ConfigurationError(f"neutral must be one of {list(NEUTRALS)}, got {kind!r}")
    pair = pairs[i]
    if kind == "other":
        return pairs[(i + 1) % len(pairs)].twin.to_record().signal
    levels = {key: pair.record.info[key] for key in ("noise_mv", "wander_mv", "hrv")}
    sibling = generate_pair((), pair.record.seed + SIBLING_OFFSET, rhythm_seed=pair.record.seed, **levels)
    return sibling.record.to_record().signal


def mask_use(classifier: Classifier, pairs: Sequence[BenchmarkPair],
             neutral: str = "sibling") -> pd.DataFrame:
    """One row per single-diagnosis pair: its code and the model's probability of that code on each of
    :data:`HYBRIDS`, with the ``neutral`` record of :func:`neutral_record`."""
    rows = []
    for i, pair in enumerate(pairs):
        code = pair.record.codes[0]
        neutral_signal = neutral_record(pairs, i, neutral)
        inputs = hybrids(pair.record.to_record().signal, neutral_signal, pair.record.mask(code))
        probs = classifier.predict(inputs)[:, classifier.class_index(code)]
        found = dict(zip(HYBRIDS, probs.tolist(), strict=True))
        rows.append({"record": pair.record.name, "code": code, "neutral": neutral, **found})
    return pd.DataFrame(rows, columns=["record", "code", "neutral", *HYBRIDS])


def mask_use_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per code: records and the median of each of :data:`HYBRIDS`."""
    return table.groupby("code", sort=False).agg(
        n=("record", "count"), **{name: (name, "median") for name in HYBRIDS}).reset_index()


def reference_auroc(classifier: Classifier, pairs: Sequence[BenchmarkPair], steps: int = 16) -> pd.DataFrame:
    """One row per single-diagnosis pair: gt_auroc of |Integrated Gradients| (``steps``, class logit)
    against the record's mask, from the all-zero input and from the record's twin (:data:`REFERENCES`)."""
    rows = []
    for pair in pairs:
        code = pair.record.codes[0]
        index = classifier.class_index(code)
        record = pair.record.to_record().signal.astype(np.float32)
        inside = pair.record.mask(code).T.ravel()
        maps = (integrated_gradients(classifier, record, index, steps, baseline)[0]
                for baseline in (None, pair.twin.to_record().signal))
        found = {name: att_auc(np.abs(found_map).ravel(), inside)
                 for name, found_map in zip(REFERENCES, maps, strict=True)}
        rows.append({"record": pair.record.name, "code": code, **found})
    return pd.DataFrame(rows, columns=["record", "code", *REFERENCES])
