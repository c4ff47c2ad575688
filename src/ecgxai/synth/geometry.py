"""Lead geometry: how a 3-D cardiac dipole and the nine electrode potentials become 12 leads.

Axes of the dipole: x = patient's left, y = inferior (towards the feet), z = anterior.
"""

from __future__ import annotations

import numpy as np

from ecgxai.config import STANDARD_LEADS

LEAD_NAMES: tuple[str, ...] = STANDARD_LEADS

#: Precordial leads: horizontal-plane angle (degrees from +x towards +z), inferior tilt, gain.
#: The gains stand for the electrodes' proximity to the heart (V2-V4 carry the largest QRS).
PRECORDIAL: dict[str, tuple[float, float, float]] = {
    "V1": (115.0, 0.00, 1.00),
    "V2": (94.0, 0.00, 1.35),
    "V3": (75.0, 0.05, 1.45),
    "V4": (58.0, 0.10, 1.40),
    "V5": (32.0, 0.12, 1.20),
    "V6": (5.0, 0.15, 1.00),
}

#: Electrodes whose potentials make up the 12 leads (Wilson terminal = mean of RA, LA, LL).
ELECTRODES: tuple[str, ...] = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")


def frontal_vector(angle_deg: float) -> np.ndarray:
    """Unit lead vector in the frontal plane (0 deg = lead I, +90 deg = aVF)."""
    a = np.deg2rad(angle_deg)
    return np.array([np.cos(a), np.sin(a), 0.0])


def dipole_lead_matrix() -> np.ndarray:
    """(12, 3) matrix projecting the heart dipole onto the standard leads.

    Limb leads follow Einthoven's triangle exactly (III = II - I, aVR = -(I + II)/2, ...), so the
    synthetic limb leads obey the same identities as recorded ones.
    """
    lead_i, lead_ii = frontal_vector(0.0), frontal_vector(60.0)
    limb = {
        "I": lead_i,
        "II": lead_ii,
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
    }
    rows = [limb[name] if name in limb else _precordial_vector(name) for name in LEAD_NAMES]
    return np.vstack(rows)


def _precordial_vector(name: str) -> np.ndarray:
    angle, tilt, gain = PRECORDIAL[name]
    a = np.deg2rad(angle)
    v = np.array([np.cos(a), tilt, np.sin(a)])
    return gain * v / np.linalg.norm(v)


def electrode_lead_matrix() -> np.ndarray:
    """(12, 9) matrix turning the nine electrode potentials into the 12 leads."""
    ra, la, ll = np.eye(9)[:3]
    wilson = (ra + la + ll) / 3
    limb = [la - ra, ll - ra, ll - la, ra - (la + ll) / 2, la - (ra + ll) / 2, ll - (ra + la) / 2]
    chest = [np.eye(9)[3 + i] - wilson for i in range(6)]
    return np.vstack(limb + chest)


def rotation(about_x_deg: float, about_y_deg: float, about_z_deg: float) -> np.ndarray:
    """3x3 rotation matrix (z then y then x), used to tilt a heart's electrical axis."""
    ax, ay, az = np.deg2rad([about_x_deg, about_y_deg, about_z_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rx @ ry @ rz


DIPOLE_TO_LEADS: np.ndarray = dipole_lead_matrix()
ELECTRODES_TO_LEADS: np.ndarray = electrode_lead_matrix()
