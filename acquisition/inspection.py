"""A run on an inspection the desk recorded: its instruments' calibration dates flag
the readings, and the hazards the run files belong to it (``hazmon run --inspection``).

The desk records each instrument an expert brings (model, serial, calibration due) with
the site device id it is connected as. A site file may carry its own
``calibration_due`` for a device; when both give a date, the earlier wins: an
instrument is no more trustworthy because one of two records forgot its expiry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hazmon.config.site import SiteConfig
from hazmon.store.hazards import Inspection, Instrument


class InspectionMismatch(ValueError):
    """The inspection is of another enterprise than the site file."""


@dataclass(frozen=True, slots=True)
class InspectedSite:
    """A site with the inspection's calibration dates applied.

    Attributes
    ----------
    site
        The site, each device's ``calibration_due`` the earlier of the site file's and
        the inspection's.
    notes
        What a person should read before the run: instruments past their date, dates
        that differ between the two records, instruments with no device of that id.
    """

    site: SiteConfig
    notes: tuple[str, ...]


def apply_inspection(
    site: SiteConfig, inspection: Inspection, inspection_id: int, today: dt.date
) -> InspectedSite:
    """``site`` with the calibration dates of ``inspection`` (see the module docstring).

    Parameters
    ----------
    today
        The date in the site's zone, for "past due" in the notes.

    Raises
    ------
    InspectionMismatch
        The inspection names another enterprise: its hazards would be filed under it.
    """
    if inspection.enterprise.strip() != site.enterprise.strip():
        raise InspectionMismatch(
            f"inspection {inspection_id} is of {inspection.enterprise!r}, the site file of "
            f"{site.enterprise!r}"
        )
    by_device: dict[str, Instrument] = {item.device: item for item in inspection.instruments}
    notes: list[str] = []
    devices = []
    for device in site.devices:
        instrument = by_device.pop(device.id, None)
        if instrument is None:
            devices.append(device)
            continue
        due = instrument.calibration_due
        if device.calibration_due is not None and device.calibration_due != due:
            earlier = min(device.calibration_due, due)
            notes.append(
                f"{device.id}: calibration due {device.calibration_due} in the site file, "
                f"{due} on the inspection; {earlier} (the earlier) applies"
            )
            due = earlier
        if due < today:
            notes.append(
                f"{device.id} ({instrument.model} No. {instrument.serial}): calibration ran "
                f"out on {due}; its readings are flagged CALIBRATION_DUE"
            )
        devices.append(device.model_copy(update={"calibration_due": due}))
    for device_id, instrument in sorted(by_device.items()):
        notes.append(
            f"instrument {instrument.model} No. {instrument.serial} is recorded as device "
            f"{device_id!r}, which the site file does not have; its date is not applied"
        )
    return InspectedSite(site.model_copy(update={"devices": devices}), tuple(notes))
