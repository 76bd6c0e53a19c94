"""`acquire`: claim a warm instance of the same spec, or launch one, write its row and wait for its boot.

A launch that does not finish (an error, a timeout, Ctrl-C) is abandoned cleanly: its row is marked, so
the agent and the reaper end it even if the TerminateInstances call below fails, and it is terminated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from weatherballoon.lambdas import gang, lease, schema
from weatherballoon.lambdas import tags as wb_tags
from weatherballoon.lambdas.errors import LeaseRefusedError, SupervisionError
from weatherballoon.lambdas.records import InstanceRecord, InstanceState

from ...aws_account.errors import translated
from ...errors import ConnectError, ProvisionError
from . import keys, reuse
from .instances import Ec2Instance, describe
from .notices import say_on_stderr
from .plane import ControlPlane
from .ready import Clock, wait_ready
from .rows import get_rows, table_errors
from .userdata import BootInputs

if TYPE_CHECKING:
    from ...config.model import WbConfig
    from ..records import InstanceSpec
    from .launch import Launched, LaunchRequest

BOOT_TIMEOUT_S = 600.0


@dataclass
class Context:
    plane: ControlPlane
    boot_source: Callable[[], str]
    clock: Clock
    say: Callable[[str], None] = say_on_stderr
    boot_timeout_s: float = BOOT_TIMEOUT_S

    @property
    def config(self) -> WbConfig:
        return self.plane.config

    def has_key(self, instance_id: str) -> bool:
        """Whether this client can log in to the machine: a seed keyPair, a key pushed per connection (eice:
        any of the member's machines, from any laptop), or the launch key this laptop kept."""
        if self.config.provisioner.key_pair or self.plane.connect == "eice":
            return True
        return keys.ephemeral_path(instance_id).is_file()


class Acquired(NamedTuple):
    ec2: Ec2Instance
    row: InstanceRecord  # as this command took it: busy, under its claim (none for a machine it launched)
    launched: bool


def acquire(ctx: Context, spec: InstanceSpec) -> Acquired:
    wanted = reuse.spec_hash(ctx.config, spec)
    if not spec.fresh:
        warm = find_warm(ctx, spec, wanted)
        if warm is not None:
            ctx.say(f"reusing warm instance {warm.ec2.instance_id}")
            return Acquired(warm.ec2, warm.row, launched=False)
    return Acquired(*launch_new(ctx, spec, wanted), launched=True)


def find_warm(ctx: Context, spec: InstanceSpec, wanted: str) -> reuse.Candidate | None:
    plane = ctx.plane
    me = plane.me
    instance_type = spec.instance_type or ctx.config.provisioner.instance_type
    running = describe(plane.ec2, owner=me.user_id, states=["running"], instance_type=instance_type)
    # A gang's machine is reused only with its whole gang (gang_launch.py): taken alone, it would end with the
    # gang when the others' warm window closes.
    running = [item for item in running if gang.GANG not in item.labels]
    if not running:
        return None
    arns = {item.instance_id: item.arn(plane.region, me.account) for item in running}
    rows = get_rows(plane.store, [(me.user_id, arn) for arn in arns.values()])
    candidates = [
        reuse.Candidate(item, rows[arns[item.instance_id]]) for item in running if arns[item.instance_id] in rows
    ]
    margin = reuse.claim_margin(plane.supervision.idle_minutes)
    ranked = reuse.choose(candidates, wanted, ctx.clock.now(), lambda c: ctx.has_key(c.ec2.instance_id), margin)
    with table_errors("claim a warm instance"):
        return reuse.claim_first(plane.store, ranked, plane.supervision.lease_minutes, ctx.clock.now)


def launch_request(ctx: Context, spec: InstanceSpec) -> LaunchRequest:
    from .launch import LaunchRequest

    plane = ctx.plane
    config = ctx.config
    provisioner = config.provisioner
    sup = plane.supervision
    labels = wb_tags.wb_tags(plane.me.user_id, sup.team, plane.loaded.project, name=config.tag)
    return LaunchRequest(
        instance_type=spec.instance_type or provisioner.instance_type,
        spot=spec.spot,
        boot=BootInputs(
            username=provisioner.os.username,
            table=plane.stack.output("TableName"),
            bucket=plane.bucket,
            region=plane.region,
            lease_minutes=sup.lease_minutes,
            idle_minutes=sup.idle_minutes,
            max_hours=sup.max_hours,
            renew_seconds=sup.renew_interval_s,
        ),
        labels=labels,
        group=provisioner.group1 or plane.stack.output("SecurityGroupId"),
        group_configured=bool(provisioner.group1),
        instance_profile=provisioner.role_of_instance or plane.stack.output("InstanceProfileArn"),
        root_volume_gb=provisioner.root_volume_gb,
        ami=provisioner.os.ami,
        key_pair=provisioner.key_pair,
        public_ip=plane.connect == "public-ip",
        pushed_keys=plane.connect == "eice" and not provisioner.key_pair,
        config_path=str(plane.loaded.path) if plane.loaded.path else None,
        subnet=provisioner.subnet,
    )


def new_row(ctx: Context, request: LaunchRequest, launched: Launched, wanted: str, **extra: object) -> InstanceRecord:
    """The row of a machine this command just launched: launching, under its first lease."""
    plane = ctx.plane
    sup = plane.supervision
    me = plane.me
    lease_until, max_until = lease.first_lease(launched.launched_at, sup.lease_minutes, sup.max_hours)
    return InstanceRecord(
        owner=me.user_id,
        instance_arn=schema.instance_arn(plane.region, me.account, launched.instance_id),
        instance_type=request.instance_type,
        launched_at=launched.launched_at,
        lease_until=lease_until,
        max_until=max_until,
        price_usd_hour=launched.price_usd_hour,
        market=launched.market,
        team=sup.team,
        project=plane.loaded.project,
        state=InstanceState.LAUNCHING,
        renewed_at=ctx.clock.now(),
        extra={
            reuse.SPEC_HASH: wanted,
            "username": request.boot.username,
            "availability_zone": launched.zone,
            "image_id": launched.image_id,
            "ssh_key": f"key-pair:{request.key_pair}" if request.key_pair else "ephemeral",
            **extra,
        },
    )


def lease_renewer(ctx: Context, row: InstanceRecord) -> Callable[[], None]:
    """renew(): the booting machine's lease, once; a row that refuses (the machine was stopped) fails the launch."""
    plane = ctx.plane
    sup = plane.supervision

    def renew() -> None:
        now = ctx.clock.now()
        until = lease.renew(now, sup.lease_minutes, None, row.max_until)
        try:
            plane.store.renew_lease(row.owner, row.instance_arn, until, now)
        except LeaseRefusedError as exc:
            raise ProvisionError(f"{row.instance_id} was stopped while it booted: {exc.reason}") from None
        except SupervisionError:
            pass  # a failed renewal is tried again at the next tick; the lease has slack for it

    return renew


def take(ctx: Context, row: InstanceRecord) -> InstanceRecord:
    """The booted machine becomes busy under this command, with a fresh lease."""
    plane = ctx.plane
    now = ctx.clock.now()
    until = lease.renew(now, plane.supervision.lease_minutes, None, row.max_until)
    with table_errors("take the new instance"):
        return plane.store.renew_lease(row.owner, row.instance_arn, until, now, state=InstanceState.BUSY)


def launch_new(ctx: Context, spec: InstanceSpec, wanted: str) -> tuple[Ec2Instance, InstanceRecord]:
    from .budget_gate import check_budget
    from .launch import launch  # only a launch needs the type, image, network and user-data code

    plane = ctx.plane
    check_budget(plane)
    sup = plane.supervision
    request = launch_request(ctx, spec)
    launched, _ = launch(plane, request, boot_source=ctx.boot_source, say=ctx.say)
    row = new_row(ctx, request, launched, wanted)
    ctx.say(
        f"launched {launched.instance_id} ({request.instance_type}, {launched.market.value}, {launched.zone}); "
        "waiting for it to boot"
    )
    try:
        with table_errors("write the instance row"):
            plane.store.create_instance(row)
        ready = wait_ready(
            plane.ec2,
            plane.store,
            row,
            connect=plane.connect,
            timeout_s=ctx.boot_timeout_s,
            renew_every_s=sup.renew_interval_s,
            renew=lease_renewer(ctx, row),
            clock=ctx.clock,
        )
        taken = take(ctx, row)
    except BaseException as exc:
        abandon(plane, row, f"launch abandoned: {type(exc).__name__}")
        raise
    return ready.ec2, taken


def abandon(plane: ControlPlane, row: InstanceRecord, why: str) -> None:
    """Best effort, never masking the error that caused it: mark the row, terminate, forget the key."""
    try:
        with table_errors("mark the instance row"):
            plane.store.mark_instance(row.owner, row.instance_arn, why)
    except Exception:  # the row may not exist (its write failed); the reaper's orphan rule covers that
        pass
    try:
        with translated():
            plane.ec2.terminate_instances(InstanceIds=[row.instance_id])
    except Exception:
        say_on_stderr(f"could not terminate {row.instance_id}; the reaper will (its row is marked)")
    keys.forget(row.instance_id)


def end_unreachable(plane: ControlPlane, row: InstanceRecord, exc: ConnectError, say: Callable[[str], None]) -> None:
    """A machine that does not accept our SSH login is of no use to anyone, and would only be taken again by
    the next run: it is ended (row marked, instance terminated), never handed back to the warm pool."""
    from . import warm_cache

    abandon(plane, row, f"unreachable: {exc.message[:200]}")
    warm_cache.forget(row.instance_id)
    say(f"terminated {row.instance_id}: it did not accept the SSH login ({exc.message})")
