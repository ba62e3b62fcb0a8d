"""Config errors that name the file, the key, the bad value and what to do."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Tag, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(ValueError):
    """A config file is missing, unreadable or invalid.

    The message lists one line per problem: ``file: key = value: what is wrong``.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {source}: {problem}" for problem in problems)
        super().__init__(f"invalid config {source}:\n{lines}")


def _key_path(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def _lookup(data: Any, location: tuple[int | str, ...]) -> tuple[bool, Any]:
    """Follow ``location`` into the raw TOML data; pydantic's own ``input`` is the
    parent table for missing keys, so this tells "missing" from "bad value"."""
    current = data
    for item in location:
        # Two branches, not one "or": mypy narrows the index type per branch.
        if isinstance(current, Mapping) and item in current:  # noqa: SIM114
            current = current[item]
        elif isinstance(current, list) and isinstance(item, int) and item < len(current):
            current = current[item]
        else:
            return False, None
    return True, current


def _walk(
    model: type[BaseModel] | None, location: tuple[int | str, ...]
) -> tuple[tuple[int | str, ...], list[str]]:
    """Follow ``location`` through ``model``'s fields.

    Returns the location without the tags of discriminated unions (pydantic puts the
    chosen member's tag in the path: ``devices[0].mqtt.unit_id``, where the file says
    ``devices[0].unit_id``) and the keys the table at the end accepts (empty when
    unknown).
    """
    kept: list[int | str] = []
    current: Any = model
    for item in location:
        if isinstance(item, int):
            kept.append(item)
            continue  # an array of tables: the element's model is the same
        member = _tagged_member(current, item)
        if member is not None:
            current = member
            continue
        found = _model_in(current)
        field = None
        if isinstance(found, type) and issubclass(found, BaseModel):
            field = next(
                (f for name, f in found.model_fields.items() if (f.alias or name) == item),
                None,
            )
        kept.append(item)
        current = None if field is None else field.annotation
    found = _model_in(current)
    keys = (
        sorted(f.alias or name for name, f in found.model_fields.items())
        if isinstance(found, type) and issubclass(found, BaseModel)
        else []
    )
    return tuple(kept), keys


def _tagged_member(annotation: Any, tag: str) -> Any:
    """The member of a tagged union in ``annotation`` whose ``Tag`` is ``tag``."""
    for extra in getattr(annotation, "__metadata__", ()):
        if isinstance(extra, Tag) and extra.tag == tag:
            return annotation.__origin__
    for argument in getattr(annotation, "__args__", ()):
        found = _tagged_member(argument, tag)
        if found is not None:
            return found
    return None


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside ``X``, ``list[X]``, ``X | None`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def format_validation_error(
    error: ValidationError, data: Any, model: type[BaseModel] | None = None
) -> list[str]:
    """Turn a pydantic error into lines of ``key = value: message``.

    With ``model``, an unknown key is answered with the keys valid at that place (a
    typo such as ``[mqtt_typo]`` or ``pol_interval`` is then plain to see).
    """
    problems = []
    for detail in error.errors():
        location = tuple(detail["loc"])
        # Tagged unions and validators add their own names to the path; drop them.
        location = tuple(item for item in location if not str(item).startswith("function-"))
        raw_location = location
        location, _valid = _walk(model, raw_location)
        found, value = _lookup(data, location)
        key = _key_path(location)
        message = detail["msg"]
        if detail["type"] == "missing":
            problems.append(f"{key}: missing; add this key")
        elif detail["type"] == "extra_forbidden":
            _parent, valid = _walk(model, raw_location[:-1])
            hint = f"; valid keys here: {', '.join(valid)}" if valid else ""
            problems.append(f"{key}: unknown key (a typo?){hint}")
        elif found and not isinstance(value, Mapping | list):
            problems.append(f"{key} = {value!r}: {message}")
        else:
            problems.append(f"{key}: {message}")
    return problems


#: Larger than any site or profile file; a bigger one is a wrong path (a log, a dump).
MAX_CONFIG_BYTES = 4 * 1024 * 1024

_SAVE_AS_UTF8 = "save it as UTF-8 (Notepad: 另存为 → 编码 UTF-8) and try again"


def config_text(data: bytes, source: str) -> str:
    """The text of a config file's bytes: UTF-8 (a BOM is dropped), or UTF-16 with a
    BOM; anything else is refused naming what it looks like.

    UTF-16 with a BOM (Notepad's "Unicode") is decoded: the BOM says the encoding
    with certainty, so refusing would only make the user re-save. GBK, UTF-16
    without a BOM and binary cannot be told apart from each other with certainty,
    so they are refused, never guessed.

    Raises
    ------
    ConfigError
        Naming the file, the encoding it looks like and what to do.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise ConfigError(
                source,
                [f"starts as UTF-16 but is not valid UTF-16 ({error.reason}); {_SAVE_AS_UTF8}"],
            ) from error
    bad_at: int | None = data.find(b"\x00")
    if bad_at == -1:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            bad_at = error.start
    assert bad_at is not None
    line = data[:bad_at].count(b"\n") + 1
    looks, advice = _looks_like(data)
    raise ConfigError(
        source,
        [
            f"not UTF-8 text: byte 0x{data[bad_at]:02x} on line {line}; it looks like {looks}; "
            f"{advice}"
        ],
    )


def _looks_like(data: bytes) -> tuple[str, str]:
    """What undecodable config bytes look like, and what to do."""
    head = data[:4096]
    even, odd = head[0::2], head[1::2]
    if even.count(0) > len(even) // 3 or odd.count(0) > len(odd) // 3:
        return "UTF-16 without a byte-order mark", _SAVE_AS_UTF8
    binary = "a binary file, not text", "give the site or profile .toml file"
    if b"\x00" in head:
        return binary
    try:
        head.decode("gb18030")
    except UnicodeDecodeError:
        return binary
    return "GBK/GB18030 (the Windows Chinese default)", _SAVE_AS_UTF8


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning OS, encoding and syntax errors into :class:`ConfigError`
    (see :func:`config_text` for the encodings)."""
    try:
        if path.is_dir():
            raise ConfigError(str(path), ["is a folder, not a file; give the .toml file in it"])
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError as error:
        raise ConfigError(str(path), ["file not found; check the path"]) from error
    except OSError as error:
        raise ConfigError(str(path), [f"cannot read the file: {error.strerror}"]) from error
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            str(path),
            [f"larger than {MAX_CONFIG_BYTES // 1024 // 1024} MiB: not a site or profile file"],
        )
    text = config_text(data, str(path))
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), [f"not valid TOML: {error}"]) from error


def read_bundled_toml(relative: str) -> tuple[str, dict[str, Any]]:
    """Read a TOML file shipped inside ``hazmon.config``; return its name and data."""
    resource = resources.files("hazmon.config").joinpath(relative)
    name = f"hazmon/config/{relative}"
    try:
        text = resource.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ConfigError(name, ["no such bundled file"]) from error
    try:
        return name, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(name, [f"not valid TOML: {error}"]) from error


def bundled_names(folder: str) -> list[str]:
    """Names (file stems) of the bundled TOML files in ``folder``."""
    directory = resources.files("hazmon.config").joinpath(folder)
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in directory.iterdir()
        if entry.name.endswith(".toml")
    )


def validate(
    model: type[ModelT],
    data: dict[str, Any],
    source: str,
    context: dict[str, Any] | None = None,
) -> ModelT:
    """Validate ``data`` as ``model`` (with validation ``context``, e.g. the folder that
    relative paths are taken from); raise :class:`ConfigError` naming ``source``."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        raise ConfigError(source, format_validation_error(error, data, model)) from error
