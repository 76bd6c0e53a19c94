"""Reusing a warm instance: which ones qualify (pure), and claiming one so no other `wb run` gets it.

A warm instance qualifies when it is mine (its `wb:owner` tag), running, in this region, launched for the
same spec (hash of everything that shapes the machine), idle, unmarked, with a host key on record, a lease
that still has `claim_margin()` to run, and a key on this machine that opens it. The claim is a conditional
UpdateItem (state idle -> busy): of two concurrent claims exactly one succeeds; the other tries the next
candidate, or launches.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from weatherballoon.lambdas import lease

# The table records are imported where they are used: `spec_hash` and `claim_margin` are on the path of a run
# on the machine the project remembers (warm_cache), which reads no row.
if TYPE_CHECKING:
    from weatherballoon.lambdas.dynamo_store import DynamoStore
    from weatherballoon.lambdas.records import InstanceRecord

    from ...config.model import WbConfig
    from ..records import InstanceSpec
    from .instances import Ec2Instance

MARGIN_S = 30.0


def claim_margin(idle_minutes: float) -> float:
    """How much lease a warm instance must have left to be claimed: it covers the claim and the first
    renewal. 30 s, or half the warm window when that is shorter (compressed leases, as in the sandbox)."""
    return min(MARGIN_S, idle_minutes * 60 / 2)


SPEC_HASH = "spec_hash"


def spec_hash(config: WbConfig, spec: InstanceSpec) -> str:
    """What makes two launches interchangeable. The region is not in it: rows are looked up per region."""
    provisioner = config.provisioner
    shape = {
        "type": spec.instance_type or provisioner.instance_type,
        "spot": bool(spec.spot),
        "ami": provisioner.os.ami or "latest-dlami-ubuntu",
        "user": provisioner.os.username,
        "root_gb": provisioner.root_volume_gb,
        "key_pair": provisioner.key_pair,
        "group": provisioner.group1,
        "profile": provisioner.role_of_instance,
        "connect": provisioner.connect,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Candidate:
    ec2: Ec2Instance
    row: InstanceRecord


def choose(
    candidates: Sequence[Candidate],
    wanted: str,
    now: float,
    usable: Callable[[Candidate], bool],
    margin_s: float = MARGIN_S,
) -> list[Candidate]:
    """The candidates worth a claim, the one with the longest lease first."""
    from weatherballoon.lambdas.records import InstanceState

    def qualifies(item: Candidate) -> bool:
        row = item.row
        return (
            item.ec2.state == "running"
            and row.state is InstanceState.IDLE
            and not row.mark
            and row.extra.get(SPEC_HASH) == wanted
            and bool(row.host_key_fingerprint)
            and row.lease_until > now + margin_s
            and row.max_until > now + margin_s
            and usable(item)
        )

    return sorted((item for item in candidates if qualifies(item)), key=lambda item: -item.row.lease_until)


def claim_first(
    store: DynamoStore, ranked: Sequence[Candidate], lease_minutes: float, now: Callable[[], float]
) -> Candidate | None:
    """Claim the first candidate that is still free; None when every one was taken meanwhile."""
    from weatherballoon.lambdas.records import InstanceState

    for item in ranked:
        at = now()
        until = lease.renew(at, lease_minutes, None, item.row.max_until)
        token = secrets.token_hex(8)
        if store.claim_instance(item.row.owner, item.row.instance_arn, token, until, at):
            return Candidate(item.ec2, item.row.replace(state=InstanceState.BUSY, claim=token, lease_until=until))
    return None
