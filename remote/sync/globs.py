"""Output globs (`sync.outputs`, `-o`): which paths a job owns, relative to the sync root.

Semantics, shared by the receiver (never delete or overwrite these), `outputs-pack` (what comes back) and
the client (what is not uploaded):

- `/` separates segments; `*`, `?` and `[...]` match within one segment, dotfiles included;
- a `**` segment matches zero or more whole segments;
- a leading `./` is ignored; a trailing `/` is allowed; a glob that is absolute, starts with `~` or has a
  `..` segment is never followed (see `outside_root`);
- a path *matches* when the pattern matches it whole, and is *covered* when it or one of its parent
  directories matches, so `outputs` and `outputs/` both cover `outputs/run1/model.pt`.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs the agent's start-up
if TYPE_CHECKING:
    from collections.abc import Callable

# `re` (with `enum`, about 5 ms of the agent's start on a small machine) is imported only once there are
# patterns to compile: a sync without output globs never needs it.
_MAGIC = "*?["


def _segment_regex(segment: str) -> str:
    import re

    out = []
    i, n = 0, len(segment)
    while i < n:
        ch = segment[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            first = i + 2 if segment[i + 1 : i + 2] in ("!", "^") else i + 1
            end = segment.find("]", first + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = segment[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def outside_root(pattern: str) -> str | None:
    """Why an output glob would reach outside the root, or None when it stays inside. Such globs are refused
    where they are parsed (the config, `-o`) and skipped here, so no walk ever leaves the root."""
    text = pattern.strip()
    if "\0" in text:
        return "contains a NUL character"
    if text.startswith("/"):
        return "is an absolute path; output globs are relative to the project's remote folder"
    if text.startswith("~"):
        return "starts with ~; output globs are relative to the project's remote folder"
    if ".." in text.split("/"):
        return "has a '..' segment, which leaves the project's remote folder"
    return None


def split_pattern(pattern: str) -> list[str]:
    """The pattern's segments, normalized; `[]` for the root itself ('.', '', '/')."""
    text = pattern.strip()
    while text.startswith("./"):
        text = text[2:]
    return [seg for seg in text.strip("/").split("/") if seg not in ("", ".")]


def pattern_regex(pattern: str) -> str:
    segments = split_pattern(pattern)
    if not segments:
        return ".*"
    parts = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".+" if last else "(?:[^/]+/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    return "".join(parts)


def literal_prefix(pattern: str) -> tuple[str, bool]:
    """(leading segments without magic, whether the whole pattern is literal)."""
    segments = split_pattern(pattern)
    literal: list[str] = []
    for segment in segments:
        if any(char in segment for char in _MAGIC):
            return "/".join(literal), False
        literal.append(segment)
    return "/".join(literal), True


def max_depth(pattern: str) -> int | None:
    """How many segments deep a match of `pattern` can lie; None when unbounded (`**`)."""
    segments = split_pattern(pattern)
    return None if "**" in segments else len(segments)


class GlobSet:
    """A set of output globs; empty matches nothing."""

    def __init__(self, patterns: list[str] | tuple[str, ...] = ()) -> None:
        self.patterns = [p for p in patterns if p.strip()]
        self._match: Callable[[str], object] | None = None
        self._cover: Callable[[str], object] | None = None
        if self.patterns:
            import re

            alternatives = "|".join(f"(?:{pattern_regex(p)})" for p in self.patterns)
            self._match = re.compile(f"(?:{alternatives})$", re.DOTALL).match
            self._cover = re.compile(f"(?:{alternatives})(?:/.*)?$", re.DOTALL).match

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, path: str) -> bool:
        return self._match is not None and self._match(path) is not None

    def covers(self, path: str) -> bool:
        """True when `path` or one of its parent directories matches."""
        return self._cover is not None and self._cover(path) is not None
