"""Turn pydantic's validation errors into one ConfigError that names key paths, file positions and fixes."""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import ValidationError

from ..errors import ConfigError
from .schema import known_keys, submodel_at

_TYPE_WORDS = {
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "missing": "is required",
}


def _dotted(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    return tuple(str(part) for part in loc)


def _one_problem(error: dict, path: Path | None, positions: dict, sources: dict[str, str]) -> str:
    loc = _dotted(tuple(error["loc"]))
    dotted = ".".join(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = submodel_at(loc[:-1])
        choices = known_keys(parent) if parent else []
        close = difflib.get_close_matches(loc[-1], choices, n=1, cutoff=0.5)
        message = f"unknown key {loc[-1]!r}"
        message += f"; did you mean {close[0]!r}?" if close else f"; valid keys here: {', '.join(choices)}"
    elif kind == "missing":
        message = "is required"
    elif kind == "value_error":  # our own validators' messages say what is wrong and what is allowed
        message = str(error["msg"]).removeprefix("Value error, ")
    else:
        words = _TYPE_WORDS.get(kind, error["msg"])
        given = error.get("input")
        message = f"{words}, got {given!r}" if kind in _TYPE_WORDS else f"{error['msg']} (got {given!r})"
    origin = sources.get(dotted) or _source_of_parent(loc, sources)
    where = ""
    if origin and origin.startswith("env "):
        where = f" (from {origin[4:]})"
    elif origin and origin.startswith("flag"):
        where = f" (from {origin})"
    elif path is not None:
        position = positions.get(loc) or positions.get(loc[:-1])
        where = f" ({path}:{position[0]}:{position[1]})" if position else f" ({path})"
    return f"{dotted}: {message}{where}"


def _source_of_parent(loc: tuple[str, ...], sources: dict[str, str]) -> str | None:
    prefix = ".".join(loc)
    for key, label in sources.items():
        if key.startswith(prefix + ".") or key == prefix:
            return label
    return None


def describe_problems(
    exc: ValidationError, *, path: Path | None, positions: dict, sources: dict[str, str]
) -> ConfigError:
    errors = exc.errors(include_url=False)
    lines = [_one_problem(dict(error), path, positions, sources) for error in errors]
    first = errors[0]
    loc = _dotted(tuple(first["loc"]))
    position = positions.get(loc) or positions.get(loc[:-1])
    noun = "problem" if len(lines) == 1 else f"{len(lines)} problems"
    message = f"invalid configuration, {noun}:\n    " + "\n    ".join(lines)
    error = ConfigError(
        message,
        hint="fix the key(s) above; `wb config show` lists every key and its default",
    )
    error.path = str(path) if path else None
    error.key = ".".join(loc)
    error.line, error.column = position if position else (None, None)
    return error
