"""The original toolkit's quickstart steps 1-3, written with ecgxai imports, on the reference data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.mark.keras
def test_quickstart_steps_1_to_3(reference_dir, tmp_path):
    # 1) Load class names and model
    from ecgxai import load_class_names, load_model

    class_names = load_class_names(reference_dir / "snomed_classes.npy")
    model = load_model(reference_dir / "model" / "resnet_final_weights.h5",
                       architecture="physionet2020_resnet", class_names=class_names)

    # 2) Predict on ECGs
    from ecgxai import batched_predict_all

    ecg_files = sorted(str(p) for p in (reference_dir / "records").glob("*.mat"))
    probs = batched_predict_all(model, ecg_files, batch_size=16, maxlen=5000)

    # 3) Select examples per target diagnosis
    from ecgxai import TARGET_META, build_selection_df_with_aliases

    sel_df = build_selection_df_with_aliases(
        ecg_filenames=ecg_files,
        probs=probs,
        class_names=class_names,
        target_meta=TARGET_META,
        k_per_class=5,
        min_prob=0.85,
        max_duration_sec=20.0,
        duration_cache_path=tmp_path / "durations.npy",
    )

    assert {"group_class", "filename", "sel_idx"} <= set(sel_df.columns)
    assert sorted(sel_df["group_class"].unique()) == sorted(TARGET_META)
    assert (sel_df.groupby("group_class").size() == 5).all()
    # Every pick is a confident, labelled-as-target record of the reference selection table.
    reference = pd.read_csv(reference_dir / "seed-results" / "selection.csv",
                            dtype={"record": str, "group_class": str})
    expected_group = dict(zip(reference["record"], reference["group_class"], strict=True))
    for row in sel_df.itertuples():
        assert row.filename == ecg_files[row.sel_idx]
        assert row.prob_meta >= 0.85
        column = list(class_names).index(row.group_class)
        assert np.isclose(row.prob_meta, probs[row.sel_idx, column])
        assert expected_group[row.record] == row.group_class


def test_quickstart_step_4_both_pipelines(reference_dir, reference_model):
    """Step 4 as the original README writes it, on one record per target class."""
    from ecgxai import TARGET_META
    from ecgxai.explain import Explanation, run_fused_pipeline_for_classes, run_pipeline_for_classes

    class_names = list(reference_model.class_names)
    selection = pd.read_csv(reference_dir / "seed-results" / "selection.csv",
                            dtype={"record": str, "group_class": str})
    sel_df = selection.groupby("group_class").head(1).reset_index(drop=True)
    sel_df["filename"] = [str(reference_dir / "records" / f"{r}.mat") for r in sel_df["record"]]
    sel_df["sel_idx"] = range(len(sel_df))
    target_classes = list(TARGET_META.keys())

    payloads_by_class, df_lime = run_pipeline_for_classes(
        target_classes, sel_df, model=reference_model, class_names=class_names,
        max_examples_per_class=3, plot=False,
    )
    fused_payloads, df_lime_2, df_ts = run_fused_pipeline_for_classes(
        target_classes, sel_df, model=reference_model, class_names=class_names,
        max_examples_per_class=3, plot=False,
    )

    for code in target_classes:
        (sel_idx, payload), = payloads_by_class[code].items()
        assert {"mat_path", "target_label", "method_label", "page_seconds", "perlead_spans",
                "lead_scores", "top5_leads"} <= set(payload)
        assert payload["method_label"] == "LIME" and len(payload["perlead_spans"]) == 5
        assert payload["model_evaluations"] == 601
        fused = fused_payloads[code][sel_idx]
        assert fused["method_label"] == "LIME+TimeSHAP"
        # the maps are fused cell by cell; the spans are the fused map's top events on its top 5 leads
        assert len(fused["perlead_spans"]) == 5 and len(fused["attribution"]["lead_names"]) == 12
        assert all(abs(w) <= 1 + 1e-9 for spans in fused["perlead_spans"].values() for _, _, w in spans)
        Explanation.from_payload(fused)  # the typed view accepts the dict
    # Same seed, same explanation: the LIME part of the fused run equals the LIME-only run.
    assert df_lime["perlead_spans"].tolist() == df_lime_2["perlead_spans"].tolist()
    assert df_lime["error"].isna().all() and len(df_ts) == len(target_classes)


def test_original_names_are_importable_from_the_package():
    import ecgxai
    from ecgxai import evaluate_all_payloads, fuse_lime_timeshap_payload, run_fused_pipeline_for_classes
    from ecgxai.evaluate import evaluator
    from ecgxai.explain import fusion, pipeline

    assert evaluate_all_payloads is evaluator.evaluate_all_payloads
    assert fuse_lime_timeshap_payload is fusion.fuse_lime_timeshap_payload
    assert run_fused_pipeline_for_classes is pipeline.run_fused_pipeline_for_classes
    with pytest.raises(AttributeError, match="no_such_name"):
        ecgxai.no_such_name  # noqa: B018
