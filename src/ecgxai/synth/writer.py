"""Write records in the PhysioNet/CinC Challenge format; synthetic ones with their ground truth beside them.

``NAME.mat`` is MATLAB v4 holding ``val``: int16 (leads, n_samples) ADC values; ``NAME.hea`` is a WFDB
header written like the Challenge's own (``16+24`` format, ``#Dx:`` comments).
:func:`write_challenge_record` writes any record (the stability experiment's augmented records);
:func:`write_synthetic` writes a synthetic one (gain 1000/mV, baseline 0) and its
:class:`~ecgxai.synth.groundtruth.GroundTruth` as ``NAME.mask.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from ecgxai.errors import ConfigurationError
from ecgxai.io.files import check_safe_name, file_inside
from ecgxai.io.records import read_header, record_base
from ecgxai.synth.generator import GAIN, SyntheticECG, header_comments
from ecgxai.synth.groundtruth import mask_path, write_ground_truth

#: Byte offset of the samples in a MATLAB v4 file holding one variable named ``val``
#: (20-byte header + ``val\0``); Challenge headers declare it as format ``16+24``.
MAT4_VAL_OFFSET = 24


def check_record_name(name: str) -> str:
    """``name`` when a record may be written under it (:func:`~ecgxai.io.files.check_safe_name`, no dots)."""
    return check_safe_name(name, "record name")


def checksum(values: np.ndarray) -> int:
    """WFDB checksum of one lead: the sum of its samples as a signed 16-bit integer."""
    total = int(np.asarray(values, dtype=np.int64).sum())
    return (total + 32768) % 65536 - 32768


def write_challenge_record(
    out_dir: str | Path,
    name: str,
    digital: np.ndarray,
    *,
    fs: float,
    lead_names: Sequence[str],
    gain: Sequence[float] | np.ndarray,
    baseline: Sequence[int] | np.ndarray,
    comments: Sequence[str] = (),
    template: Path | None = None,
) -> Path:
    """Write ``out_dir/name.mat`` (MATLAB v4, int16 ``val`` (leads, samples)) and ``name.hea``.

    ``digital`` is (time, leads) int16. ``comments`` are header comment lines without
    the leading ``#`` (``Age: 81``, ``Dx: 164889003``, ...). ``template`` (a record path)
    lends its header's date/time fields, units, ADC resolution and zero. Returns the
    record's base path (``out_dir/name``), which :func:`ecgxai.read_record` reads.
    """
    check_record_name(name)
    digital = np.asarray(digital)
    if digital.dtype != np.int16 or digital.ndim != 2 or digital.shape[1] != len(lead_names):
        raise ConfigurationError(f"digital must be (time, {len(lead_names)}) int16, got "
                                 f"{digital.dtype} {digital.shape}")
    mat, hea = file_inside(out_dir, f"{name}.mat"), file_inside(out_dir, f"{name}.hea")
    lines = _header_lines(name, digital, fs, lead_names, gain, baseline, template)
    lines += [f"#{line}" for line in comments]
    scipy.io.savemat(str(mat), {"val": np.ascontiguousarray(digital.T)}, format="4")
    hea.write_text("\n".join(lines) + "\n")
    return mat.with_suffix("")


def write_synthetic(ecg: SyntheticECG, out_dir: str | Path, name: str) -> Path:
    """Write ``NAME.mat``, ``NAME.hea`` and ``NAME.mask.json`` into ``out_dir``; returns ``out_dir/NAME``
    (the record base path that :func:`ecgxai.io.read_record` and :func:`load_mask` accept)."""
    name = check_record_name(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ecg = ecg.renamed(name)
    n_leads = len(ecg.lead_names)
    base = write_challenge_record(out, name, ecg.digital().T, fs=ecg.fs, lead_names=ecg.lead_names,
                                  gain=[GAIN] * n_leads, baseline=[0] * n_leads,
                                  comments=header_comments(ecg))
    write_ground_truth(ecg.ground_truth, mask_path(base))
    return base


def _header_lines(name: str, digital: np.ndarray, fs: float, lead_names: Sequence[str],
                  gain: Sequence[float] | np.ndarray, baseline: Sequence[int] | np.ndarray,
                  template: Path | None) -> list[str]:
    """The record line and one signal line per lead of the ``.hea`` file (no comments)."""
    extra, fields = _header_template(template)
    n_samples, n_leads = digital.shape
    lines = [" ".join([name, str(n_leads), _number(fs), str(n_samples), *extra])]
    for j, lead in enumerate(lead_names):
        units = fields.get("units", ["mV"] * n_leads)[j] or "mV"
        adc_res = fields.get("adc_res", [16] * n_leads)[j]
        adc_zero = int(fields.get("adc_zero", [0] * n_leads)[j] or 0)
        block = fields.get("block_size", [0] * n_leads)[j] or 0
        base = int(baseline[j])
        gain_text = _number(gain[j]) + (f"({base})" if base != adc_zero else "")
        init = int(digital[0, j]) if n_samples else 0
        lines.append(f"{name}.mat 16+{MAT4_VAL_OFFSET} {gain_text}/{units} {adc_res} {adc_zero} "
                     f"{init} {checksum(digital[:, j])} {block} {lead}")
    return lines


def _header_template(path: Path | None) -> tuple[list[str], dict[str, list[Any]]]:
    """Extra first-line fields (date, time) and per-lead units/resolution/zero of the source header."""
    if path is None:
        return [], {}
    header = record_base(path).with_suffix(".hea")
    if not header.is_file():
        return [], {}
    rec = read_header(header)
    first = next((line for line in header.read_text(errors="replace").splitlines()
                  if line.strip() and not line.lstrip().startswith("#")), "")
    fields = {"units": rec.units, "adc_res": rec.adc_res, "adc_zero": rec.adc_zero,
              "block_size": rec.block_size}
    return first.split()[4:], {k: list(v) for k, v in fields.items() if v is not None}


def _number(value: float) -> str:
    """A header number: ``500`` rather than ``500.0``; full precision otherwise."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)

