"""Waiting for a launched instance: EC2 state `running`, an address to reach, and the host-key fingerprint
that boot.py writes into the row. The lease is renewed meanwhile (a DLAMI can take minutes to boot).

Connecting afterwards needs nothing else: the address (`provisioner.connect`) and the row's fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from weatherballoon.lambdas.records import InstanceRecord, InstanceState

from ...errors import ProvisionError
from .instances import Ec2Instance, describe
from .listing import reap_reason
from .rows import table_errors

if TYPE_CHECKING:
    from weatherballoon.lambdas.dynamo_store import DynamoStore

# Quick polls while a fast boot (the sandbox's) may already be done, then every 2 s (a DLAMI takes minutes).
QUICK_POLL_S = 0.25
QUICK_FOR_S = 3.0
POLL_S = 2.0


@dataclass(frozen=True)
class Ready:
    ec2: Ec2Instance
    row: InstanceRecord


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float]
    sleep: Callable[[float], None]


def wait_ready(
    ec2: Any,
    store: DynamoStore,
    row: InstanceRecord,
    *,
    connect: str,
    timeout_s: float,
    renew_every_s: float,
    renew: Callable[[], object],
    clock: Clock,
) -> Ready:
    """Poll until the instance can be connected to; ProvisionError if it ends or the timeout passes."""
    start = clock.now()
    next_renewal = start + renew_every_s
    while True:
        found = describe(ec2, ids=[row.instance_id])
        with table_errors("read the instance row"):
            current = store.get_instance(row.owner, row.instance_arn)
        facts = found[0] if found else None
        _check_alive(row.instance_id, facts, current)
        if facts is not None and facts.state == "running":
            if not facts.address(connect):
                raise ProvisionError(
                    f"{row.instance_id} has no {connect.replace('-', ' ')} address",
                    hint='set "connect": "private-ip" under provisioner (from inside the VPC), '
                    "or use a subnet that gives public IPs",
                )
            if current is not None and current.host_key_fingerprint:
                return Ready(facts, current)
        now = clock.now()
        if now - start >= timeout_s:
            state = facts.state if facts else "not yet visible"
            raise ProvisionError(
                f"{row.instance_id} did not register its SSH host key within {timeout_s:g}s (EC2 state: {state})",
                hint=f"its boot log: aws ec2 get-console-output --instance-id {row.instance_id} --latest; "
                "the instance is being terminated",
            )
        if now >= next_renewal:
            renew()
            next_renewal = now + renew_every_s
        clock.sleep(QUICK_POLL_S if now - start < QUICK_FOR_S else POLL_S)


def _check_alive(instance_id: str, facts: Ec2Instance | None, row: InstanceRecord | None) -> None:
    stopped = row is not None and (
        bool(row.mark or row.reap_reason) or row.state in (InstanceState.TERMINATING, InstanceState.CLOSED)
    )
    if (facts is not None and facts.gone) or stopped:
        raise ProvisionError(
            f"{instance_id} ended while it booted: {reap_reason(facts, row)}", hint="run again to launch another"
        )
