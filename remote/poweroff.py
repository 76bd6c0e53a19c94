"""The one way the agent powers its machine off, and the kernel timer it re-arms as the last-resort dead-man.

Both run a shell command from agent.env, so they can be replaced without touching code: on EC2
`sudo shutdown -h now` (the instance launched with InstanceInitiatedShutdownBehavior=terminate, so this
terminates it) and `sudo shutdown -h --no-wall +{minutes}`; the sandbox puts a command that terminates the
instance in moto, and one that records the deadline its host manager enforces. The power-off command sees
the reason in `WB_POWEROFF_REASON`.

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


def arm_command(template: str, minutes: int) -> str:
    return template.replace("{minutes}", str(int(minutes)))


def arm_kernel_timer(minutes: int, env: AgentEnv) -> CommandResult:
    """(Re)schedule the kernel's power-off in `minutes` (WB_ARM_SHUTDOWN_COMMAND with `{minutes}`)."""
    return run_command(arm_command(env.arm_shutdown_command, minutes), {"WB_SHUTDOWN_MINUTES": str(int(minutes))})
