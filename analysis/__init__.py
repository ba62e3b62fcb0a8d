"""The vectorised numpy core: the ``Readings`` batch, limit levels and events.

Pure functions over arrays, no I/O. Imports only ``hazmon.config``.
"""

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.quality import Quality

__all__ = ["Channel", "ChannelTable", "Quality", "Readings"]
