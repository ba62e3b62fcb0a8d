"""The ``Readings`` batch: one row per sample, as columns of numpy arrays.

Every layer passes readings in this shape. A row is (``ts``, ``channel``, ``value``,
``quality``): the time in integer nanoseconds since the Unix epoch (UTC), an index
into a :class:`ChannelTable`, the value in the quantity's canonical unit, and the
quality bit flags of :class:`hazmon.config.quality.Quality`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True, slots=True)
class Channel:
    """What a channel measures: one named channel of one device at one site.

    ``name`` is the profile's channel name (``co_inlet``); two channels of one quantity
    on one meter differ by it. An empty name (readings from a file that names none)
    stands for the quantity itself.
    """

    site: str
    device: str
    quantity: str
    unit: str
    substance: str = ""
    name: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """The identity of the channel (site, device, name, quantity, substance)."""
        return (self.site, self.device, self.name, self.quantity, self.substance)

    @property
    def label(self) -> str:
        """``device/name`` (``device/quantity`` when unnamed) for tables and messages."""
        return f"{self.device}/{self.name or self.quantity}"


@dataclass(slots=True)
class ChannelTable:
    """The channels a pipeline knows; a reading's ``channel`` indexes this table.

    Channels are only ever appended, so an index stays valid for the table's life.
    """

    channels: list[Channel] = field(default_factory=list)
    _index: dict[tuple[str, str, str, str, str], int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {channel.key: number for number, channel in enumerate(self.channels)}

    def add(self, channel: Channel) -> int:
        """Return the index of ``channel``, appending it when new."""
        number = self._index.get(channel.key)
        if number is None:
            number = len(self.channels)
            self.channels.append(channel)
            self._index[channel.key] = number
        return number

    def __getitem__(self, number: int) -> Channel:
        return self.channels[number]

    def __len__(self) -> int:
        return len(self.channels)

    def quantities(self) -> NDArray[np.str_]:
        """The quantity of every channel, as an array indexed by channel number."""
        return np.array([channel.quantity for channel in self.channels], dtype=np.str_)


@dataclass(frozen=True, slots=True)
class Readings:
    """A columnar batch of readings.

    Attributes
    ----------
    ts : NDArray[np.int64]
        Sample time [ns since 1970-01-01 UTC].
    channel : NDArray[np.int32]
        Index into the pipeline's :class:`ChannelTable`.
    value : NDArray[np.float64]
        Value in the quantity's canonical unit; NaN when the reading has no value
        (its quality says why).
    quality : NDArray[np.uint16]
        :class:`~hazmon.config.quality.Quality` bit flags; 0 is OK.
    """

    ts: NDArray[np.int64]
    channel: NDArray[np.int32]
    value: NDArray[np.float64]
    quality: NDArray[np.uint16]

    def __post_init__(self) -> None:
        lengths = {len(self.ts), len(self.channel), len(self.value), len(self.quality)}
        if len(lengths) != 1:
            raise ValueError(
                f"Readings columns differ in length: ts {len(self.ts)}, channel "
                f"{len(self.channel)}, value {len(self.value)}, quality {len(self.quality)}"
            )

    @classmethod
    def from_columns(
        cls, ts: ArrayLike, channel: ArrayLike, value: ArrayLike, quality: ArrayLike | None = None
    ) -> Self:
        """Build a batch, casting each column to its dtype (quality defaults to OK)."""
        value_array = np.asarray(value, dtype=np.float64)
        quality_array = (
            np.zeros(value_array.shape, dtype=np.uint16)
            if quality is None
            else np.asarray(quality, dtype=np.uint16)
        )
        return cls(
            ts=np.asarray(ts, dtype=np.int64),
            channel=np.asarray(channel, dtype=np.int32),
            value=value_array,
            quality=quality_array,
        )

    @classmethod
    def empty(cls) -> Self:
        """A batch with no rows."""
        return cls.from_columns([], [], [], [])

    @classmethod
    def concat(cls, batches: list[Readings]) -> Readings:
        """Join batches end to end (no sorting)."""
        if not batches:
            return cls.empty()
        return cls(
            ts=np.concatenate([batch.ts for batch in batches]),
            channel=np.concatenate([batch.channel for batch in batches]),
            value=np.concatenate([batch.value for batch in batches]),
            quality=np.concatenate([batch.quality for batch in batches]),
        )

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> Readings:
        """Rows selected by an index array or a boolean mask."""
        return Readings(
            ts=self.ts[index],
            channel=self.channel[index],
            value=self.value[index],
            quality=self.quality[index],
        )

    def sort_order(self) -> NDArray[np.intp]:
        """Indices that sort the rows by channel, then time (stable)."""
        return np.lexsort((self.ts, self.channel))

    def sorted(self) -> Readings:
        """The rows sorted by channel, then time."""
        return self.take(self.sort_order())
