"""The localisation benchmark's twins, measured on the written signals: outside each mask the record
and its twin differ by less than the mask's threshold, inside it by more on every masked lead, the
difference lies where the diagnosis's evidence is, and a mask follows the evidence it was built from."""

from __future__ import annotations

import numpy as np
import pytest

from ecgxai.classes import AFIB, IAVB, LBBB, RBBB
from ecgxai.errors import ConfigurationError
from ecgxai.io import read_record
from ecgxai.synth import (
    BENCHMARK_CODES,
    benchmark_batch,
    generate_localisation_benchmark,
    generate_pair,
    load_mask,
)
from ecgxai.synth.benchmark import (
    LEAD_FLOOR_MV,
    MASK_FRACTION,
    Q_WAVE,
    ST_ELEVATION,
    T_INVERSION,
    TERRITORIES,
)
from ecgxai.synth.geometry import LEAD_NAMES

FS = 500


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    """Two written records (and twins) per benchmark diagnosis."""
    return generate_localisation_benchmark(tmp_path_factory.mktemp("bench"), 2, seed=(16, 1))


def _difference(row) -> np.ndarray:
    """(leads, samples) record minus twin in mV, read back from the files."""
    record, twin = read_record(f"{row.path}.mat"), read_record(f"{row.twin_path}.mat")
    assert record.lead_names == twin.lead_names == LEAD_NAMES
    return (record.digital - twin.digital).T / 1000.0


def test_twin_differs_by_less_than_the_threshold_outside_the_mask_and_more_inside(written):
    assert sorted(set(written.code)) == sorted(BENCHMARK_CODES)
    for row in written.itertuples():
        diff, mask = np.abs(_difference(row)), load_mask(row.path, row.code)
        peak = diff.max(axis=1)
        masked = mask.any(axis=1)
        assert masked.any(), row.record
        assert np.all(peak[masked] >= LEAD_FLOOR_MV) and np.all(peak[~masked] < LEAD_FLOOR_MV), row.record
        threshold = MASK_FRACTION * peak[:, None]
        assert np.all(diff[mask] >= np.broadcast_to(threshold, mask.shape)[mask]), row.record
        outside = ~mask & masked[:, None]
        assert np.all(diff[outside] < np.broadcast_to(threshold, mask.shape)[outside]), row.record
        assert row.mask_share == pytest.approx(mask.mean())


def test_twin_shares_noise_and_wander_exactly_away_from_the_evidence(written):
    """Lead-specific evidence leaves the other leads bit-identical; RBBB changes only the terminal QRS."""
    for row in written[written.code.isin([ST_ELEVATION, Q_WAVE, T_INVERSION])].itertuples():
        diff = _difference(row)
        outside = [i for i, lead in enumerate(LEAD_NAMES) if lead not in TERRITORIES[row.territory]]
        assert np.all(diff[outside] == 0), row.record
        assert set(np.array(LEAD_NAMES)[load_mask(row.path, row.code).any(axis=1)]) <= \
            set(TERRITORIES[row.territory])
    pair = generate_pair(RBBB, 5)
    diff = pair.difference()
    terminal = np.zeros(diff.shape[1], dtype=bool)
    for beat in pair.twin.beats:  # S wave and R' with their rendered tails: 20-220 ms after QRS onset
        terminal[max(0, beat.qrs_on + 10):max(0, beat.qrs_on + 110)] = True
    assert np.all(diff[:, ~terminal] == 0)
    assert np.abs(diff[:, terminal]).max() > 0.3


def test_av_block_mask_is_the_displaced_p_wave_and_pr_segment():
    pair = generate_pair(IAVB, 8)
    delay = round((pair.record.info["pr_ms"] - pair.record.info["base_pr_ms"]) / 1000 * FS)
    allowed = np.zeros(pair.record.n_samples, dtype=bool)
    for beat in pair.twin.beats:
        if beat.p_on is not None:
            allowed[max(0, beat.p_on - delay - 2):max(0, beat.qrs_on)] = True
    mask = pair.record.mask(IAVB)
    assert mask.any() and not mask[:, ~allowed].any()


def test_af_keeps_the_rr_sequence_so_qrs_complexes_are_unchanged():
    pair = generate_pair(AFIB, 3, noise_mv=0.0)
    diff = pair.difference()
    for beat in pair.twin.beats:
        qrs = slice(max(0, beat.qrs_on + 5), max(0, beat.qrs_off - 5))
        # only the small f waves (<= 0.12 mV per dipole axis) differ inside a QRS
        assert np.abs(diff[:, qrs]).max(initial=0) < 0.5
    assert pair.record.mask(AFIB).mean() > 0.3


def test_st_elevation_mask_follows_the_territory():
    inferior = generate_pair(ST_ELEVATION, 4, territory="inferior").record.mask(ST_ELEVATION)
    anterior = generate_pair(ST_ELEVATION, 4, territory="anterior").record.mask(ST_ELEVATION)
    leads_of = [set(np.array(LEAD_NAMES)[m.any(axis=1)]) for m in (inferior, anterior)]
    assert leads_of[0] == set(TERRITORIES["inferior"]) and leads_of[1] == set(TERRITORIES["anterior"])
    assert leads_of[0].isdisjoint(leads_of[1])


def test_base_depends_on_the_seed_only():
    """Every class's record is built on the same neutral base: its twin."""
    twins = [generate_pair(code, 9).twin.signal for code in (RBBB, LBBB, AFIB)]
    assert all(np.array_equal(twins[0], other) for other in twins[1:])
    assert not np.array_equal(twins[0], generate_pair(RBBB, 10).twin.signal)


def test_combinations_and_training_batch():
    with pytest.raises(ConfigurationError, match="cannot be combined"):
        generate_pair((RBBB, LBBB), 1)
    with pytest.raises(ConfigurationError):
        generate_pair("426783006", 1)
    x, y = benchmark_batch(27, seed=(16, 2))
    assert x.shape == (27, 5000, 12) and y.shape == (27, len(BENCHMARK_CODES))
    assert set(y.sum(axis=1)) <= {0.0, 1.0, 2.0} and (y.sum(axis=1) == 0).any()
    neutral = np.flatnonzero(y.sum(axis=1) == 0)[0]
    assert np.abs(x[neutral]).max() < 5
