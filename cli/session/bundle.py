"""The agent as shipped: the `weatherballoon.remote` package and the supervision model, as a zip.

Its name comes from a digest of the source files (cheap: no compression), and the zip itself is built only
when a machine lacks that version, so a warm run pays for neither.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

_MAIN = b"import sys\nfrom weatherballoon.remote.agent import main\nsys.exit(main())\n"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class AgentBundle:
    entries: tuple[tuple[str, bytes], ...]

    @cached_property
    def digest(self) -> str:
        hasher = hashlib.sha256()
        for name, content in self.entries:
            hasher.update(name.encode() + b"\0" + len(content).to_bytes(8, "big") + content)
        return hasher.hexdigest()

    @property
    def name(self) -> str:
        """The folder the bundle is unpacked into on the machine (unpacked, so Python caches bytecode)."""
        return f"agent-{self.digest[:16]}"

    @cached_property
    def data(self) -> bytes:
        """The zip to upload: deterministic for the same sources."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in self.entries:
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, content)
        return buffer.getvalue()


def _package_dir(name: str) -> Path:
    import importlib

    module = importlib.import_module(f"weatherballoon.{name}")
    return Path(next(iter(module.__path__)))


def _files() -> list[tuple[str, Path]]:
    """(name in the bundle, file) for every .py and .json of the shipped packages, sorted by name."""
    found: list[tuple[str, Path]] = []
    for package in ("remote", "lambdas"):
        root = _package_dir(package)
        for folder, dirs, files in os.walk(root):
            dirs[:] = [name for name in dirs if name != "__pycache__"]
            relative = os.path.relpath(folder, root).replace(os.sep, "/")
            prefix = f"weatherballoon/{package}/" if relative == "." else f"weatherballoon/{package}/{relative}/"
            for name in files:
                if name.endswith((".py", ".json")):
                    found.append((prefix + name, Path(folder, name)))
    return sorted(found)


@lru_cache(maxsize=1)
def agent_bundle() -> AgentBundle:
    entries = [("__main__.py", _MAIN), ("weatherballoon/__init__.py", b"")]
    entries += [(name, path.read_bytes()) for name, path in _files()]
    return AgentBundle(entries=tuple(entries))
