"""Which header cell is what: time, date, time of day, device, quantity, value, unit,
quality, events, bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field

from hazmon.acquisition.datalog.headers import _normal
from hazmon.config.datalog import DatalogNames, DatalogProfile


@dataclass(slots=True)
class _Roles:
    """Which header cell is what."""

    timestamp: int | None = None
    date: int | None = None
    time_of_day: int | None = None
    device: int | None = None
    quantity: int | None = None
    value: int | None = None
    unit: int | None = None
    quality: int | None = None
    events: list[int] = field(default_factory=list)
    bookkeeping: list[int] = field(default_factory=list)


def _roles(header: list[str], names: DatalogNames, profile: DatalogProfile | None) -> _Roles:
    columns = names.columns
    roles = _Roles()
    lowered = [_normal(cell) for cell in header]

    def first(candidates: list[str], taken: set[int]) -> int | None:
        wanted = {word.lower() for word in candidates}
        return next(
            (i for i, cell in enumerate(lowered) if cell in wanted and i not in taken), None
        )

    taken: set[int] = set()
    if profile is not None:
        for index, cell in enumerate(header):
            spec = profile.column(cell)
            if spec is None or spec.role is None:
                continue
            taken.add(index)
            if spec.role == "event":
                roles.events.append(index)
            elif spec.role == "ignore":
                roles.bookkeeping.append(index)
            else:
                setattr(roles, spec.role, index)
    if roles.timestamp is None and roles.date is None:
        date = first(columns.date, taken)
        time_of_day = first(columns.time_of_day, taken | ({date} if date is not None else set()))
        if date is not None and time_of_day is not None:
            roles.date, roles.time_of_day = date, time_of_day
        else:
            timestamp = first(columns.timestamp, taken)
            # A date column alone holds the whole time.
            roles.timestamp = timestamp if timestamp is not None else date
    taken |= {i for i in (roles.timestamp, roles.date, roles.time_of_day) if i is not None}
    for role in ("device", "quantity", "value", "unit", "quality"):
        found = first(getattr(columns, role), taken)
        if found is not None:
            setattr(roles, role, found)
            taken.add(found)
    for index, cell in enumerate(lowered):
        if index in taken:
            continue
        if cell in {word.lower() for word in columns.event}:
            roles.events.append(index)
        elif cell in {word.lower() for word in columns.bookkeeping}:
            roles.bookkeeping.append(index)
    if profile is not None and profile.events is not None:
        wanted = profile.events.column.strip().lower()
        for index, cell in enumerate(lowered):
            if cell == wanted and index not in roles.events:
                roles.events.append(index)
    return roles
