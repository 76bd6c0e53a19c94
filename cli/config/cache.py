"""A cache of validated configurations, so the warm path never imports pydantic.

An entry is keyed by everything validation depends on: the file's path and a hash of its content, the
overrides from WB_* variables and flags, the folder when there is no file, and the schema's own source
files. Any change to one of these misses the cache and validates again. The content, not its mtime and size:
`cp -p` of another file of the same size keeps both, and once kept a stale `adirServer`. Reading and hashing
a config file costs microseconds. Entries hold only validated values.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..paths import DataDirError, data_dir
from .document_checks import MAX_BYTES
from .model import LoadedConfig, WbConfig

_FILE = "config-cache.json"
_KEEP = 32
_SCHEMA_FILES = [Path(__file__).with_name("schema.py"), Path(__file__).with_name("model.py")]


def cache_key(path: Path | None, overrides: dict[str, tuple[object, str]], cwd: Path) -> str | None:
    try:
        parts: list[object] = [[str(p), p.stat().st_mtime_ns] for p in _SCHEMA_FILES]
        if path is not None:
            with path.open("rb") as handle:
                content = handle.read(MAX_BYTES + 1)
            if len(content) > MAX_BYTES:
                return None  # validation says why
            parts.append([str(path), hashlib.sha256(content).hexdigest()])
        else:
            parts.append(str(cwd))
    except OSError:
        return None
    parts.append(sorted((key, repr(value), label) for key, (value, label) in overrides.items()))
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _entries() -> dict[str, Any]:
    try:
        entries = json.loads((data_dir() / _FILE).read_text())
        return entries if isinstance(entries, dict) else {}
    except (OSError, ValueError, DataDirError):  # a cache: without one, the config is validated again
        return {}


def read(key: str) -> LoadedConfig | None:
    entry = _entries().get(key)
    if not entry:
        return None
    try:
        return LoadedConfig(
            config=WbConfig.from_dump(entry["dump"]),
            path=Path(entry["path"]) if entry["path"] else None,
            local_root=Path(entry["local_root"]),
            sources=dict(entry["sources"]),
            effective=dict(entry["effective"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def write(key: str, loaded: LoadedConfig, dump: dict[str, Any]) -> None:
    entries = _entries()
    entries.pop(key, None)
    entries[key] = {
        "dump": dump,
        "path": str(loaded.path) if loaded.path else None,
        "local_root": str(loaded.local_root),
        "sources": loaded.sources,
        "effective": loaded.effective,
    }
    while len(entries) > _KEEP:
        entries.pop(next(iter(entries)))
    try:
        target = data_dir() / _FILE
    except DataDirError:
        return
    tmp = target.with_name(f".{_FILE}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(entries, default=str))
        tmp.replace(target)
    except OSError:
        tmp.unlink(missing_ok=True)
