"""The reaper's code as a deterministic zip of the installed `weatherballoon.lambdas` package.

Same sources, same bytes: entries sorted, timestamps and permissions fixed, so the S3 key (the content hash)
only changes when the code does, and a re-run of `wb bootstrap` is a no-op. Handler:
`weatherballoon.lambdas.reaper.handler`. Powertools comes from its public layer (a stack parameter).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

HANDLER = "weatherballoon.lambdas.reaper.handler"
PACKAGE = "weatherballoon.lambdas"
INCLUDE_SUFFIXES = (".py", ".json", ".txt")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644 << 16
# `weatherballoon` is a namespace in a source checkout; the zip makes it a plain package.
TOP_INIT = '"""Weatherballoon: the reaper Lambda\'s copy of the package (only `lambdas`)."""\n'


@dataclass(frozen=True)
class CodeBundle:
    data: bytes
    sha256: str
    files: tuple[str, ...]

    @property
    def key(self) -> str:
        """Content-addressed S3 key."""
        return f"reaper/{self.sha256}.zip"


def package_dir(package: str = PACKAGE) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {package} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def source_files(root: Path) -> list[tuple[str, Path]]:
    """(archive name, path) of every shipped file under `root`, sorted; caches and tests stay out."""
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if not path.is_file() or path.suffix not in INCLUDE_SUFFIXES:
            continue
        if any(part == "__pycache__" or part.startswith(".") for part in relative.parts):
            continue
        found.append(("weatherballoon/lambdas/" + relative.as_posix(), path))
    return sorted(found)


def build_bundle(root: Path | None = None) -> CodeBundle:
    entries = [("weatherballoon/__init__.py", TOP_INIT.encode())]
    entries += [(name, path.read_bytes()) for name, path in source_files(root or package_dir())]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the mode bits are read as such
            archive.writestr(info, content, compresslevel=9)
    data = buffer.getvalue()
    return CodeBundle(data, hashlib.sha256(data).hexdigest(), tuple(name for name, _ in sorted(entries)))
