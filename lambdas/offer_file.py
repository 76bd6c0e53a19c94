"""Reading AWS Price List offer files (the bulk API's JSON) one member at a time.

A per-region EC2 offer file holds every product and term of the region: gigabytes for the large regions, far
more than `json.load` should hold at once. `members(stream, path)` walks the file with a small tokenizer and
yields the (key, value) pairs of the object at `path` (for example `("products",)` or `("terms",
"OnDemand")`), decoding one member at a time and skipping everything else without building it.
"""

from __future__ import annotations

import json
import re
from typing import IO, Any, Iterator, List, Tuple  # noqa: UP035 -- this module runs on 3.8

# A string may run to the end of the buffer unclosed: then it ends the buffer and waits for the next chunk.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[{}\[\]:,]|[^\s"{}\[\]:,]+')
_CHUNK = 1 << 20


class OfferFileError(ValueError):
    """The file is not the JSON shape an offer file has."""


def _tokens(stream: IO[str]) -> Iterator[Tuple[str, str, int]]:  # noqa: UP006
    """(token, buffer, start) for every token; `buffer[start:]` stays valid until the next token is asked for.
    A token cut by the end of a chunk is completed with the next chunk first."""
    buffer, position = "", 0
    while True:
        chunk = stream.read(_CHUNK)
        buffer = buffer[position:] + chunk
        position = 0
        final = not chunk
        while True:
            match = _TOKEN.search(buffer, position)
            if match is None:
                position = len(buffer)
                break
            if match.end() == len(buffer) and not final:
                position = match.start()  # may continue in the next chunk
                break
            position = match.end()
            yield match.group(0), buffer, match.start()
        if final:
            return


class _Reader:
    def __init__(self, stream: IO[str]) -> None:
        self._tokens = _tokens(stream)
        self.captured: List[str] = []  # noqa: UP006
        self.capturing = False

    def next(self) -> str:
        try:
            token, _, _ = next(self._tokens)
        except StopIteration:
            raise OfferFileError("the file ends inside a value") from None
        if self.capturing:
            self.captured.append(token)
        return token

    def value(self, first: str) -> None:
        """Consume the rest of a value whose first token is `first`."""
        if first not in ("{", "["):
            return
        depth = 1
        while depth:
            token = self.next()
            if token in ("{", "["):
                depth += 1
            elif token in ("}", "]"):
                depth -= 1

    def decoded(self, first: str) -> Any:
        self.capturing, self.captured = True, [first]
        self.value(first)
        self.capturing = False
        return json.loads("".join(token if token[0] == '"' else f" {token} " for token in self.captured))


def members(stream: IO[str], path: Tuple[str, ...]) -> Iterator[Tuple[str, Any]]:  # noqa: UP006
    """The (key, value) pairs of the object found by following `path` from the top-level object."""
    reader = _Reader(stream)
    if reader.next() != "{":
        raise OfferFileError("an offer file is one JSON object")
    depth_path: List[str] = []  # noqa: UP006
    while True:
        token = reader.next()
        if token == "}":
            if not depth_path:
                return  # the path was not found: nothing to yield
            depth_path.pop()
            continue
        if token == ",":
            continue
        if token[0] != '"':
            raise OfferFileError(f"expected a key, found {token[:40]!r}")
        key = json.loads(token)
        if reader.next() != ":":
            raise OfferFileError(f"expected ':' after {key!r}")
        first = reader.next()
        wanted = tuple([*depth_path, key])
        if wanted == path:
            if first != "{":
                raise OfferFileError(f"{'/'.join(path)} is not an object")
            yield from _object_members(reader)
            return
        if first == "{" and path[: len(wanted)] == wanted:
            depth_path.append(key)  # descend toward the path
            continue
        reader.value(first)


def _object_members(reader: _Reader) -> Iterator[Tuple[str, Any]]:  # noqa: UP006
    while True:
        token = reader.next()
        if token == "}":
            return
        if token == ",":
            continue
        key = json.loads(token)
        if reader.next() != ":":
            raise OfferFileError(f"expected ':' after {key!r}")
        yield key, reader.decoded(reader.next())
