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


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning OS and syntax errors into :class:`ConfigError`."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as error:
        raise ConfigError(str(path), ["file not found; check the path"]) from error
    except OSError as error:
        raise ConfigError(str(path), [f"cannot read the file: {error.strerror}"]) from error
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
