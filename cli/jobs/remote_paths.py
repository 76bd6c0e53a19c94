"""Where a project lives on the machine."""

from __future__ import annotations

from ..config.model import LoadedConfig


def remote_root_for(loaded: LoadedConfig) -> str:
    """`sync.adirServer`, else `~/wb/<project>`; a leading `~/` is expanded by the agent on the machine."""
    configured = loaded.config.sync.adir_server
    return configured if configured else f"~/wb/{loaded.project}"
