"""Heat stress: WBGT and its limit by labour intensity and exposure-time rate.

References
----------
GBZ 2.2-2007 heat stress (WBGT indices and the limit matrix, as quoted in
docs/standards.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hazmon.config.standards import LimitRow


def wbgt_indoor(natural_wet_bulb: ArrayLike, globe: ArrayLike) -> NDArray[np.float64]:
    """Indoor (no solar load) WBGT ``= 0.7 t_nw + 0.3 t_g``.

    Parameters
    ----------
    natural_wet_bulb : [°C]
    globe : [°C]
    """
    return np.asarray(
        0.7 * np.asarray(natural_wet_bulb, dtype=np.float64)
        + 0.3 * np.asarray(globe, dtype=np.float64),
        dtype=np.float64,
    )


def wbgt_outdoor(
    natural_wet_bulb: ArrayLike, globe: ArrayLike, dry_bulb: ArrayLike
) -> NDArray[np.float64]:
    """Outdoor (solar load) WBGT ``= 0.7 t_nw + 0.2 t_g + 0.1 t_d``.

    Parameters
    ----------
    natural_wet_bulb, globe, dry_bulb : [°C]
    """
    return np.asarray(
        0.7 * np.asarray(natural_wet_bulb, dtype=np.float64)
        + 0.2 * np.asarray(globe, dtype=np.float64)
        + 0.1 * np.asarray(dry_bulb, dtype=np.float64),
        dtype=np.float64,
    )


def wbgt_limit_row(
    rows: Sequence[LimitRow], labour_intensity: str, exposure_rate: float
) -> LimitRow | None:
    """The WBGT matrix cell for a workplace.

    An exposure-time rate between the table's columns takes the next higher column
    (25, 50, 75, 100 %): the stricter limit.

    Parameters
    ----------
    rows
        ``kind = "wbgt"`` rows with ``where.labour_intensity`` and ``where.exposure_rate``.
    labour_intensity
        ``I`` to ``IV``.
    exposure_rate : [%]
        Share of the working day spent exposed.
    """
    cells = [
        row
        for row in rows
        if row.kind == "wbgt" and row.qualifier("labour_intensity") == labour_intensity
    ]
    candidates = [
        row for row in cells if float(row.qualifier("exposure_rate") or 0) >= exposure_rate - 1e-9
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda row: float(row.qualifier("exposure_rate") or 0))
