"""Tokens: every lead x every window of the class's window types over all beats.

As in the original toolkit, beats come from the whole recording and every beat gives
one token per lead and window type, even when clipping at the record's start leaves
its window empty (score 0).

A token's score is the explanation's |relevance| inside the token's window on its lead
(:meth:`~ecgxai.explain.relevance.SpanRelevance.window_mass`): for spans, as in the original, the
sum over the lead's spans of overlap duration x |weight|; for a whole attribution map, the sum of
|value| over the window's samples. Labels say whether the token's lead is in the class's strict
or lenient lead set (its evaluation region, :mod:`ecgxai.classes.regions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ecgxai.classes import EvaluationRegion
from ecgxai.explain.relevance import Relevance, SpanRelevance
from ecgxai.signal.windows import BeatContext, window_offsets

TOKEN_COLUMNS = ["lead", "window", "beat", "start_sec", "end_sec", "score", "strict", "lenient"]
#: Leads per token row in the original's token count.
N_LEADS = 12


#: Which delineated windows stand for each fixed window type in the delineation-based ground truth.
DELINEATED_FOR: dict[str, tuple[str, ...]] = {
    "pre": ("d_p", "d_pr"), "qrs_on": ("d_qrs",), "qrs": ("d_qrs",), "qrs_term": ("d_qrs",),
    "stt": ("d_st",), "tlate": ("d_t",), "pace": ("d_qrs",), "beat": ("d_p", "d_pr", "d_qrs", "d_st", "d_t"),
}


def delineated_types(window_types: Sequence[str]) -> list[str]:
    """The delineated window types that stand for a class's fixed window types, without repeats."""
    return list(dict.fromkeys(t for kind in window_types for t in DELINEATED_FOR[kind]))


def token_count(context: BeatContext, window_types: Sequence[str], n_leads: int = N_LEADS) -> int:
    """Tokens the original toolkit scores: leads x window types x beats (clipped-away windows included)."""
    for kind in window_types:
        window_offsets(kind)  # raises ConfigurationError for an unknown type
    return int(n_leads) * len(window_types) * context.n_beats


def token_windows(context: BeatContext, window_types: Sequence[str], class_code: str | None,
                  given: Mapping[str, Sequence[tuple[float, float]]] | None = None
                  ) -> list[tuple[str, int, float, float]]:
    """(window type, beat number, start, end) for every window of every type, in beat order.

    Windows come from the beat context (one per beat, empty when clipped away) unless ``given``
    holds them for a type (e.g. delineated windows).
    """
    out = []
    for kind in window_types:
        windows = given[kind] if given and kind in given else context.windows(kind, class_code)
        out.extend((kind, beat, start, end) for beat, (start, end) in enumerate(windows))
    return out


def make_tokens(
    relevance: Relevance | Mapping[str, Sequence[Sequence[float]]],
    context: BeatContext,
    region: EvaluationRegion,
    lead_names: Sequence[str],
    class_code: str | None = None,
    window_types: Sequence[str] | None = None,
    given_windows: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> pd.DataFrame:
    """The token table (TOKEN_COLUMNS) of one explanation (its relevance, or plain per-lead spans):
    lead-major, then window type, then beat."""
    if isinstance(relevance, Mapping):
        relevance = SpanRelevance(relevance, tuple(lead_names), 0, 1.0)
    windows = token_windows(context, window_types or region.windows, class_code, given_windows)
    bounds = np.array([(start, end) for _, _, start, end in windows], dtype=float).reshape(-1, 2)
    frames = []
    for lead in lead_names:
        frames.append(pd.DataFrame({
            "lead": lead,
            "window": [kind for kind, _, _, _ in windows],
            "beat": [beat for _, beat, _, _ in windows],
            "start_sec": bounds[:, 0],
            "end_sec": bounds[:, 1],
            "score": relevance.window_mass(lead, bounds[:, 0], bounds[:, 1]),
            "strict": lead in region.strict_leads,
            "lenient": lead in region.lenient_leads,
        }, columns=TOKEN_COLUMNS))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TOKEN_COLUMNS)
