"""The application object every command receives: lazy config, provider and messages to stderr."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config.loader import LoadedConfig
    from .providers.base import Provider


class App:
    def __init__(self, *, quiet: bool = False, cwd: Path | None = None) -> None:
        self.quiet = quiet
        self.cwd = cwd
        self._loaded: LoadedConfig | None = None

    def config(self, flags: Mapping[str, object] | None = None) -> LoadedConfig:
        """Load once per command; flags are `{dotted.key: (value, "flag --name")}`."""
        if self._loaded is None or flags:
            from .config.loader import load_config

            self._loaded = load_config(cwd=self.cwd, flags=flags)
        return self._loaded

    def provider(self) -> Provider:
        from .providers.registry import provider_class

        loaded = self.config()
        return provider_class(loaded.config.provisioner.kind)(loaded.config, loaded, say=self.say)

    def say(self, message: str) -> None:
        """One of wb's own notices: stderr, never stdout, silenced by --quiet."""
        if not self.quiet:
            sys.stderr.write(f"wb: {message}\n")
            sys.stderr.flush()

    def warn(self, message: str) -> None:
        """A notice the user must see even with --quiet (supervision stopped a job, a lost link)."""
        sys.stderr.write(f"wb: {message}\n")
        sys.stderr.flush()
