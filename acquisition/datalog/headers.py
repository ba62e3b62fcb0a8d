"""Column names to quantity, unit and value kind (``CO Peak (ppm)`` → co, ppm, peak)."""

from __future__ import annotations

import re

from hazmon.config.catalogue import load_catalogue
from hazmon.config.datalog import DatalogNames, load_datalog_names

_FULL_WIDTH = str.maketrans({"（": "(", "）": ")", "［": "[", "］": "]", "　": " ", "：": ":"})
_SQUARE = re.compile(r"^(?P<name>.*?)\s*\[(?P<unit>[^\]]*)\]\s*$")
_PAREN = re.compile(r"^(?P<name>.*?)\s*\((?P<unit>.*)\)\s*$")


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_FULL_WIDTH)).strip().lower()


def quantity_of(name: str, names: DatalogNames | None = None) -> str | None:
    """The catalogue quantity a column or row names (``CO`` → ``co``, ``一氧化碳`` → ``co``)."""
    names = names or load_datalog_names()
    catalogue = load_catalogue()
    key = _normal(name)
    for filler in names.filler:
        if key != filler:
            key = re.sub(rf"(^|[\s_\-]){re.escape(filler)}($|[\s_\-])", " ", key).strip()
            if not filler.isascii():
                key = key.replace(filler, "").strip()
    candidates = [key, re.sub(r"[\s.\-]+", "_", key), key.replace(" ", "")]
    for candidate in candidates:
        if candidate in catalogue.quantities:
            return candidate
        if candidate in names.quantities:
            return names.quantities[candidate]
    for quantity, spec in catalogue.quantities.items():
        if spec.name.lower() == key:
            return quantity
    return None


def _resolve_unit(text: str, quantity: str, names: DatalogNames) -> str:
    """The catalogue spelling of a unit written in an export."""
    written = text.translate(_FULL_WIDTH).strip()
    unit = names.units.get(written.lower(), written)
    canonical = load_catalogue().spec(quantity).unit
    # A bare % in a combustible-gas column is %LEL; in an oxygen column, %vol.
    if unit == "%" and canonical.startswith("%"):
        return canonical
    return unit


def _known_unit(text: str, names: DatalogNames) -> bool:
    written = text.translate(_FULL_WIDTH).strip().lower()
    if written in names.units:
        return True
    catalogue = load_catalogue()
    return any(
        written == spec.unit.lower() or written in (unit.lower() for unit in spec.units)
        for spec in catalogue.quantities.values()
    )


def _take_kind(name: str, names: DatalogNames) -> tuple[str, str | None]:
    """Remove a value-kind word (``Peak``, ``Avg``, ``峰值``) from a header name."""
    words = sorted(names.kind_words().items(), key=lambda item: -len(item[0]))
    lowered = name.lower()
    for word, kind in words:
        if word.isascii():
            pattern = rf"(^|[\s_\-/]){re.escape(word)}($|[\s_\-/])"
            if re.search(pattern, lowered):
                return re.sub(pattern, " ", lowered).strip(" _-/"), kind
        elif word in lowered:
            return lowered.replace(word, " ").strip(" _-/"), kind
    return lowered, None


def split_header(
    header: str, names: DatalogNames | None = None
) -> tuple[str, str | None, str | None]:
    """A quantity header's name, unit and value kind.

    ``CO [ppm]``, ``CO (ppm)``, ``CO(ppm)``, ``CO（ppm）``, ``CO ppm``, ``CO_ppm`` all give
    ``("co", "ppm", None)``; ``CO Peak (ppm)`` gives ``("co", "ppm", "peak")``.
    """
    names = names or load_datalog_names()
    text = re.sub(r"\s+", " ", header.translate(_FULL_WIDTH)).strip()
    name, unit = text, None
    tail = re.split(r"[ _](?=[^ _]+$)", text)
    if len(tail) == 2 and _known_unit(tail[1], names):
        name, unit = tail
    else:
        for pattern in (_SQUARE, _PAREN):
            match = pattern.match(text)
            if match is not None and match["name"]:
                name, unit = match["name"], match["unit"].strip()
                break
    name, kind = _take_kind(name, names)
    return name.strip(), unit, kind
