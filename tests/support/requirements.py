"""What a test needs from the machine (network namespaces, python3.8, a sandbox) and what it does without.

On a developer's machine a missing piece skips the test, saying why. Under `CI=true` it fails instead: CI
installs everything these tests need (`.ci/test`), so a skip there would only hide a broken setup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(why: str) -> NoReturn:
    """Skip the test for `why`, or fail it under CI=true, where nothing a test needs may be missing."""
    if in_ci():
        pytest.fail(f"{why} (CI=true: .ci/test provides this, so its absence is a failure, not a skip)")
    pytest.skip(why)


def python38() -> str | None:
    """A python3.8 interpreter (the oldest the agent and the reaper's model support): on PATH, pyenv's, or the
    system's; None if this machine has none."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [shutil.which("python3.8"), *sorted(map(str, pyenv_root.glob("versions/3.8*/bin/python3.8")))]
    candidates.append("/usr/bin/python3.8")
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 8)":
            return candidate
    return None


def require_python38() -> str:
    """python38(), or the test skips (fails under CI=true)."""
    return python38() or unavailable("no python3.8 interpreter on this machine (pyenv's 3.8 counts)")
