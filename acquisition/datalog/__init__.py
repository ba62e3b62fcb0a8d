"""Instrument datalogs in, ``Readings`` out: the pandas edge of ``hazmon analyze``.

The reader takes exports as detectors' PC tools write them and says how it read them:

- text files in UTF-8 (with or without BOM), UTF-16 (BOM, or NUL bytes that show it) or
  GB18030 (a superset of GBK, what Chinese-locale Excel and instrument tools write),
  tried as strict decodes in that order; ``.xlsx`` workbooks (first sheet or ``sheet``);
- the delimiter ``,`` ``;`` or tab, chosen as the one under which a header row with a
  time column is followed by rows of the same width;
- a metadata block above the header (instrument, serial, period, set points...) kept
  and shown; a units row under the header (``时间,CO,H2S`` then ``,ppm,ppm``);
- long layout (``time,device,quantity,value,unit``) and wide layout (a time column and
  one column per quantity: ``CO [ppm]``, ``CO (ppm)``, ``CO(ppm)``, ``CO（ppm）``,
  ``CO ppm``, ``CO_ppm``, ``一氧化碳(ppm)``, ``CO Peak (ppm)``);
- one timestamp column or split date and time-of-day columns; ISO times, ``dd/mm/yyyy``
  or ``mm/dd/yyyy`` only when the file itself tells which (some field above 12) or
  ``date_format`` says; epoch seconds, milliseconds, microseconds or nanoseconds told
  apart by magnitude, anything between refused.

Every name matched is data (``config/datalog_names.toml``); exports the automatic
reader cannot place are described by a datalog profile (``config/datalogs/``).
Values are converted to the quantity's canonical unit (the catalogue's linear
conversions; mg/m³ → ppm for gases through the molar mass at the reference state).
A blank value keeps its row as NaN; unreadable text keeps it as NaN flagged
SENSOR_FAULT.

One job a module: ``encoding`` (the text's encoding), ``table`` (delimiter, header row,
the frame below it), ``workbook`` (``.xlsx``), ``metadata`` (the block above the header),
``roles`` (which header cell is what), ``headers`` (a column name's quantity, unit and
value kind), ``times``, ``values`` (numbers and unit conversion), ``layouts`` (long and
wide), ``reader`` (the steps of :func:`read_datalog`), ``store_source``
(:func:`read_store`), ``summary`` (:class:`ReadSummary`), ``result`` (:class:`Datalog`),
``errors`` (:class:`DatalogError`).
"""

from hazmon.acquisition.datalog.errors import DatalogError
from hazmon.acquisition.datalog.headers import quantity_of, split_header
from hazmon.acquisition.datalog.reader import read_datalog
from hazmon.acquisition.datalog.result import Datalog
from hazmon.acquisition.datalog.store_source import read_store
from hazmon.acquisition.datalog.summary import NOT_STATED, ColumnRead, Ignored, ReadSummary, iso_utc

__all__ = [
    "NOT_STATED",
    "ColumnRead",
    "Datalog",
    "DatalogError",
    "Ignored",
    "ReadSummary",
    "iso_utc",
    "quantity_of",
    "read_datalog",
    "read_store",
    "split_header",
]
