"""Where a project lives on the machine."""

from __future__ import annotations

from ..config.model import LoadedConfig
from ..sync.ownership import ProjectIdentity, default_remote_root, project_identity


def remote_root_for(loaded: LoadedConfig, identity: ProjectIdentity | None = None) -> str:
    """`sync.adirServer`, else `~/wb/<project>-<id>` (`sync/ownership.py`); a leading `~/` is expanded by the
    agent on the machine."""
    configured = loaded.config.sync.adir_server
    if configured:
        return configured
    return default_remote_root(loaded.local_root, identity or project_identity(loaded.local_root))
