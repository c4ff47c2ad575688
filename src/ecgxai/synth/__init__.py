"""Seeded synthetic 12-lead ECGs with planted diagnoses and ground-truth evidence masks."""

from ecgxai.classes import BENCHMARK_CODES, SYNTH_CODES, SYNTH_DESCRIPTIONS
from ecgxai.synth.batches import LEVEL_RANGES, synthetic_batch
from ecgxai.synth.benchmark import (
    BenchmarkPair,
    benchmark_batch,
    generate_localisation_benchmark,
    generate_pair,
)
from ecgxai.synth.datasets import generate_dataset, record_seed
from ecgxai.synth.generator import SyntheticECG, generate_ecg
from ecgxai.synth.groundtruth import BeatAnnotation, GroundTruth, load_mask, mask_path, read_ground_truth
from ecgxai.synth.writer import write_synthetic

__all__ = [
    "BENCHMARK_CODES",
    "LEVEL_RANGES",
    "SYNTH_CODES",
    "SYNTH_DESCRIPTIONS",
    "BeatAnnotation",
    "BenchmarkPair",
    "GroundTruth",
    "SyntheticECG",
    "benchmark_batch",
    "generate_dataset",
    "generate_ecg",
    "generate_localisation_benchmark",
    "generate_pair",
    "load_mask",
    "mask_path",
    "read_ground_truth",
    "record_seed",
    "synthetic_batch",
    "write_synthetic",
]
