"""Records as they come: other sampling rates, long records, reduced lead sets (reference data in ../shared).

The records here are the reference records themselves, resampled with scipy (independently of
ecgxai's own resampling), joined, or cut down to fewer leads, and written as Challenge records.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.signal import resample_poly

import ecgxai
from ecgxai.cli.main import main
from ecgxai.config import CHALLENGE_LEAD_SETS, STANDARD_LEADS
from ecgxai.errors import ConfigurationError, LeadMismatchError, ModelLoadError
from ecgxai.io.preprocessing import model_input, record_windows
from ecgxai.models.inputs import classifier_input
from ecgxai.models.loader import ModelSpec
from ecgxai.synth.writer import write_challenge_record

TOLERANCE = 0.02  # max absolute probability difference accepted from resampling
REFERENCE_FS = 500
RATES = (257, 1000)
AF, SR = "164889003", "426783006"


def write_like(record: ecgxai.Record, out: Path, name: str, digital: np.ndarray, fs: float,
               lead_names=None) -> Path:
    """Write ``digital`` (time, leads) as a Challenge record with ``record``'s gains, baselines and header."""
    columns = [record.lead_names.index(lead) for lead in (lead_names or record.lead_names)]
    assert np.abs(digital).max() <= np.iinfo(np.int16).max
    return write_challenge_record(out, name, digital.astype(np.int16), fs=fs,
                                  lead_names=[record.lead_names[j] for j in columns],
                                  gain=record.gain[columns], baseline=record.baseline[columns],
                                  comments=record.comments)


def resampled_digital(record: ecgxai.Record, fs: int) -> np.ndarray:
    """The record's ADC values at ``fs`` (scipy's polyphase resampling), rounded to integers."""
    return np.rint(resample_poly(record.digital.astype(np.float64), fs, int(record.fs), axis=0))


@pytest.fixture(scope="module")
def picked(reference_records: list[Path]) -> list[ecgxai.Record]:
    """Six reference records spread over the set (both sources, both gains)."""
    records = [ecgxai.read_record(path) for path in reference_records[::12]]
    assert len(records) == 6 and {r.fs for r in records} == {REFERENCE_FS}
    return records


@pytest.fixture(scope="module")
def copies(picked, tmp_path_factory) -> dict[int, list[Path]]:
    """One folder holding each picked record at 257, 500 and 1000 Hz (``NAME_RATE``)."""
    out = tmp_path_factory.mktemp("rates")
    found: dict[int, list[Path]] = {REFERENCE_FS: [], **{fs: [] for fs in RATES}}
    for record in picked:
        for fs in found:
            digital = record.digital if fs == REFERENCE_FS else resampled_digital(record, fs)
            found[fs].append(write_like(record, out, f"{record.name}_{fs}", digital, fs))
    return found


@pytest.fixture(scope="module")
def originals(reference_model, picked) -> np.ndarray:
    """The reference model's probabilities for the picked records at their own 500 Hz."""
    return ecgxai.batched_predict_all(reference_model, [r.path for r in picked], progress=False)


@pytest.fixture(scope="module")
def rate_blind(reference_model):
    """The reference network behind a callable, so its sampling rate is unknown."""
    return ecgxai.load_model(reference_model.predict, class_names=reference_model.class_names,
                             input_length=reference_model.input_length)


# --- the model's rate ----------------------------------------------------------------------------


def test_model_rate_comes_from_zoo_card_and_argument(reference_model, reference_dir, tmp_path):
    from ecgxai.models.zoo import DEMO_MODEL_PATH

    assert reference_model.fs == 500 and reference_model.describe()["fs"] == 500
    assert reference_model.spec.fs == 500 and reference_model.spec.load().fs == 500
    assert ecgxai.load_model(DEMO_MODEL_PATH).fs == 500  # from its model card
    weights = reference_dir / "model" / "resnet_final_weights.h5"
    given = ecgxai.load_model(weights, architecture="physionet2020_resnet", fs=250)
    assert given.fs == 250 and ModelSpec(**given.spec.describe()).fs == 250
    assert ecgxai.load_model(lambda x: np.full((len(x), 2), 0.5, np.float32), class_names=[AF, SR]).fs is None


def test_bad_rate_in_model_card_names_the_card(tmp_path):
    from ecgxai.models.zoo import DEMO_MODEL_PATH

    model = tmp_path / "m.keras"
    model.write_bytes(DEMO_MODEL_PATH.read_bytes())
    card = json.loads(Path(f"{DEMO_MODEL_PATH}.json").read_text())
    Path(f"{model}.json").write_text(json.dumps({**card, "fs": -500}))
    with pytest.raises(ModelLoadError, match=r"m\.keras\.json.*fs"):
        ecgxai.load_model(model)


# --- other rates ---------------------------------------------------------------------------------


def test_copies_carry_their_rate(copies, picked):
    for fs in RATES:
        for path, record in zip(copies[fs], picked, strict=True):
            copy = ecgxai.read_record(path)
            assert copy.fs == fs and copy.n_samples == math.ceil(record.n_samples * fs / REFERENCE_FS)


@pytest.mark.parametrize("fs", RATES)
def test_resampled_records_predict_like_the_originals(reference_model, copies, originals, fs):
    probs = ecgxai.batched_predict_all(reference_model, copies[fs], progress=False)
    assert np.abs(probs - originals).max() <= TOLERANCE


@pytest.mark.parametrize("fs", RATES)
def test_model_input_of_a_resampled_record(reference_model, copies, picked, fs):
    record, original = ecgxai.read_record(copies[fs][0]), picked[0]
    got = classifier_input(reference_model, record)
    assert got.x.shape == (5000, 12) and got.x.dtype == np.float32
    assert (got.fs, got.record_fs, got.lead_names, got.record) == (500, fs, STANDARD_LEADS, record.name)
    assert got.start_sec == 0 and got.end_sec == pytest.approx(min(10.0, original.duration_sec))
    # the original's input again, in its units (ADC values) and scale, up to what resampling loses
    direct = classifier_input(reference_model, original).x
    assert np.sqrt(np.mean((got.x - direct) ** 2)) < 0.1 * np.sqrt(np.mean(direct**2))


def test_a_record_at_the_models_rate_is_taken_as_it_is(reference_model, picked):
    record = picked[0]
    got = classifier_input(reference_model, record)
    np.testing.assert_array_equal(got.x, ecgxai.preprocess_for_model(record.path))
    assert got.fs == got.record_fs == 500


def test_resampling_is_logged_once_per_run(reference_model, copies, caplog):
    files = copies[257] + copies[REFERENCE_FS] + copies[1000]
    with caplog.at_level(logging.INFO, logger="ecgxai"):
        result = ecgxai.predict_records(reference_model, files, batch_size=2, progress=False)  # 3 chunks
    said = [r.getMessage() for r in caplog.records if "resampl" in r.getMessage()]
    assert len(said) == 1, said
    assert "12 records" in said[0] and "6 from 257 Hz" in said[0] and "6 from 1000 Hz" in said[0]
    assert "500 Hz" in said[0]
    assert result.record_rates == {257: 6, 500: 6, 1000: 6}


def test_unknown_model_rate_takes_records_as_they_are_and_warns_once(rate_blind, copies, originals, caplog):
    files = copies[257] + copies[REFERENCE_FS] + copies[1000]
    with caplog.at_level(logging.INFO, logger="ecgxai"):
        result = ecgxai.predict_records(rate_blind, files, batch_size=2, progress=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert all(f"{fs} Hz" in warnings[0] for fs in (257, 500, 1000))
    assert not [r for r in caplog.records if "resampled" in r.getMessage()]
    probs = result.probs[result.class_names].to_numpy()
    np.testing.assert_allclose(probs[6:12], originals, atol=1e-5)  # the 500 Hz copies: as before
    assert np.abs(probs[12:] - originals).max() > 5 * TOLERANCE  # 1000 Hz fed as it is: what resampling fixes


def test_one_rate_with_unknown_model_rate_is_not_warned(rate_blind, copies, caplog):
    with caplog.at_level(logging.INFO, logger="ecgxai"):
        ecgxai.predict_records(rate_blind, copies[1000], progress=False)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- stretches of long records -------------------------------------------------------------------


@pytest.mark.parametrize(("duration", "expected"), [
    (60.0, [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60)]),
    (64.0, [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60)]),  # a 4 s tail is dropped
    (65.0, [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60), (60, 65)]),  # half a window stays
    (4.0, [(0, 4)]),  # a short record keeps its one stretch
])
def test_record_windows(duration, expected):
    assert record_windows(duration, 10.0, 10.0) == expected


def test_record_windows_with_overlap_and_bad_values():
    assert record_windows(20.0, 10.0, 5.0) == [(0, 10), (5, 15), (10, 20), (15, 20)]
    for bad in ((0.0, 10.0, 10.0), (20.0, -1.0, 10.0), (20.0, 10.0, 0.0), (20.0, 10.0, math.nan)):
        with pytest.raises(ConfigurationError):
            record_windows(*bad)


def test_start_takes_a_later_stretch(reference_model, picked):
    record = picked[0]
    start = record.duration_sec - 4.0
    got = model_input(record, maxlen=5000, units="adc", lead_names=STANDARD_LEADS, fs=500, start_sec=start)
    assert (got.start_sec, got.end_sec) == (pytest.approx(start), pytest.approx(record.duration_sec))
    np.testing.assert_array_equal(got.x[:2000], record.digital[-2000:])
    assert not got.x[2000:].any()  # zero-padded after the real signal ends
    for beyond in (record.duration_sec, record.duration_sec + 30, -1.0):
        with pytest.raises(ConfigurationError, match=record.name):
            classifier_input(reference_model, record, start_sec=beyond)


@pytest.fixture(scope="module")
def joined(reference_records, tmp_path_factory) -> dict:
    """Six reference records of one gain and baseline, first 10 s of each, joined into one 60 s record,
    written at 500 Hz (30000 samples) and resampled to 1000 Hz."""
    records = [ecgxai.read_record(p) for p in reference_records]
    first = records[0]
    same = [r for r in records if r.n_samples >= 5000 and np.array_equal(r.gain, first.gain)
            and np.array_equal(r.baseline, first.baseline)][:6]
    assert len(same) == 6
    digital = np.concatenate([r.digital[:5000] for r in same])
    out = tmp_path_factory.mktemp("joined")
    at_500 = write_like(first, out, "JOINED", digital, 500)
    joined_record = ecgxai.read_record(at_500)
    assert joined_record.n_samples == 30000 and joined_record.duration_sec == 60
    at_1000 = write_like(first, out, "JOINED_1000", resampled_digital(joined_record, 1000), 1000)
    return {"parts": [r.path for r in same], 500: at_500, 1000: at_1000, "dir": out}


@pytest.mark.parametrize("fs", [500, 1000])
def test_windows_of_a_joined_record_give_each_parts_prediction(reference_model, joined, fs):
    parts = ecgxai.batched_predict_all(reference_model, joined["parts"], progress=False)
    result = ecgxai.predict_records(reference_model, [joined[fs]], windows=True, progress=False)
    table = result.probs
    assert list(table.columns[:4]) == ["record", "path", "start_sec", "end_sec"]
    np.testing.assert_allclose(table["start_sec"], np.arange(0, 60, 10))
    np.testing.assert_allclose(table["end_sec"], np.arange(10, 70, 10))
    diff = np.abs(table[result.class_names].to_numpy() - parts)
    assert diff.max() <= TOLERANCE
    if fs == 500:  # no resampling: each window is exactly the part it came from
        assert diff.max() < 1e-5


def test_window_stride(reference_model, joined):
    result = ecgxai.predict_records(reference_model, [joined[500]], windows=True, window_stride=5,
                                    progress=False)
    np.testing.assert_allclose(result.probs["start_sec"], np.arange(0, 60, 5))
    assert result.probs["end_sec"].iloc[-1] == 60
    with pytest.raises(ConfigurationError):
        ecgxai.predict_records(reference_model, [joined[500]], start=10, windows=True, progress=False)
    with pytest.raises(ConfigurationError):
        ecgxai.predict_records(reference_model, [joined[500]], window_stride=5, progress=False)


def test_predict_start_and_default_columns(reference_model, joined):
    parts = ecgxai.batched_predict_all(reference_model, joined["parts"], progress=False)
    later = ecgxai.predict_records(reference_model, [joined[500]], start=30, progress=False)
    assert (later.probs["start_sec"].item(), later.probs["end_sec"].item()) == (30, 40)
    np.testing.assert_allclose(later.probs[later.class_names].to_numpy()[0], parts[3], atol=1e-5)
    default = ecgxai.predict_records(reference_model, [joined[500]], progress=False)
    assert list(default.probs.columns[:3]) == ["record", "path", reference_model.class_names[0]]
    np.testing.assert_allclose(default.probs[default.class_names].to_numpy()[0], parts[0], atol=1e-5)


def test_select_keeps_each_records_best_stretch(reference_model, joined, reference_records):
    parts = ecgxai.batched_predict_all(reference_model, joined["parts"], progress=False)
    table = ecgxai.predict_records(reference_model, [joined[500], *reference_records[:3]], windows=True,
                                   progress=False).probs
    classes = list(reference_model.class_names)
    selection = ecgxai.build_selection_df_with_aliases(
        list(table["path"]), table[classes].to_numpy(), classes, k_per_class=4, min_prob=0.0,
        stretches=table[["start_sec", "end_sec"]].to_numpy())
    for code in (AF, SR):
        rows = selection[selection.group_class == code]
        assert sorted(rows.record) == sorted(["JOINED", *(p.stem for p in reference_records[:3])])
        best = rows[rows.record == "JOINED"].iloc[0]
        k = int(np.argmax(parts[:, classes.index(code)]))
        assert (best.start_sec, best.end_sec) == (10 * k, 10 * k + 10)
        assert best.prob_meta == pytest.approx(parts[k, classes.index(code)], abs=1e-5)


# --- reduced lead sets ---------------------------------------------------------------------------


def zero_filled(model, leads):
    """A model of ``leads``: the reference network with the other leads set to zero."""
    columns = [STANDARD_LEADS.index(lead) for lead in leads]

    def predict(x: np.ndarray) -> np.ndarray:
        full = np.zeros((*x.shape[:2], 12), dtype=np.float32)
        full[:, :, columns] = x
        return model.predict(full)

    return predict


@pytest.mark.parametrize("n_leads", [6, 4, 3, 2])
def test_reduced_lead_record_with_a_model_of_those_leads(reference_model, picked, tmp_path, n_leads):
    leads = CHALLENGE_LEAD_SETS[n_leads]
    record = picked[1]
    stored = list(reversed(leads))  # stored in another order: matched by name
    columns = [record.lead_names.index(lead) for lead in stored]
    path = write_like(record, tmp_path, f"{record.name}_{n_leads}", record.digital[:, columns], 500, stored)
    model = ecgxai.load_model(zero_filled(reference_model, leads), class_names=reference_model.class_names,
                              input_length=5000, lead_names=leads, fs=500)
    got = ecgxai.batched_predict_all(model, [path], progress=False, on_error="raise")
    full = ecgxai.preprocess_for_model(record.path)
    full[:, [j for j, lead in enumerate(STANDARD_LEADS) if lead not in leads]] = 0
    np.testing.assert_allclose(got, reference_model.predict(full), atol=1e-6)
    with pytest.raises(LeadMismatchError, match="V1") as refused:
        ecgxai.batched_predict_all(reference_model, [path], progress=False, on_error="raise")
    missing = [lead for lead in STANDARD_LEADS if lead not in leads]
    assert f"missing {missing}" in str(refused.value) and str(path) in str(refused.value)


def test_six_lead_record_explained_scored_and_drawn_on_its_leads(reference_model, picked, tmp_path):
    """A 6-lead record with a 6-lead model: the map, the spans, the metrics and the chart hold the six
    leads the model saw, and nothing else."""
    from ecgxai.evaluate import evaluate_payload
    from ecgxai.report import plot_from_payload

    leads = CHALLENGE_LEAD_SETS[6]
    record = picked[2]
    columns = [record.lead_names.index(lead) for lead in leads]
    path = write_like(record, tmp_path, f"{record.name}_6", record.digital[:, columns], 500, leads)
    model = ecgxai.load_model(zero_filled(reference_model, leads), class_names=reference_model.class_names,
                              input_length=5000, lead_names=leads, fs=500)
    explanation = ecgxai.explain.explain_record(model, path, SR, method="occlusion", seed=3)
    assert explanation.attribution.lead_names == tuple(leads)
    assert set(explanation.perlead_spans) <= set(leads) and set(explanation.lead_scores) == set(leads)
    row = evaluate_payload(explanation, model, seed=3)
    assert math.isfinite(row["morf_auc"]) and math.isfinite(row["random_morf_auc"])
    figure = plot_from_payload(explanation, record=path, show_all_leads=True)
    assert tuple(figure.record.lead_names) == tuple(leads) and "aVF" in figure.to_svg()


@pytest.mark.keras
def test_model_of_unnamed_reduced_leads_is_refused_at_load():
    from ecgxai.models.keras_backend import keras

    inputs = keras.Input((500, 6))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(
        keras.layers.GlobalAveragePooling1D()(inputs)))
    with pytest.raises(ConfigurationError, match=r"6 leads.*lead_names=.*I, II, III, aVR, aVL, aVF"):
        ecgxai.load_model(model, class_names=[AF, SR])
    named = ecgxai.load_model(model, class_names=[AF, SR], lead_names=CHALLENGE_LEAD_SETS[6])
    assert named.lead_names == CHALLENGE_LEAD_SETS[6]


# --- command line --------------------------------------------------------------------------------


@pytest.mark.keras
def test_cli_predict_resamples_a_mixed_folder(reference_dir, copies, picked, originals, tmp_path, caplog):
    out = tmp_path / "probs.csv"
    with caplog.at_level(logging.INFO, logger="ecgxai"):
        code = main(["predict", str(Path(copies[1000][0]).parent), "--model",
                     str(reference_dir / "model" / "resnet_final_weights.h5"),
                     "--architecture", "physionet2020_resnet", "--batch-size", "4", "--out", str(out)])
    assert code == 0
    said = [r.getMessage() for r in caplog.records if "resampled" in r.getMessage()]
    assert len(said) == 1 and "6 from 257 Hz" in said[0] and "6 from 1000 Hz" in said[0]
    table = pd.read_csv(out, dtype={"record": str, "path": str})
    classes = list(ecgxai.SCORED_CODES)
    assert len(table) == 18 and "start_sec" not in table.columns
    by_name = table.set_index("record")
    for fs in (257, 500, 1000):
        probs = by_name.loc[[f"{r.name}_{fs}" for r in picked], classes].to_numpy()
        assert np.abs(probs - originals).max() <= TOLERANCE, fs
    manifest = json.loads((tmp_path / "run.json").read_text())["predict"]["probs.csv"]
    assert manifest["model_fs"] == 500
    assert manifest["record_fs"] == {"257": 6, "500": 6, "1000": 6}


def test_cli_windows_then_select(reference_dir, reference_model, joined, tmp_path):
    probs, selection = tmp_path / "probs.csv", tmp_path / "selection.csv"
    model = ["--model", str(reference_dir / "model" / "resnet_final_weights.h5"),
             "--architecture", "physionet2020_resnet"]
    assert main(["predict", str(joined[500]), *model, "--windows", "--quiet", "--out", str(probs)]) == 0
    table = pd.read_csv(probs)
    assert len(table) == 6 and list(table.columns[:4]) == ["record", "path", "start_sec", "end_sec"]
    assert main(["select", "--probs", str(probs), "--k", "1", "--min-prob", "0", "--quiet",
                 "--out", str(selection)]) == 0
    chosen = pd.read_csv(selection, dtype={"group_class": str}).set_index("group_class")
    parts = ecgxai.batched_predict_all(reference_model, joined["parts"], progress=False)
    for code in (AF, SR):
        k = int(np.argmax(parts[:, list(reference_model.class_names).index(code)]))
        assert (chosen.loc[code, "start_sec"], chosen.loc[code, "end_sec"]) == (10 * k, 10 * k + 10)
    assert main(["predict", str(joined[500]), *model, "--start", "70", "--quiet",
                 "--out", str(tmp_path / "late.csv")]) == 3  # beyond the record: that record fails
    errors = pd.read_csv(tmp_path / "late.errors.csv")
    assert errors["error_type"].item() == "ConfigurationError" and "beyond" in errors["message"].item()


# --- explanations live in the record's time ------------------------------------------------------


@pytest.mark.parametrize("fs", RATES)
def test_gradient_maps_at_other_rates_match_the_originals(reference_model, copies, picked, fs):
    """IG of a 257 / 1000 Hz copy, on the model's 500 Hz axis of the same record seconds, correlates
    with the original's IG at least 0.9 (per lead x 0.1 s cell, every record)."""
    for original, copy in zip(picked[:3], copies[fs][:3], strict=True):
        maps = [ecgxai.explain.explain_record(reference_model, path, AF, method="ig", seed=1).attribution
                for path in (original.path, copy)]
        assert maps[1].fs == fs and maps[1].model_fs == 500 and maps[0].fs == 500
        assert maps[1].end_sec == pytest.approx(maps[0].end_sec, abs=1 / fs)
        cells = [m.to_cells(0.1, duration_sec=maps[0].end_sec).ravel() for m in maps]
        assert np.corrcoef(*cells)[0, 1] >= 0.9, (original.name, fs)


def test_explain_and_evaluate_a_later_stretch(reference_model, joined):
    """The stretch from 30 s of the joined record is the fourth part's signal: spans, map and metrics
    are in record seconds and score the same as the part explained on its own (metrics that draw
    random subsets draw them by record name, so they differ between the two names)."""
    later = ecgxai.explain.explain_record(reference_model, joined[500], AF, method="gradxinput", seed=2,
                                          start_sec=30.0)
    alone = ecgxai.explain.explain_record(reference_model, joined["parts"][3], AF, method="gradxinput",
                                          seed=2)
    assert (later.start_sec, later.end_sec, later.page_seconds) == (30.0, 40.0, 10.0)
    assert all(30 <= s < e <= 40 for spans in later.perlead_spans.values() for s, e, _ in spans)
    np.testing.assert_allclose(later.attribution.values, alone.attribution.values, rtol=1e-3,
                               atol=np.abs(alone.attribution.values).max() * 1e-3)
    from ecgxai.evaluate import evaluate_payload

    rows = [evaluate_payload(e, reference_model, seed=2, ranking=True) for e in (later, alone)]
    for metric in ("morf_auc", "insertion_auc", "probability"):  # not the metrics of random subsets,
        assert rows[0][metric] == pytest.approx(rows[1][metric], abs=0.02), metric


def test_cli_explain_windows_takes_each_classes_best_stretch(reference_dir, reference_model, joined,
                                                             tmp_path):
    model = ["--model", str(reference_dir / "model" / "resnet_final_weights.h5"),
             "--architecture", "physionet2020_resnet"]
    assert main(["explain", str(joined[500]), *model, "--windows", "--method", "gradxinput", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    parts = ecgxai.batched_predict_all(reference_model, joined["parts"], progress=False)
    for code in (AF, SR):
        written = tmp_path / "run" / "payloads" / "gradxinput" / code / "JOINED.json"
        payload = json.loads(written.read_text())
        k = int(np.argmax(parts[:, list(reference_model.class_names).index(code)]))
        assert (payload["start_sec"], payload["end_sec"]) == (10 * k, 10 * k + 10)
        assert payload["attribution"]["start_sec"] == 10 * k
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())["explain"]["gradxinput"]
    assert manifest["stretches"]["windows"] is True
