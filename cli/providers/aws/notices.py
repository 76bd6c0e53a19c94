"""How the aws provider tells the user what it is doing (launching, reusing, falling back): `wb: ...` on
stderr, flushed at once. Commands may pass their own `say` (quiet mode, tests)."""

from __future__ import annotations

import sys


def say_on_stderr(message: str) -> None:
    sys.stderr.write(f"wb: {message}\n")
    sys.stderr.flush()
