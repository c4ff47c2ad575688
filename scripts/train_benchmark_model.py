"""Train the bundled localisation-benchmark classifier on ``ecgxai.synth.benchmark`` records.

Every training record is built on a neutral base drawn the same way for every class (sinus rhythm,
one person's heart, noise and wander); only the implanted evidence, which lies inside the exact
masks, separates the classes. Multi-label: a quarter of the records with a diagnosis carry a second,
compatible one, and about one record in nine carries none. Label smoothing (targets 0.05 / 0.95)
keeps the model from saturating, so deleting evidence moves its probability.

Seeded end to end. Writes the model (``.keras``) and its card (same name plus ``.json``): classes,
input convention, recipe, held-out recall per class, the median probability of a present class on
held-out single-diagnosis benchmark records, and the mask-use figures (:mod:`ecgxai.evaluate.mask_use`).

    python scripts/train_benchmark_model.py                 # about 10 minutes on 2 cores
    python scripts/train_benchmark_model.py --records 600 --epochs 2 --out /tmp/bench.keras
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from ecgxai.classes import BENCHMARK_CODES, class_name
from ecgxai.config import STANDARD_LEADS
from ecgxai.evaluate.mask_use import NEUTRALS, mask_use, mask_use_summary
from ecgxai.models.loader import load_model
from ecgxai.models.zoo import BENCHMARK_MODEL_PATH, build_demo_cnn
from ecgxai.synth import LEVEL_RANGES, benchmark_batch, generate_pair
from ecgxai.synth.datasets import record_seed

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before keras is first imported, in train()

#: Seed bases of the data sets, far apart so no record is shared.
TRAIN_SEED, VALIDATION_SEED, HELD_OUT_SEED = 11, 12, 13
LABEL_SMOOTHING = 0.1


def held_out_pairs(seed: int, per_class: int) -> list:
    """Single-diagnosis benchmark pairs, classes interleaved, from the held-out seed."""
    codes = BENCHMARK_CODES
    return [generate_pair(codes[i % len(codes)], record_seed((seed, HELD_OUT_SEED), i), name=f"H{i:05d}")
            for i in range(per_class * len(codes))]


def held_out_scores(model_path: Path, seed: int, per_class: int) -> dict:
    """Recall per class (probability > 0.5), the median probability of the present class, mask use."""
    classifier = load_model(model_path)
    pairs = held_out_pairs(seed, per_class)
    uses = {kind: mask_use(classifier, pairs, kind) for kind in NEUTRALS}
    use = uses["sibling"]
    recall = use.groupby("code", sort=False).p_record.apply(lambda p: float((p > 0.5).mean()))
    summaries = {kind: mask_use_summary(table).set_index("code") for kind, table in uses.items()}
    return {
        "records_per_class": per_class,
        "recall_per_class": {code: round(recall[code], 4) for code in BENCHMARK_CODES},
        "median_present_probability": round(float(use.p_record.median()), 4),
        "median_present_probability_per_class": {
            c: round(summaries["sibling"].p_record[c], 4) for c in BENCHMARK_CODES},
        "mask_use_medians": {kind: {c: {k: round(float(v), 4) for k, v in summary.loc[c].drop("n").items()}
                                    for c in BENCHMARK_CODES} for kind, summary in summaries.items()},
    }


def train(args: argparse.Namespace) -> dict:
    """Generate the data, fit the network and return the recipe part of the model card."""
    import keras

    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    x_train, y_train = benchmark_batch(args.records, (args.seed, TRAIN_SEED), level_ranges=LEVEL_RANGES)
    x_val, y_val = benchmark_batch(args.records // 8, (args.seed, VALIDATION_SEED), level_ranges=LEVEL_RANGES)
    generated = time.perf_counter() - started
    model = build_demo_cnn(x_train.shape[1], x_train.shape[2], len(BENCHMARK_CODES))
    loss = keras.losses.BinaryCrossentropy(label_smoothing=LABEL_SMOOTHING)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=loss)
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_val, y_val), shuffle=True, verbose=2)
    trained = time.perf_counter() - started - generated
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    return {
        "script": "scripts/train_benchmark_model.py",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "seed": args.seed, "training_records": args.records, "epochs": args.epochs,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate, "optimizer": "Adam",
        "loss": f"binary cross-entropy, label smoothing {LABEL_SMOOTHING} (multi-hot labels)",
        "data": "ecgxai.synth.benchmark_batch: one neutral base distribution for every class, 0-2 "
                "implanted diagnoses per record, noise, wander and HRV drawn per record (LEVEL_RANGES)",
        "seconds_generating": round(generated, 1), "seconds_training": round(trained, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
                   f"keras {keras.__version__}",
    }


def model_card(recipe: dict, held_out: dict) -> dict:
    """The card beside the model file."""
    return {
        "name": "benchmark_cnn",
        "description": "Small 1-D CNN (the demo network) trained on ecgxai.synth.benchmark records, where "
                       "only the masked evidence separates the classes; a localisation test bed, not a "
                       "clinical model.",
        "class_names": list(BENCHMARK_CODES),
        "class_labels": [class_name(code) for code in BENCHMARK_CODES],
        "units": "mV", "input_length": 5000, "fs": 500, "lead_names": list(STANDARD_LEADS),
        "input_convention": "signal in mV, 500 Hz, shape (5000, 12) = (time, leads) in the standard "
                            "lead order; shorter records zero-padded at the end, longer ones cut",
        "output": "independent sigmoid probabilities, one per class_names entry",
        "recipe": recipe,
        "held_out": held_out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=4500, help="training records")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--held-out-per-class", type=int, default=50)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--out", type=Path, default=BENCHMARK_MODEL_PATH)
    parser.add_argument("--score-only", action="store_true",
                        help="no training: score the model at --out again and rewrite its card's held_out")
    args = parser.parse_args()
    card_path = args.out.with_name(args.out.name + ".json")
    if args.score_only:
        recipe = json.loads(card_path.read_text())["recipe"]
    else:
        recipe = train(args)
        card_path.write_text(json.dumps(model_card(recipe, {}), indent=1) + "\n")  # load_model reads it
    card = model_card(recipe, held_out_scores(args.out, args.seed, args.held_out_per_class))
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    print(json.dumps(card["held_out"], indent=1))
    print(f"model: {args.out} ({args.out.stat().st_size / 1e6:.2f} MB); card: {card_path}")


if __name__ == "__main__":
    main()
