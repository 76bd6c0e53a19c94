"""`acquire_gang`: N machines of one spec as one gang (`wb run --nodes N`), whole or not at all.

Reuse: a warm gang is taken whole, when every one of its machines is warm, of this spec, and claimed by this
command; if any claim fails, the claims already made are released and the gang is not used. A machine of a
gang is never taken alone (acquire.find_warm skips them), nor is a gang assembled from machines of
different launches.

Launch:
- One RunInstances with MinCount = MaxCount = N, in one zone, into the gang's own security group and, where
  the type supports it, its cluster placement group (gang_network.py). EC2 starts all N or none; AWS
  recommends one request for all the instances of a cluster placement group. A capacity error moves the
  whole gang to the next zone (and from spot to on-demand), as for one machine (capacity.py); when every
  zone fails, the error names the type, the count and the missing capacity of each attempt.
- Every machine carries `wb:gang` and `wb:gang-size` (lambdas.gang): the reaper ends the rest of a gang
  when one member ends. Its row keeps its rank (AmiLaunchIndex) and the gang id.
- The gang is ready when every member runs, has an address and registered its host key, within the boot
  deadline. If any member ends first, a row refuses, or the deadline passes, every member's row is marked
  and every member terminated at once (one TerminateInstances), and the error names the member and why.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import TYPE_CHECKING

from weatherballoon.lambdas import gang
from weatherballoon.lambdas.records import InstanceRecord, InstanceState

from ...aws_account.errors import translated
from ...errors import ProvisionError, UsageError
from . import gang_network, keys, reuse
from .acquire import Acquired, Context, launch_request, lease_renewer, new_row, take
from .instances import Ec2Instance, describe
from .listing import reap_reason
from .notices import say_on_stderr
from .ready import POLL_S, QUICK_FOR_S, QUICK_POLL_S
from .rows import get_rows, table_errors

if TYPE_CHECKING:
    from ..records import InstanceSpec
    from .plane import ControlPlane

GANG_ID = gang.ROW_GANG  # row extra: the gang's id (the reaper reads it for a member EC2 no longer lists)
GANG_RANK = gang.ROW_RANK  # row extra: NODE_RANK, the machine's AmiLaunchIndex
GANG_SIZE = gang.ROW_SIZE


def rank_of(row: InstanceRecord) -> int:
    return int(row.extra.get(GANG_RANK, 0))


def acquire_gang(ctx: Context, spec: InstanceSpec, nodes: int) -> list[Acquired]:
    """The gang's machines by rank: a warm gang claimed whole, else a new one."""
    if not 2 <= nodes <= gang.MAX_GANG_SIZE:
        raise ValueError(f"a gang has 2 to {gang.MAX_GANG_SIZE} machines, not {nodes}")
    refuse_more_tunnels_than_the_endpoint_serves(ctx.plane.connect, nodes)
    wanted = reuse.spec_hash(ctx.config, spec)
    if not spec.fresh:
        warm = find_warm_gang(ctx, spec, wanted, nodes)
        if warm is not None:
            ctx.say(
                f"reusing warm gang {warm[0].row.extra.get(GANG_ID)} ({', '.join(m.ec2.instance_id for m in warm)})"
            )
            return warm
    return launch_gang(ctx, spec, wanted, nodes)


def refuse_more_tunnels_than_the_endpoint_serves(connect: str, nodes: int) -> None:
    """Through an Instance Connect Endpoint a gang holds one tunnel per machine for the whole run, and the
    endpoint serves at most MAX_CONNECTIONS_PER_ENDPOINT at once: a bigger gang would be launched, billed, and
    then refused (HTTP 429) partway through connecting. Said before anything is launched."""
    from ...session.tunnel import MAX_CONNECTIONS_PER_ENDPOINT

    if connect == "eice" and nodes > MAX_CONNECTIONS_PER_ENDPOINT:
        raise UsageError(
            f"--nodes {nodes}: through the EC2 Instance Connect Endpoint a gang holds one tunnel per machine, "
            f"and the endpoint serves at most {MAX_CONNECTIONS_PER_ENDPOINT} at once (your team's other "
            "connections included)",
            hint=f"run with --nodes {MAX_CONNECTIONS_PER_ENDPOINT} or fewer, or reach the machines another way: "
            '"connect": "private-ip" from inside the VPC (docs/aws.md, Access)',
        )


# --- reuse ---------------------------------------------------------------------------------------------------


def find_warm_gang(ctx: Context, spec: InstanceSpec, wanted: str, nodes: int) -> list[Acquired] | None:
    plane = ctx.plane
    me = plane.me
    instance_type = spec.instance_type or ctx.config.provisioner.instance_type
    running = describe(plane.ec2, owner=me.user_id, states=["running"], instance_type=instance_type)
    gangs: dict[str, list[Ec2Instance]] = defaultdict(list)
    for item in running:
        if gang.declared_size(item.labels) == nodes and item.labels.get(gang.GANG):
            gangs[item.labels[gang.GANG]].append(item)
    whole = {gang_id: members for gang_id, members in gangs.items() if len(members) == nodes}
    if not whole:
        return None
    arns = {item.instance_id: item.arn(plane.region, me.account) for members in whole.values() for item in members}
    rows = get_rows(plane.store, [(me.user_id, arn) for arn in arns.values()])
    margin = reuse.claim_margin(plane.supervision.idle_minutes)
    now = ctx.clock.now()
    for members in whole.values():
        candidates = [reuse.Candidate(m, rows[arns[m.instance_id]]) for m in members if arns[m.instance_id] in rows]
        usable = reuse.choose(candidates, wanted, now, lambda c: ctx.has_key(c.ec2.instance_id), margin)
        if len(usable) == nodes:
            claimed = claim_whole(ctx, sorted(usable, key=lambda c: rank_of(c.row)))
            if claimed is not None:
                return claimed
    return None


def claim_whole(ctx: Context, members: list[reuse.Candidate]) -> list[Acquired] | None:
    """Claim every member, or none: a claim lost to another command releases those already made."""
    from .leases import release_to_idle

    plane = ctx.plane
    sup = plane.supervision
    claimed: list[reuse.Candidate] = []
    with table_errors("claim a warm gang"):
        for member in members:
            got = reuse.claim_first(plane.store, [member], sup.lease_minutes, ctx.clock.now)
            if got is None:
                for taken in claimed:
                    release_to_idle(plane.store, taken.row, sup.idle_minutes, ctx.clock.now)
                return None
            claimed.append(got)
    return [Acquired(c.ec2, c.row, launched=False) for c in claimed]


# --- launch --------------------------------------------------------------------------------------------------


def launch_gang(ctx: Context, spec: InstanceSpec, wanted: str, nodes: int) -> list[Acquired]:
    from . import launch
    from .budget_gate import check_budget

    plane = ctx.plane
    check_budget(plane)
    gang_id = gang_network.new_gang_id(ctx.clock.now())
    request = launch_request(ctx, spec)
    request = dataclasses.replace(request, labels={**request.labels, **gang.gang_tags(gang_id, nodes)})
    gang_network.sweep(plane.ec2, plane.me.user_id, ctx.clock.now())
    prepared = launch.prepare(plane, request, boot_source=ctx.boot_source, say=ctx.say)
    network = gang_network.create(
        plane.ec2, gang_id=gang_id, vpc_id=prepared.where.vpc_id, instance_type=request.instance_type,
        labels=request.labels, say=ctx.say,
    )  # fmt: skip
    placed = " in a cluster placement group" if network.placement_group else ""
    what = f"a gang of {nodes} x {request.instance_type} in one zone of {plane.region}{placed}"
    plan = dataclasses.replace(
        prepared.plan, count=nodes, extra_group_ids=(network.group_id,), placement_group=network.placement_group
    )
    try:
        machines, _ = launch.start(plane, dataclasses.replace(prepared, plan=plan), say=ctx.say, what=what)
    except BaseException:
        gang_network.delete(plane.ec2, network)
        raise
    rows = [
        new_row(ctx, request, machine, wanted, **{GANG_ID: gang_id, GANG_RANK: rank, GANG_SIZE: nodes})
        for rank, machine in enumerate(machines)
    ]
    first = machines[0]
    ctx.say(
        f"launched gang {gang_id}: {', '.join(m.instance_id for m in machines)} ({request.instance_type}, "
        f"{first.market.value}, {first.zone}{placed}); waiting for all {nodes} to boot"
    )
    try:
        with table_errors("write the gang's rows"):
            for row in rows:
                plane.store.create_instance(row)
        ready = wait_gang_ready(ctx, rows)
        taken = [take(ctx, row) for row in rows]
    except BaseException as exc:
        abandon_gang(plane, rows, network, f"gang launch abandoned: {type(exc).__name__}")
        raise
    return [Acquired(ec2, row, launched=True) for ec2, row in zip(ready, taken, strict=True)]


def wait_gang_ready(ctx: Context, rows: list[InstanceRecord]) -> list[Ec2Instance]:
    """Poll every member until all can be connected to; ProvisionError naming the first member that ended,
    or those not ready when the deadline passed. Every member's lease is renewed meanwhile."""
    plane = ctx.plane
    clock = ctx.clock
    connect = plane.connect
    renewers = [lease_renewer(ctx, row) for row in rows]
    start = clock.now()
    next_renewal = start + plane.supervision.renew_interval_s
    ids = [row.instance_id for row in rows]
    while True:
        found = {item.instance_id: item for item in describe(plane.ec2, ids=ids)}
        current = get_rows(plane.store, [(row.owner, row.instance_arn) for row in rows])
        waiting = []
        for rank, row in enumerate(rows):
            facts, now_row = found.get(row.instance_id), current.get(row.instance_arn)
            stopped = now_row is not None and (
                bool(now_row.mark or now_row.reap_reason)
                or now_row.state in (InstanceState.TERMINATING, InstanceState.CLOSED)
            )
            if (facts is not None and facts.gone) or stopped:
                raise ProvisionError(
                    f"rank {rank} ({row.instance_id}) ended while the gang booted: {reap_reason(facts, now_row)}; "
                    f"all {len(rows)} machines of the gang are being terminated",
                    hint="run again to launch another gang",
                )
            ready = facts is not None and facts.state == "running" and facts.address(connect)
            if not (ready and now_row is not None and now_row.host_key_fingerprint):
                waiting.append(f"rank {rank} ({row.instance_id}, {facts.state if facts else 'not yet visible'})")
        if not waiting:
            return [found[row.instance_id] for row in rows]
        now = clock.now()
        if now - start >= ctx.boot_timeout_s:
            raise ProvisionError(
                f"the gang was not ready within {ctx.boot_timeout_s:g}s: {'; '.join(waiting)} had not registered "
                f"an address and host key; all {len(rows)} machines are being terminated",
                hint="see a machine's boot log with: aws ec2 get-console-output --instance-id ID --latest",
            )
        if now >= next_renewal:
            for renew in renewers:
                renew()
            next_renewal = now + plane.supervision.renew_interval_s
        clock.sleep(QUICK_POLL_S if now - start < QUICK_FOR_S else POLL_S)


def abandon_gang(plane: ControlPlane, rows: list[InstanceRecord], network: gang_network.GangNetwork, why: str) -> None:
    """Best effort, never masking the error that caused it: mark every row, terminate every member in one
    call, forget their keys, and delete the gang's network (which EC2 refuses until the machines are gone;
    the next gang launch's sweep deletes it then)."""
    for row in rows:
        try:
            with table_errors("mark the instance row"):
                plane.store.mark_instance(row.owner, row.instance_arn, why)
        except Exception:  # the row may not exist (its write failed); the reaper's orphan rule covers that
            pass
    ids = [row.instance_id for row in rows]
    try:
        with translated():
            plane.ec2.terminate_instances(InstanceIds=ids)
    except Exception:
        say_on_stderr(f"could not terminate {', '.join(ids)}; the reaper will (their rows are marked)")
    for instance_id in ids:
        keys.forget(instance_id)
    gang_network.delete(plane.ec2, network)
