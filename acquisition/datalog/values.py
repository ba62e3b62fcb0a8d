"""Value cells to numbers in the quantity's canonical unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hazmon.acquisition.datalog.errors import DatalogError
from hazmon.analysis.units import ReferenceState, mg_m3_to_ppm
from hazmon.config.catalogue import UnknownUnitError, load_catalogue
from hazmon.config.quality import Quality

_DECIMAL_COMMA = r"^[+-]?\d+,\d+$"


def _values(
    column: pd.Series, decimal_comma: bool | None
) -> tuple[NDArray[np.float64], NDArray[np.uint16], NDArray[np.bool_]]:
    """Numbers, the quality of unreadable text, and which were blank."""
    text = column.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy(bool)
    if decimal_comma is not False:
        comma = text.str.fullmatch(_DECIMAL_COMMA).fillna(False).to_numpy(bool)
        if comma.any() and (decimal_comma or comma.sum() == (~blank).sum()):
            text = text.str.replace(",", ".", regex=False)
    # Not pd.to_numeric: its parser is not round-trip exact (20.900000000000002 → 20.9).
    # pd.to_numeric only finds the numbers (fast); astype reads them exactly.
    numeric = pd.to_numeric(text, errors="coerce").notna()
    number = text.where(numeric).astype("float64").to_numpy(np.float64, na_value=np.nan)
    # 1e400 or a 400-digit integer is a number to pandas, inf to float64: no reading.
    number[np.isinf(number)] = np.nan
    unreadable = ~blank & np.isnan(number)
    quality = np.where(unreadable, np.uint16(Quality.SENSOR_FAULT), np.uint16(0))
    return np.asarray(number, dtype=np.float64), quality.astype(np.uint16), np.asarray(blank)


def _convert(
    value: NDArray[np.float64],
    quantity: str,
    unit: str,
    reference: ReferenceState,
    where: str,
    source: str,
) -> NDArray[np.float64]:
    catalogue = load_catalogue()
    spec = catalogue.spec(quantity)
    if unit in ("mg/m³", "mg/m3") and spec.unit == "ppm" and spec.molar_mass:
        return mg_m3_to_ppm(value, spec.molar_mass, reference)
    try:
        conversion = catalogue.conversion(quantity, unit or spec.unit)
    except UnknownUnitError as error:
        raise DatalogError(source, [f"{where}: {error}"]) from error
    return np.asarray(value * conversion.scale + conversion.offset, dtype=np.float64)
