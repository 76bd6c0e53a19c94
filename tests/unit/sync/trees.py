"""Helpers that build small trees and git repositories for the sync tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=True)
    return done.stdout.decode()


def write(root: Path, path: str, content: str | bytes = "x\n", mode: int | None = None) -> Path:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    target.write_bytes(content)
    if mode is not None:
        os.chmod(target, mode)
    return target
