"""The reaper's code as a deterministic zip of the installed `weatherballoon.lambdas` package.

Same sources, same bytes: entries sorted, timestamps and permissions fixed, so the S3 key (the content hash)
only changes when the code does, and a re-run of `wb bootstrap` is a no-op. Handler:
`weatherballoon.lambdas.reaper.handler`. Powertools comes from its public layer (a stack parameter), or, with
`PowertoolsLayerVersion=0`, from the zip itself: `build_bundle(vendor=True)` copies the pure-Python files of
Powertools and of what its Logger, Metrics and Tracer import (`VENDORED`) from this installation. boto3 and
botocore are the Lambda runtime's own.
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
# Powertools with the Tracer extra, and what they import; `pip install "weatherballoon[lambda]"` brings them.
VENDORED = ("aws-lambda-powertools", "aws-xray-sdk", "jmespath", "typing-extensions", "wrapt")
VENDORED_SUFFIXES = (".py", ".json", ".typed")  # pure Python only: a compiled module would not fit arm64 Linux
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


class MissingVendoredPackages(RuntimeError):
    def __init__(self, names: list[str]) -> None:
        super().__init__("not installed: " + ", ".join(names))
        self.names = names


def vendored_files() -> list[tuple[str, Path]]:
    """(archive name, path) of the pure-Python files of every `VENDORED` distribution installed here."""
    from importlib.metadata import PackageNotFoundError, distribution

    found: list[tuple[str, Path]] = []
    missing: list[str] = []
    for name in VENDORED:
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            missing.append(name)
            continue
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".egg-info", ".data")):
                continue
            if "__pycache__" in parts or file.suffix not in VENDORED_SUFFIXES:
                continue
            found.append((file.as_posix(), Path(str(dist.locate_file(file)))))
    if missing:
        raise MissingVendoredPackages(missing)
    return sorted(found)


def build_bundle(root: Path | None = None, *, vendor: bool = False) -> CodeBundle:
    """The reaper's zip; with `vendor`, Powertools and its imports ride in it (MissingVendoredPackages when
    they are not installed here)."""
    entries = [("weatherballoon/__init__.py", TOP_INIT.encode())]
    entries += [(name, path.read_bytes()) for name, path in source_files(root or package_dir())]
    if vendor:
        entries += [(name, path.read_bytes()) for name, path in vendored_files()]
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
