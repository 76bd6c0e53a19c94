"""Starting the agent's supervision daemon on a machine (remote/daemon.py), once per command."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import ConnectError

if TYPE_CHECKING:
    from ...session.agent import RemoteAgent


def ensure_daemon(agent: RemoteAgent, instance_id: str, daemon_python: str | None) -> None:
    """Install the agent, point `current` at it and start its daemon unless it runs: the daemon alone needs
    boto3, so it runs on the boot venv's python (`daemon_python` overrides that, for tests)."""
    from ...session.agent import AGENT_DIR
    from .userdata import VENV_PYTHON

    agent.ensure_installed()
    daemon = f'exec {daemon_python or VENV_PYTHON} -I "{agent.path}" daemon --ensure'
    line = f'ln -sfn "{agent.path}" "{AGENT_DIR}/current" && {daemon}'
    status, _, err = agent.session.run(line)
    if status != 0:
        raise ConnectError(
            f"the agent's supervision daemon did not start (exit {status}): {err.decode(errors='replace').strip()}",
            host=instance_id,
            hint="the machine keeps its lease only while a client or the daemon renews it; "
            f"see `wb ssh {instance_id} -- cat ~/.weatherballoon/daemon.log`",
        )
