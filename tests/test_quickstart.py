"""The original toolkit's quickstart steps 1-3, written with ecgxai imports, on the reference data."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
