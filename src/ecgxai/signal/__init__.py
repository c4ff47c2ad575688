"""Signal processing of 12-lead ECGs, one module per step as in neurokit2 (``ecg_clean``, ``ecg_peaks``, ...).

- :mod:`~ecgxai.signal.arrays`: the (time, leads) signal, its lead names and unpadded length;
- :mod:`~ecgxai.signal.clean`: neurokit2's cleaning of one lead;
- :mod:`~ecgxai.signal.peaks`: R-peaks by ecgxai's multi-lead detector (what explainers use);
- :mod:`~ecgxai.signal.peaks_original`: R-peaks by the original toolkit's detector (what the
  evaluation uses, for comparable numbers);
- :mod:`~ecgxai.signal.delineate`: P, QRS and T boundaries of each beat;
- :mod:`~ecgxai.signal.events`: the windows explainers perturb (uniform, beats, QRS, waves);
- :mod:`~ecgxai.signal.windows`: the evaluation's beat windows (fixed and delineated types).
"""

from ecgxai.signal.arrays import signal_length
from ecgxai.signal.delineate import DELINEATION_COLUMNS, delineate_beats
from ecgxai.signal.events import EVENT_KINDS, WAVE_KINDS, Event, make_event_segments, segment_events
from ecgxai.signal.peaks import detect_r_peaks
from ecgxai.signal.peaks_original import detect_r_peaks_original
from ecgxai.signal.windows import (
    DELINEATED_WINDOW_TYPES,
    WINDOW_TYPES,
    BeatContext,
    beat_context,
    beat_windows,
    delineated_window_sets,
    delineated_windows,
    median_heart_rate,
    record_beat_context,
    window_offsets,
)

__all__ = [
    "DELINEATED_WINDOW_TYPES",
    "DELINEATION_COLUMNS",
    "EVENT_KINDS",
    "WAVE_KINDS",
    "WINDOW_TYPES",
    "BeatContext",
    "Event",
    "beat_context",
    "beat_windows",
    "delineate_beats",
    "delineated_window_sets",
    "delineated_windows",
    "detect_r_peaks",
    "detect_r_peaks_original",
    "make_event_segments",
    "median_heart_rate",
    "record_beat_context",
    "segment_events",
    "signal_length",
    "window_offsets",
]
