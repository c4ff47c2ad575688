"""Train the bundled demo classifier on synthetic ECGs from ``ecgxai.synth``.

Seeded end to end: the same command gives the same training data and the same
held-out scores (weights can differ in the last digits between TensorFlow builds).
Writes the model (``.keras``) and its model card (the same name plus ``.json``)
with the classes, the input convention, this recipe and the held-out accuracy per class.

    python scripts/train_demo_model.py                # about 5 minutes on 2 cores
    python scripts/train_demo_model.py --per-class 100 --epochs 2 --out /tmp/demo.keras
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ecgxai.classes import class_name
from ecgxai.config import STANDARD_LEADS
from ecgxai.models.zoo import DEMO_MODEL_PATH, build_demo_cnn
from ecgxai.synth import SYNTH_CODES, synthetic_batch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before keras is first imported, in train()

#: Seed bases of the three data sets, far apart so no record is shared.
TRAIN_SEED, VALIDATION_SEED, HELD_OUT_SEED = 1, 2, 3


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) class indices to (N, C) float32 targets."""
    return np.eye(n_classes, dtype=np.float32)[labels]


def per_class_recall(probs: np.ndarray, labels: np.ndarray, codes: tuple[str, ...]) -> dict[str, float]:
    """Share of each class's records whose highest probability is that class."""
    predicted = probs.argmax(axis=1)
    return {code: float((predicted[labels == k] == k).mean()) for k, code in enumerate(codes)}


def train(args: argparse.Namespace) -> dict:
    """Generate the data, fit the network, score it on held-out records and return the model card."""
    import keras

    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    x_train, y_train = synthetic_batch(args.per_class, seed=(args.seed, TRAIN_SEED), randomise_levels=True)
    x_val, y_val = synthetic_batch(args.per_class // 4, seed=(args.seed, VALIDATION_SEED),
                                   randomise_levels=True)
    generated = time.perf_counter() - started
    model = build_demo_cnn(x_train.shape[1], x_train.shape[2], len(SYNTH_CODES))
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss="binary_crossentropy")
    model.fit(x_train, one_hot(y_train, len(SYNTH_CODES)), batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_val, one_hot(y_val, len(SYNTH_CODES))), shuffle=True, verbose=2)
    trained = time.perf_counter() - started - generated
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)

    x_test, y_test = synthetic_batch(args.per_class // 4, seed=(args.seed, HELD_OUT_SEED),
                                     randomise_levels=True)
    recall = per_class_recall(model.predict(x_test, batch_size=64, verbose=0), y_test, SYNTH_CODES)
    return {
        "name": "demo_cnn",
        "description": "Small 1-D CNN trained on ecgxai.synth records; a demo and test bed, "
                       "not a clinical model.",
        "class_names": list(SYNTH_CODES),
        "class_labels": [class_name(code) for code in SYNTH_CODES],
        "units": "mV",
        "input_length": int(x_train.shape[1]),
        "fs": 500,
        "lead_names": list(STANDARD_LEADS),
        "input_convention": "signal in mV, 500 Hz, shape (5000, 12) = (time, leads) in the standard "
                            "lead order; shorter records zero-padded at the end, longer ones cut",
        "output": "independent sigmoid probabilities, one per class_names entry",
        "recipe": {
            "script": "scripts/train_demo_model.py",
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "seed": args.seed, "records_per_class": args.per_class, "epochs": args.epochs,
            "batch_size": args.batch_size, "learning_rate": args.learning_rate,
            "optimizer": "Adam", "loss": "binary cross-entropy on one-hot primary diagnosis",
            "noise_and_wander": "levels drawn per record (randomise_levels=True)",
            "seconds_generating": round(generated, 1), "seconds_training": round(trained, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
                       f"keras {keras.__version__}",
        },
        "held_out": {
            "records_per_class": args.per_class // 4,
            "recall_per_class": {code: round(value, 4) for code, value in recall.items()},
            "balanced_accuracy": round(float(np.mean(list(recall.values()))), 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=400, help="training records per class")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=DEMO_MODEL_PATH)
    args = parser.parse_args()
    card = train(args)
    card_path = args.out.with_name(args.out.name + ".json")
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    print(json.dumps(card["held_out"], indent=1))
    print(f"model: {args.out} ({args.out.stat().st_size / 1e6:.2f} MB); card: {card_path}")


if __name__ == "__main__":
    main()
