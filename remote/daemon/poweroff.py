"""The one way the agent powers its machine off, and the dead-man timer it re-arms as the last resort.

Both run a shell command from agent.env, so they can be replaced without touching code. On EC2 they go through
`/opt/wb/bin/wb-power`, which user-data installs and grants the login user through sudo: `off REASON` runs
`systemctl poweroff` (the instance launched with InstanceInitiatedShutdownBehavior=terminate, so this
terminates it) and `arm SECONDS` moves the deadline that wb-deadman.timer enforces. The sandbox runs the same
commands against its emulated systemd. The power-off command sees the reason in `WB_POWEROFF_REASON`.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import subprocess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .agent_env import AgentEnv

COMMAND_TIMEOUT_S = 60.0


class CommandResult:
    __slots__ = ("command", "exit_code", "output")

    def __init__(self, command: str, exit_code: int | None, output: str) -> None:
        self.command = command
        self.exit_code = exit_code  # None: it could not be run (or ran past the timeout)
        self.output = output

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        """`ok` (plus any output), or the failed command with its exit code and output."""
        tail = self.output.strip().replace("\n", " | ")[-300:]
        text = "ok" if self.ok else f"FAILED (exit {self.exit_code}) `{self.command}`"
        return text + (f": {tail}" if tail else "")


def run_command(command: str, extra_env: dict | None = None) -> CommandResult:
    env = dict(os.environ)
    env.update(extra_env or {})
    try:
        done = subprocess.run(
            command,
            shell=True,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return CommandResult(command, None, str(exc))
    return CommandResult(command, done.returncode, done.stdout.decode("utf-8", "replace"))


def power_off(reason: str, env: AgentEnv | None = None) -> CommandResult:
    """Power this machine off now, for `reason`: runs WB_POWEROFF_COMMAND."""
    if env is None:
        from .agent_env import AgentEnv

        env = AgentEnv.load()
    return run_command(env.poweroff_command, {"WB_POWEROFF_REASON": reason})


def arm_command(template: str, seconds: int) -> str:
    """`{seconds}` in the template, or `{minutes}` (whole minutes, rounded up) in an older one."""
    minutes = -(-int(seconds) // 60)
    return template.replace("{seconds}", str(int(seconds))).replace("{minutes}", str(minutes))


def arm_deadman(seconds: int, env: AgentEnv) -> CommandResult:
    """Move the dead-man deadline to `seconds` from now (WB_ARM_SHUTDOWN_COMMAND)."""
    return run_command(arm_command(env.arm_shutdown_command, seconds), {"WB_DEADMAN_SECONDS": str(int(seconds))})
