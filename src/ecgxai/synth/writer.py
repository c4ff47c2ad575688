"""Write synthetic records in the PhysioNet/CinC Challenge format, with their ground truth beside them.

``NAME.mat`` is MATLAB v4 holding ``val``: int16 (12, n_samples) in uV (gain 1000/mV, baseline 0);
``NAME.hea`` is a WFDB header written like the Challenge's own (``1000/mV``, ``#Dx:`` comments);
``NAME.mask.json`` is the :class:`~ecgxai.synth.groundtruth.GroundTruth`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.io

from ecgxai.errors import ConfigurationError
from ecgxai.synth.generator import GAIN, SyntheticECG, header_comments
from ecgxai.synth.groundtruth import mask_path, write_ground_truth

#: Bytes before the samples in a MATLAB v4 file holding one variable named ``val``.
MAT4_VAL_OFFSET = 24
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def checksum(values: np.ndarray) -> int:
    """WFDB checksum of one lead: the sum of its samples as a signed 16-bit integer."""
    total = int(np.asarray(values, dtype=np.int64).sum()) % 65536
    return total - 65536 if total > 32767 else total


def header_text(ecg: SyntheticECG, name: str, digital: np.ndarray) -> str:
    """The ``.hea`` text for ``digital`` (leads, samples) int16 stored in ``NAME.mat``."""
    fs = int(ecg.fs) if float(ecg.fs).is_integer() else ecg.fs
    lines = [f"{name} {len(ecg.lead_names)} {fs} {digital.shape[1]}"]
    for lead, row in zip(ecg.lead_names, digital, strict=True):
        fmt = f"16+{MAT4_VAL_OFFSET}"
        lines.append(f"{name}.mat {fmt} {GAIN:g}/mV 16 0 {int(row[0])} {checksum(row)} 0 {lead}")
    lines += [f"#{line}" for line in header_comments(ecg)]
    return "\n".join(lines) + "\n"


def check_record_name(name: str) -> str:
    """Refuse names WFDB cannot use (empty, path separators, spaces...)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(f"record name must be letters, digits, '_' or '-', got {name!r}")
    return name


def write_synthetic(ecg: SyntheticECG, out_dir: str | Path, name: str) -> Path:
    """Write ``NAME.mat``, ``NAME.hea`` and ``NAME.mask.json`` into ``out_dir``; returns ``out_dir/NAME``
    (the record base path that :func:`ecgxai.io.read_record` and :func:`load_mask` accept)."""
    name = check_record_name(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ecg = ecg.renamed(name)
    digital = ecg.digital()
    base = out / name
    scipy.io.savemat(str(base.with_suffix(".mat")), {"val": digital}, format="4")
    base.with_suffix(".hea").write_text(header_text(ecg, name, digital))
    write_ground_truth(ecg.ground_truth, mask_path(base))
    return base
