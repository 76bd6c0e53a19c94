"""Limits on the config file as a document, before its keys are validated: a size cap, a nesting cap, no
integer too long for Python to read, no NUL character and no lone surrogate in any key or string.

Each of these once crashed wb (a RecursionError, a ValueError from int(), an `embedded null byte` deep in
the SSH layer, an encoding error when printing). Here they become a ConfigError with the file's line and
column and the key path. Positions are found in the comment-stripped text, whose offsets match the user's.
"""

from __future__ import annotations

import re
from typing import Any

MAX_BYTES = 1024 * 1024  # a real config is a few hundred bytes
MAX_DEPTH = 32  # the schema itself is three levels deep
MAX_INT_DIGITS = 4300  # Python's default limit on int() of a decimal string (sys.get_int_max_str_digits)

# A JSON string, or (outside one) an integer literal longer than Python will turn into an int: digits with
# no fraction or exponent around them (json reads those as floats, which have no such limit).
_LONG_INT = re.compile(
    r'"(?:[^"\\]|\\.)*"|(?<![\w.+-])(?P<digits>-?\d{' + str(MAX_INT_DIGITS + 1) + r",})(?![.\deE])", re.DOTALL
)


def long_integer_offset(text: str) -> int | None:
    """Where the first integer literal with more than MAX_INT_DIGITS digits starts, if any."""
    for match in _LONG_INT.finditer(text):
        if match.group("digits"):
            return match.start("digits")
    return None


def too_deep_offset(text: str, limit: int = MAX_DEPTH) -> int | None:
    """Where the text first opens an object or array more than `limit` levels deep, if it does."""
    depth = 0
    in_string = False
    escaped = False
    for offset, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return offset
        elif char in "]}":
            depth -= 1
    return None


def bad_string(document: Any) -> tuple[tuple[str, ...], str] | None:
    """(key path, what is wrong) for the first key or string holding a NUL or a lone surrogate, if any.

    Walks without recursion; the document's depth was checked before it was parsed."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                problem = _string_problem(key)
                if problem:
                    return (*path, key), f"the key {problem}"
                stack.append(((*path, key), child))
        elif isinstance(value, list):
            stack.extend(((*path, str(index)), child) for index, child in enumerate(value))
        elif isinstance(value, str):
            problem = _string_problem(value)
            if problem:
                return path, f"the value {problem}"
    return None


def _string_problem(text: str) -> str | None:
    if "\0" in text:
        return "contains a NUL character (\\u0000), which no name, path or host can hold"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate ({text[exc.start]!a}), which is not valid Unicode"
    return None
