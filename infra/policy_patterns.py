"""Pattern matching for the offline IAM evaluator: globs, policy variables and ARN parts."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

ContextValue = str | Sequence[str]
Lookup = Callable[[str], ContextValue | None]


class UnsupportedPolicy(ValueError):
    """The policy uses an element or operator this evaluator does not implement."""


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_WITH_DEFAULT = re.compile(r"^\s*([^,\s]+)\s*,\s*'([^']*)'\s*$")
_SPECIAL_VARIABLES = {"*": "*", "?": "?", "$": "$"}


def glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """`*` is any run of characters (`/` and `:` included), `?` is one character, the rest is literal."""
    return _compile([(char, False) for char in pattern], ignore_case=ignore_case)


# A substituted pattern is a list of (character, literal): characters that came from a variable's value
# are literal even when they are `*` or `?`.
_Token = tuple[str, bool]


def _tokens(pattern: str, lookup: Lookup) -> list[_Token] | None:
    """None when a variable has no value (and no default): the element then matches nothing."""
    tokens: list[_Token] = []
    position = 0
    for variable in _VARIABLE.finditer(pattern):
        tokens.extend((char, False) for char in pattern[position : variable.start()])
        value = _variable_value(variable.group(1), lookup)
        if value is None:
            return None
        tokens.extend((char, True) for char in value)
        position = variable.end()
    tokens.extend((char, False) for char in pattern[position:])
    return tokens


def _compile(tokens: list[_Token], *, ignore_case: bool = False) -> re.Pattern[str]:
    regex = "".join(
        re.escape(char) if literal else ".*" if char == "*" else "." if char == "?" else re.escape(char)
        for char, literal in tokens
    )
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def substituted_glob(pattern: str, lookup: Lookup, *, ignore_case: bool = False) -> re.Pattern[str] | None:
    """The pattern as a regex: its own `*`/`?` are wildcards, text from variables is literal."""
    tokens = _tokens(pattern, lookup)
    return None if tokens is None else _compile(tokens, ignore_case=ignore_case)


def literal_outside_variables(pattern: str) -> str:
    """For operators without wildcards: `*` and `?` outside variables become the literal `${*}` / `${?}`."""
    pieces: list[str] = []
    position = 0
    for variable in _VARIABLE.finditer(pattern):
        pieces.append(_escape(pattern[position : variable.start()]))
        pieces.append(variable.group(0))
        position = variable.end()
    pieces.append(_escape(pattern[position:]))
    return "".join(pieces)


def _escape(text: str) -> str:
    return text.replace("*", "${*}").replace("?", "${?}")


def _variable_value(expression: str, lookup: Lookup) -> str | None:
    if expression in _SPECIAL_VARIABLES:
        return _SPECIAL_VARIABLES[expression]
    key, default = expression.strip(), None
    with_default = _VARIABLE_WITH_DEFAULT.match(expression)
    if with_default:
        key, default = with_default.group(1), with_default.group(2)
    value = lookup(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise UnsupportedPolicy(f"multivalued key {key} used as a policy variable")
    return value


def _split_tokens(tokens: list[_Token]) -> list[list[_Token]]:
    """Six ARN parts at the first five colons; the resource part keeps any further colons."""
    parts: list[list[_Token]] = [[]]
    for token in tokens:
        if token[0] == ":" and len(parts) < 6:
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def arn_matches(pattern: str, arn: str, lookup: Lookup) -> bool:
    """ArnLike semantics, also used for Resource: variables are substituted first, then each of the six
    colon-separated parts is matched on its own, so a wildcard never spans two parts."""
    if pattern == "*":
        return True
    tokens = _tokens(pattern, lookup)
    if tokens is None:
        return False
    pattern_parts, arn_parts = _split_tokens(tokens), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(
        _compile(part_pattern).fullmatch(part) is not None
        for part_pattern, part in zip(pattern_parts, arn_parts, strict=True)
    )
