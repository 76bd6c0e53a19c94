"""Where each key sits in a JSON text, and comment stripping that keeps every position unchanged.

The config file may carry `//` and `/* */` comments (wb init writes a commented starter). They are blanked
out character for character, so json's line:column and ours still point into the user's text.
"""

from __future__ import annotations

import json


def strip_comments(text: str) -> str:
    out = list(text)
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            for j in range(i, end):
                out[j] = " "
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            for j in range(i, end):
                if out[j] != "\n":
                    out[j] = " "
            i = end
            continue
        i += 1
    return "".join(out)


def line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


class _KeyIndexer:
    """Walks valid JSON and records the offset of every object key, by its path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.decoder = json.JSONDecoder()
        self.keys: dict[tuple[str, ...], int] = {}

    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def value(self, path: tuple[str, ...]) -> None:
        self._skip_ws()
        ch = self.text[self.pos]
        if ch == "{":
            self.pos += 1
            self._skip_ws()
            if self.text[self.pos] == "}":
                self.pos += 1
                return
            while True:
                self._skip_ws()
                key_offset = self.pos
                key, self.pos = self.decoder.raw_decode(self.text, self.pos)
                self.keys.setdefault((*path, str(key)), key_offset)
                self._skip_ws()
                self.pos += 1  # ':'
                self.value((*path, str(key)))
                self._skip_ws()
                sep = self.text[self.pos]
                self.pos += 1
                if sep == "}":
                    return
        elif ch == "[":
            self.pos += 1
            self._skip_ws()
            if self.text[self.pos] == "]":
                self.pos += 1
                return
            index = 0
            while True:
                self.keys.setdefault((*path, str(index)), self.pos)
                self.value((*path, str(index)))
                index += 1
                self._skip_ws()
                sep = self.text[self.pos]
                self.pos += 1
                if sep == "]":
                    return
        else:
            _, self.pos = self.decoder.raw_decode(self.text, self.pos)


def key_positions(text: str) -> dict[tuple[str, ...], tuple[int, int]]:
    """Path of file keys -> (line, column) of the key; text must be valid JSON (comments stripped)."""
    indexer = _KeyIndexer(text)
    try:
        indexer.value(())
    except (ValueError, IndexError):
        return {}
    return {path: line_col(text, offset) for path, offset in indexer.keys.items()}
