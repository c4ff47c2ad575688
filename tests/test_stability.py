"""Stability under an extra beat, rank comparisons, and the model-parameter randomisation check."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

import ecgxai
from ecgxai.errors import ConfigurationError, NotDifferentiableError
from ecgxai.evaluate.rankings import jaccard_at_k, rbo
from ecgxai.evaluate.sanity import model_randomisation_check, randomise_layers
from ecgxai.evaluate.stability import (
    compare_explanations,
    insert_extra_beat,
    match_beats,
    region_scores,
    run_extra_beat_stability_experiment,
)
from ecgxai.explain import Explanation
from ecgxai.explain.spans import spans_from_dense
from ecgxai.io.records import Record
from ecgxai.models.base import Classifier
from ecgxai.signal.peaks import detect_r_peaks
from ecgxai.synth.writer import write_challenge_record

CODES = ["164889003", "426783006"]


# --- inserting a beat -----------------------------------------------------------------------------


def test_insert_extra_beat_writes_a_longer_valid_challenge_record(reference_records, tmp_path):
    rec = ecgxai.read_record(reference_records[0])
    augmented, info = insert_extra_beat(rec, np.random.default_rng(0), tmp_path)
    fs, n_extra = rec.fs, round(0.70 * rec.fs)
    beat = info["beat_index"]
    peaks = detect_r_peaks(rec.signal, fs, rec.lead_names)
    assert 0 < beat < len(peaks) - 1 and info["r_peak_sample"] == peaks[beat]

    # read back exactly as ecgxai reads any Challenge record, 0.70 s longer
    again = ecgxai.read_record(tmp_path / f"{augmented.name}.mat")
    assert augmented.name == info["augmented_record"] and augmented.path.parent == tmp_path.resolve()
    assert again.n_samples == augmented.n_samples == rec.n_samples + n_extra
    np.testing.assert_array_equal(again.digital, augmented.digital)

    # metadata, gains, baselines, lead names and comments are kept
    assert augmented.fs == fs and augmented.lead_names == rec.lead_names
    np.testing.assert_array_equal(augmented.gain, rec.gain)
    np.testing.assert_array_equal(augmented.baseline, rec.baseline)
    assert (augmented.dx, augmented.age, augmented.sex, augmented.comments) == (
        rec.dx, rec.age, rec.sex, rec.comments)

    # the header: sample count updated, checksums and first values right; wfdb reads the samples too
    header = wfdb.rdheader(str(tmp_path / augmented.name))
    assert header.sig_len == rec.n_samples + n_extra and header.n_sig == rec.n_leads
    assert header.file_name == [f"{augmented.name}.mat"] * rec.n_leads and header.byte_offset[0] == 24
    assert header.checksum == [int((s + 32768) % 65536 - 32768)
                               for s in augmented.digital.astype(np.int64).sum(axis=0)]
    assert header.init_value == augmented.digital[0].tolist()
    first_line = (tmp_path / f"{augmented.name}.hea").read_text().splitlines()[0].split()
    original_line = (reference_records[0].with_suffix(".hea")).read_text().splitlines()[0].split()
    assert first_line[1:4] == [str(rec.n_leads), "500", str(rec.n_samples + n_extra)]
    assert first_line[4:] == original_line[4:]  # date and time kept verbatim
    d_signal = wfdb.rdrecord(str(tmp_path / augmented.name), physical=False).d_signal
    np.testing.assert_array_equal(d_signal, augmented.digital)

    # MATLAB v4, one int16 (leads, samples) variable named val, as the reference files are laid out
    raw = (tmp_path / f"{augmented.name}.mat").read_bytes()
    assert np.frombuffer(raw[:20], "<i4").tolist() == [30, rec.n_leads, rec.n_samples + n_extra, 0, 4]
    val = scipy.io.loadmat(tmp_path / f"{augmented.name}.mat")["val"]
    assert val.dtype == np.int16 and val.shape == (rec.n_leads, rec.n_samples + n_extra)

    # samples: unchanged before the insertion, the copied beat, then the rest shifted
    r = int(peaks[beat])
    start, stop = r - round(0.30 * fs), r + round(0.40 * fs)
    new, old = augmented.digital, rec.digital
    np.testing.assert_array_equal(new[:stop], old[:stop])
    np.testing.assert_array_equal(new[stop:stop + n_extra], old[start:stop])
    np.testing.assert_array_equal(new[stop + n_extra:], old[stop:])
    assert info["copied_interval"] == (start / fs, stop / fs)
    assert info["inserted_interval"] == (stop / fs, (stop + n_extra) / fs)
    mapping = dict(info["r_peak_mapping"])
    assert mapping[peaks[beat - 1] / fs] == peaks[beat - 1] / fs
    assert mapping[peaks[beat + 1] / fs] == pytest.approx(peaks[beat + 1] / fs + 0.70)

    # a given beat index is used as is; the same generator seed picks the same beat
    _, by_index = insert_extra_beat(rec, 3, tmp_path, name="given_beat")
    assert by_index["beat_index"] == 3 and (tmp_path / "given_beat.hea").is_file()
    assert insert_extra_beat(rec, np.random.default_rng(0), tmp_path)[1]["beat_index"] == beat
    with pytest.raises(ConfigurationError, match="cannot be copied"):
        insert_extra_beat(rec, len(peaks) - 1, tmp_path)  # the last beat is an edge beat


def _flat_record(tmp_path) -> Record:
    digital = np.zeros((2000, 2), np.int16)
    base = write_challenge_record(tmp_path, "flat", digital, fs=500, lead_names=["I", "II"],
                                  gain=[1000.0, 1000.0], baseline=[0, 0], comments=["Dx: 426783006"])
    return ecgxai.read_record(base)


@pytest.mark.parametrize("name", ["../escape", "sub/name", "..", ".", "a.b", "/abs", "", "a\\b", "-x"])
def test_out_of_directory_names_are_rejected(tmp_path, name):
    out = tmp_path / "out"
    out.mkdir()
    rec = _flat_record(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ConfigurationError, match="unsafe"):
        insert_extra_beat(rec, 1, out, name=name)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not any(out.iterdir())


def test_symlinks_out_of_the_directory_and_overwriting_the_source_are_rejected(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "linked.mat").symlink_to(tmp_path / "elsewhere.mat")
    with pytest.raises(ConfigurationError, match="outside"):
        write_challenge_record(out, "linked", np.zeros((10, 1), np.int16), fs=500, lead_names=["I"],
                               gain=[1000.0], baseline=[0])
    assert not (tmp_path / "elsewhere.mat").exists()


def test_a_record_without_inner_beats_is_refused(tmp_path):
    with pytest.raises(ecgxai.errors.InvalidSignalError, match="R-peaks detected"):
        insert_extra_beat(_flat_record(tmp_path), np.random.default_rng(0), tmp_path / "x")


# --- matching beats -------------------------------------------------------------------------------


def test_match_beats_on_hand_built_times():
    original = [0.5, 1.3, 2.1, 2.9, 3.7, 4.5]
    # beat 2 (R at 2.1) copied: [1.8, 2.5) inserted at [2.5, 3.2), 0.7 s
    augmented = [0.5, 1.31, 2.1,
                 2.8,            # the inserted copy of beat 2: ignored
                 3.62, 4.37,     # beats 3 and 4, shifted by 0.7 (+0.02, -0.03)
                 5.35,           # beat 5 shifted, 0.15 s off: beyond tol
                 6.0]            # an extra detection with no partner
    pairs = match_beats(original, augmented, (2.5, 3.2))
    assert pairs == [(0, 0), (1, 1), (2, 2), (3, 4), (4, 5)]
    assert match_beats(original, augmented, (2.5, 3.2), tol=0.2)[-1] == (5, 6)
    # one-to-one, closest first
    assert match_beats([1.0, 1.05], [1.04], (5.0, 5.7)) == [(1, 0)]
    assert match_beats([], [1.0], (0.0, 0.7)) == []


# --- rank comparisons -----------------------------------------------------------------------------


def test_rbo_on_hand_computed_rankings():
    p = 0.9
    # S = a b c d, L = a c b e: overlaps X_1..X_4 = 1, 1, 3, 3 (equal lengths, s = l = 4)
    # RBO_ext = (1-p)/p * (1/1 p + 1/2 p^2 + 3/3 p^3 + 3/4 p^4) + 3/4 p^4
    #         = (0.1/0.9) * (0.9 + 0.405 + 0.729 + 0.492075) + 0.492075
    #         = 0.280675 + 0.492075 = 0.77275
    assert rbo(list("abcd"), list("acbe"), p) == pytest.approx(0.77275, abs=1e-12)
    # uneven: S = a b (s = 2), L = b a c (l = 3), p = 0.5; X_1, X_2, X_3 = 0, 2, 2
    # (1-p)/p = 1; sum_d X_d/d p^d = 0 + 2/2 * 0.25 + 2/3 * 0.125 = 1/3
    # extrapolation sum, d = 3: X_s (d-s)/(s d) p^d = 2 * 1/6 * 0.125 = 1/24
    # tail: ((X_l - X_s)/l + X_s/s) p^l = (0 + 1) * 0.125;   1/3 + 1/24 + 1/8 = 1/2
    assert rbo(list("ab"), list("bac"), 0.5) == pytest.approx(0.5, abs=1e-12)
    assert rbo(list("bac"), list("ab"), 0.5) == pytest.approx(0.5, abs=1e-12)
    for ranking in (["x"], list("abcdefgh"), list(range(50))):
        assert rbo(ranking, ranking, p) == pytest.approx(1.0)
        assert rbo(ranking, ranking, 0.5) == pytest.approx(1.0)
    assert rbo(list("abc"), list("xyz"), p) == 0.0
    assert rbo([], list("abc"), p) == 0.0 and math.isnan(rbo([], [], p))
    with pytest.raises(ConfigurationError):
        rbo(list("aa"), list("ab"))


def test_jaccard_at_k_by_hand():
    a = [5, 4, 3, 2, 1, 0]
    b = [1, 5, 4, 0, 3, 2]
    # top-3: {0, 1, 2} and {1, 2, 4}: 2 shared of 4
    assert jaccard_at_k(a, b, k=3) == pytest.approx(2 / 4)
    # top-6 keeps positive scores only: {0..4} and {0, 1, 2, 4, 5}: 4 shared of 6
    assert jaccard_at_k(a, b, k=6) == pytest.approx(4 / 6)
    assert jaccard_at_k(a, a, k=3) == 1.0 and math.isnan(jaccard_at_k([0, 0], [0, 0], k=3))


def _hand_explanation() -> Explanation:
    return Explanation(mat_path="", target_label="x", method_label="m", page_seconds=4.0, perlead_spans={
        "I": [(0.0, 0.5, 1.0), (2.0, 2.5, -3.0)], "II": [(1.0, 1.5, 2.0), (3.0, 3.1, 0.5)]})


def test_region_scores_by_hand_and_an_explanation_matches_itself():
    explanation = _hand_explanation()
    r_times = [0.4, 1.3, 2.2, 3.0]
    # windows [r - 0.3, r + 0.4): I: 0.4 x 1 | 0 | 0.5 x 3 | 0;  II: 0 | 0.5 x 2 | 0 | 0.1 x 0.5
    expected = [[0.4, 0.0, 1.5, 0.0], [0.0, 1.0, 0.0, 0.05]]
    np.testing.assert_allclose(region_scores(explanation, r_times, ["I", "II"]), expected)
    same = compare_explanations(explanation, r_times, explanation, r_times, k=3)
    assert (same["spearman"], same["jaccard_at_k"], same["rbo"]) == pytest.approx((1.0, 1.0, 1.0))
    assert same["n_regions"] == 8


def test_extra_beat_experiment_on_a_reference_record(reference_model, reference_records, tmp_path):
    path = reference_records[0]
    result = run_extra_beat_stability_experiment(reference_model, path, CODES[0], method="gradxinput",
                                                 out_dir=tmp_path, seed=7)
    rec = ecgxai.read_record(path)
    n_beats = len(detect_r_peaks(rec.signal, rec.fs, rec.lead_names))
    assert result["n_matched_beats"] == n_beats
    assert 0 < result["n_compared_beats"] <= n_beats
    assert all(math.isfinite(result[key]) for key in ("spearman", "jaccard_at_k", "rbo"))
    assert -1 <= result["spearman"] <= 1 and 0 <= result["jaccard_at_k"] <= 1 and 0 <= result["rbo"] <= 1
    original, augmented = result["original"], result["augmented"]
    assert original.seed == augmented.seed and augmented.record == result["inserted_beat"]["augmented_record"]
    for key, explanation in (("original_payload_path", original), ("augmented_payload_path", augmented)):
        saved = Explanation.from_json(Path(result[key]).read_text())
        assert saved == explanation and result[key].startswith(str(tmp_path.resolve()))
    again = run_extra_beat_stability_experiment(reference_model, path, CODES[0], method="gradxinput",
                                                out_dir=tmp_path / "again", seed=7)
    assert again["inserted_beat"]["beat_index"] == result["inserted_beat"]["beat_index"]
    assert again["spearman"] == result["spearman"] and again["rbo"] == result["rbo"]


# --- model-parameter randomisation ----------------------------------------------------------------

T, LEADS = 1000, ecgxai.config.STANDARD_LEADS


@pytest.fixture(scope="module")
def small_keras():
    """Conv1D -> Conv1D -> global average pooling -> Dense, seeded initialisation."""
    from ecgxai.models.keras_backend import keras

    inputs = keras.Input((T, len(LEADS)))
    h = keras.layers.Conv1D(8, 7, padding="same", activation="relu",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=0))(inputs)
    h = keras.layers.Conv1D(8, 5, padding="same", activation="relu",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=1))(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    outputs = keras.layers.Dense(2, activation="sigmoid",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=2))(h)
    return ecgxai.load_model(keras.Model(inputs, outputs), class_names=CODES)


def ecg_like(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 500
    wave = np.sin(2 * np.pi * 1.2 * t)[:, None] * rng.uniform(0.5, 2.0, len(LEADS))
    return (wave + 0.3 * rng.standard_normal((T, len(LEADS)))).astype(np.float32)


def test_randomise_layers_copies_and_cascades(small_keras):
    names = small_keras.weighted_layers()
    assert names == [layer.name for layer in reversed(small_keras.model.layers) if layer.weights]
    before = [w.copy() for w in small_keras.model.get_weights()]
    one, two = randomise_layers(small_keras, 1, seed=3), randomise_layers(small_keras, 2, seed=3)
    for original, kept in zip(before, small_keras.model.get_weights(), strict=True):
        np.testing.assert_array_equal(original, kept)  # the original model is untouched
    top, second = names[0], names[1]
    kernel = small_keras.model.get_layer(top).get_weights()[0]
    assert not np.allclose(one.model.get_layer(top).get_weights()[0], kernel)
    np.testing.assert_array_equal(one.model.get_layer(top).get_weights()[0],
                                  two.model.get_layer(top).get_weights()[0])  # a cascade
    np.testing.assert_array_equal(one.model.get_layer(second).get_weights()[0],
                                  small_keras.model.get_layer(second).get_weights()[0])
    assert not np.allclose(two.model.get_layer(second).get_weights()[0],
                           small_keras.model.get_layer(second).get_weights()[0])
    assert (one.class_names, one.input_length, one.units, one.lead_names) == (
        small_keras.class_names, small_keras.input_length, small_keras.units, small_keras.lead_names)
    assert one.predict(ecg_like()).shape == (1, 2)
    with pytest.raises(ConfigurationError):
        randomise_layers(small_keras, len(names) + 1, seed=0)


def test_randomise_layers_refuses_other_backends():
    plain = ecgxai.load_model(lambda x: np.full((len(x), 2), 0.5, np.float32), class_names=CODES,
                              input_length=T)
    with pytest.raises(NotDifferentiableError):
        randomise_layers(plain, 1, seed=0)

    class OtherDifferentiable(Classifier):
        backend, differentiable = "torch", True

    other = OtherDifferentiable(class_names=CODES, input_length=T, n_leads=12, units="adc", lead_names=None)
    with pytest.raises(NotImplementedError):
        randomise_layers(other, 1, seed=0)


def test_gradient_x_input_depends_on_the_model(small_keras):
    # zero-mean noise input: on a smooth, large-amplitude input gradient x input is partly
    # input-dominated (rank correlations of 0.2-0.7 survive randomisation of this small model)
    x = np.random.default_rng(0).standard_normal((T, len(LEADS))).astype(np.float32)
    result = model_randomisation_check(small_keras, x, 500, CODES[0], method="gradxinput",
                                       layers=(1, 2, 3), seed=0)
    assert [step["n_layers"] for step in result["steps"]] == [1, 2, 3]
    assert result["final_similarity"] < 0.5 and not result["flagged"]
    assert all(abs(s) < 0.5 for s in result["similarity"])
    assert len(result["randomised"]) == 3 and isinstance(result["original"], Explanation)


def input_as_explanation(classifier, x, fs, target) -> Explanation:
    """An 'explainer' that ignores the model: the attribution is the input itself."""
    events = [(start, start + 50) for start in range(0, len(x), 50)]
    spans, scores, kept, event_spans = spans_from_dense(x, events, fs, LEADS, keep_leads=None)
    return Explanation(mat_path="", target_label=str(target), method_label="input", page_seconds=len(x) / fs,
                       perlead_spans=spans, lead_scores=scores, top5_leads=kept[:5], event_spans=event_spans)


def test_an_explainer_ignoring_the_model_is_flagged(small_keras):
    result = model_randomisation_check(small_keras, ecg_like(), 500, CODES[0], method=input_as_explanation,
                                       layers=(1, 3), seed=0)
    assert result["similarity"] == pytest.approx([1.0, 1.0]) and result["flagged"]
    assert result["method"] == "input_as_explanation"
