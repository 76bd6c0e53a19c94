"""What the machine steps share: running a `wb run` to its end within a deadline, reading which machine it
used from its notices, and waiting for a machine to be back in the warm pool."""

from __future__ import annotations

import re
from dataclasses import dataclass

from weatherballoon.lambdas.records import InstanceRecord, InstanceState

from ..clients import Client
from ..context import RunContext, StepFailed
from ..report import Fault

LAUNCHED = re.compile(r"launched (i-[0-9a-f]+)")
REUSED = re.compile(r"reusing warm instance (i-[0-9a-f]+)")
WARM_MACHINE = "warm machine"  # ctx.facts key: the instance the first run left warm
GONE = "instance-gone"  # the reaper's reason for closing the row of an instance that ended by itself


@dataclass(frozen=True)
class StepOutcome:
    """What a fault step measured; `ok` is False when the fault's overspend passed its bound."""

    detail: str
    fault: Fault
    ok: bool = True


def finish(ctx: RunContext, client: Client, timeout_s: float) -> Client:
    """Wait for the client to exit; kill it and fail when it outlives `timeout_s`."""
    try:
        ctx.wait_until(lambda: client.returncode is not None, timeout_s, f"`wb {' '.join(client.args)}` to finish")
    except StepFailed:
        client.kill()
        raise
    return client


def expect(client: Client, code: int, stdout: str | None = None) -> None:
    if client.returncode != code or (stdout is not None and client.stdout != stdout):
        raise StepFailed(f"expected exit {code}{f' and {stdout!r}' if stdout else ''}: {client.describe()}; "
                         f"stdout {client.stdout[-200:]!r}")  # fmt: skip


def launched(client: Client) -> str | None:
    found = LAUNCHED.search(client.stderr)
    return found.group(1) if found else None


def reused(client: Client) -> str | None:
    found = REUSED.search(client.stderr)
    return found.group(1) if found else None


def machine_of(client: Client) -> str:
    instance_id = reused(client) or launched(client)
    if instance_id is None:
        raise StepFailed(f"it named no machine: {client.describe()}")
    return instance_id


def wait_idle(ctx: RunContext, instance_id: str) -> None:
    """The machine is back in the warm pool: its row is `idle` (its agent released it when the job ended)."""

    def idle() -> bool:
        row = ctx.row(instance_id)
        return row is not None and row.state is InstanceState.IDLE

    ctx.wait_until(idle, ctx.plan.timing.run_s, f"{instance_id} back in the warm pool (its row idle)")


def start_job(ctx: RunContext, label: str, timeout_s: float, *args: str) -> tuple[Client, str]:
    """`wb run ARGS -- <a job that says it started>`; once it has started: the client and its machine."""
    marker = f"wb-doctor-{label}-started"
    client = ctx.workspace.start(label, "run", *args, "--", f"echo {marker}; exec sleep 3600")
    try:
        ctx.wait_until(lambda: marker in client.stdout or client.returncode is not None, timeout_s,
                       f"the {label} job to start")  # fmt: skip
    except StepFailed:
        client.kill()
        raise
    if marker not in client.stdout:
        raise StepFailed(f"the job did not start: {client.describe()}")
    return client, machine_of(client)


def wait_ended(ctx: RunContext, instance_id: str, timeout_s: float, what: str) -> float:
    """When EC2 was first seen showing the machine ended (shutting down or terminated)."""

    def ended() -> float | None:
        machine = ctx.fleet.machines.get(instance_id)
        return machine.ended_at if machine is not None else None

    return ctx.wait_until(ended, timeout_s, what)


def ended_by(row: InstanceRecord | None) -> str:
    """Who ended it: the reaper says why in the row; otherwise the machine powered itself off."""
    if row is not None and row.reap_reason and row.reap_reason != GONE:
        return f"the reaper ({row.reap_reason})"
    return "the machine itself (its agent's power-off, or its timer)"
