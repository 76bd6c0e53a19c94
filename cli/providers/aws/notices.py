"""How the aws provider tells the user what it is doing (launching, reusing, falling back): `wb: ...` on
stderr, flushed at once, unless the command passes its own `say` (the App's, which --quiet silences)."""

from __future__ import annotations

from ..base import say_on_stderr

__all__ = ["say_on_stderr"]
