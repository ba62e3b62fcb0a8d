"""Gas concentration units: ppm ↔ mg/m³ at a stated reference state.

``mg/m³ = ppm × M / V_m`` with ``V_m = 22.414 × (273.15 + t)/273.15 × 101.325/P``
[L/mol] (docs/standards.md). The reference state GBZ 2.1-2019 uses for its mg/m³
limits is unconfirmed, so it is a parameter: :data:`REFERENCE_20C` (20 °C,
101.325 kPa, 24.06 L/mol, the default) and :data:`REFERENCE_25C` (25 °C, 101.325 kPa,
24.45 L/mol, ACGIH) are offered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hazmon.config.standards import molar_volume


@dataclass(frozen=True, slots=True)
class ReferenceState:
    """Temperature and pressure at which ppm and mg/m³ are related.

    Attributes
    ----------
    temperature : [°C]
    pressure : [kPa]
    """

    temperature: float
    pressure: float = 101.325

    @property
    def molar_volume(self) -> float:
        """Molar volume of an ideal gas at this state [L/mol]."""
        return molar_volume(self.temperature, self.pressure)


#: 20 °C, 101.325 kPa: V_m ≈ 24.06 L/mol (the default; GBZ's state is unconfirmed).
REFERENCE_20C = ReferenceState(20.0)
#: 25 °C, 101.325 kPa: V_m ≈ 24.45 L/mol (ACGIH).
REFERENCE_25C = ReferenceState(25.0)


def ppm_to_mg_m3(
    ppm: ArrayLike, molar_mass: float, reference: ReferenceState = REFERENCE_20C
) -> NDArray[np.float64]:
    """Convert a volume fraction to a mass concentration.

    Parameters
    ----------
    ppm : [ppm]
        Concentration by volume.
    molar_mass : [g/mol]
    reference
        State at which the conversion holds.

    Returns
    -------
    NDArray[np.float64] : [mg/m³]
    """
    return np.asarray(ppm, dtype=np.float64) * molar_mass / reference.molar_volume


def mg_m3_to_ppm(
    mg_m3: ArrayLike, molar_mass: float, reference: ReferenceState = REFERENCE_20C
) -> NDArray[np.float64]:
    """Convert a mass concentration to a volume fraction (inverse of :func:`ppm_to_mg_m3`).

    Parameters
    ----------
    mg_m3 : [mg/m³]
    molar_mass : [g/mol]
    reference
        State at which the conversion holds.

    Returns
    -------
    NDArray[np.float64] : [ppm]
    """
    return np.asarray(mg_m3, dtype=np.float64) * reference.molar_volume / molar_mass
