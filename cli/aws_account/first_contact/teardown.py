"""Remove everything the run made, whatever happened before, and say what could not be removed.

In order: the run's `wb` clients; its machines (TerminateInstances, then wait until EC2 shows them
`terminated`, because the security group cannot be deleted while their network interfaces exist); the
reaper's logs and, after a failure, the machines' console output, saved to the log folder; the stack; the
buckets the stack keeps on deletion (`DeletionPolicy: Retain`: outputs and access logs), emptied; the
run's staging bucket; the clients' data dir (SSH keys) and project folder. Every part is tried even when
an earlier one failed; each failure becomes a line of what to remove by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..destroy import retained_resources
from ..errors import translated
from ..events import EventFeed, wait_for_stack
from ..stack import describe_stack
from ..staging import Staging
from .context import RunContext
from .diagnostics import save_console_output, save_reaper_logs

TERMINATED_WAIT_S = 600.0
POLL_S = 2.0


@dataclass
class Teardown:
    removed: list[str] = field(default_factory=list)  # what each part removed (or kept), in a few words
    leftovers: list[str] = field(default_factory=list)  # what it could not remove, and the command that does

    def attempt(self, what: str, action: Callable[[], str], by_hand: str) -> None:
        try:
            result = action()
        except Exception as exc:  # every part is tried; the failure is reported with its manual fix
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.leftovers.append(f"{what}: {message}\n    {by_hand}")
        else:
            if result:
                self.removed.append(result)

    def summary(self) -> str:
        if self.leftovers:
            return f"{len(self.leftovers)} thing(s) not removed (below); " + "; ".join(self.removed)
        return "; ".join(self.removed) or "nothing to remove"


def wait_terminated(ctx: RunContext) -> str:
    deadline = time.monotonic() + TERMINATED_WAIT_S
    while not ctx.fleet.all_terminated():
        if time.monotonic() > deadline:
            left = [f"{m.instance_id} ({m.state})" for m in ctx.fleet.machines.values() if m.state != "terminated"]
            raise TimeoutError(f"still not terminated after {TERMINATED_WAIT_S:g} s: {', '.join(left)}")
        time.sleep(min(POLL_S, ctx.plan.timing.poll_s * 4))
    return ""


def save_diagnostics(ctx: RunContext, failed: bool, started_at: float) -> str:
    saved = []
    stack = ctx.stack or describe_stack(ctx.aws.client("cloudformation"), ctx.names.stack)
    group = stack.outputs.get("ReaperLogGroupName") if stack is not None else None
    if group:
        with translated(denied_hint="you need logs:FilterLogEvents on the reaper's log group"):
            path = ctx.workspace.root / "reaper.log"
            count = save_reaper_logs(ctx.aws.client("logs"), group, int(started_at * 1000), path)
        saved.append(f"reaper.log ({count} lines)")
    if failed:
        for instance_id in sorted(ctx.fleet.machines):
            with translated(denied_hint="you need ec2:GetConsoleOutput"):
                path = ctx.workspace.root / f"console-{instance_id}.txt"
                if save_console_output(ctx.aws.client("ec2"), instance_id, path):
                    saved.append(path.name)
    return "kept " + ", ".join(saved) if saved else ""


def delete_stack(ctx: RunContext, retained: list[tuple[str, str, str]]) -> str:
    cfn = ctx.aws.client("cloudformation")
    stack = describe_stack(cfn, ctx.names.stack)
    if stack is None:
        return ""
    retained.extend(retained_resources(cfn, stack.stack_id))
    feed = EventFeed(cfn, stack.stack_id)
    feed.mark()
    with translated():
        cfn.delete_stack(StackName=stack.stack_id)
    final, _ = wait_for_stack(cfn, stack.stack_id, feed, ctx.sink)
    if final.status != "DELETE_COMPLETE":
        raise RuntimeError(f"stack {stack.name} is {final.status}: {final.status_reason or 'see its events'}")
    return f"deleted stack {stack.name}"


def empty_and_delete_bucket(s3: Any, bucket: str) -> str:
    from botocore.exceptions import ClientError

    count = 0
    with translated():
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                    count += len(keys)
            s3.delete_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return ""
            raise
    return f"deleted bucket {bucket} ({count} objects)"


def tear_down(ctx: RunContext, *, failed: bool, started_at: float) -> Teardown:
    region, names = ctx.region, ctx.names
    done = Teardown()
    ctx.workspace.kill_clients()
    ended: list[str] = []

    def terminate() -> str:
        ended.extend(ctx.fleet.terminate_live())
        return f"terminated {', '.join(ended)}" if ended else "no machine left running"

    ids = " ".join(sorted(ctx.fleet.machines)) or "<the run's instances, tag wb:team=" + names.team + ">"
    done.attempt("machines", terminate, f"aws ec2 terminate-instances --region {region} --instance-ids {ids}")
    done.attempt("diagnostics", lambda: save_diagnostics(ctx, failed, started_at), "(nothing to remove)")
    done.attempt("machines ending", lambda: wait_terminated(ctx), "wait until they are terminated, then the rest")
    retained: list[tuple[str, str, str]] = []
    done.attempt(
        "stack",
        lambda: delete_stack(ctx, retained),
        f"aws cloudformation delete-stack --region {region} --stack-name {names.stack}",
    )
    s3 = ctx.aws.client("s3")
    for _, _, bucket in retained:
        done.attempt(
            f"bucket {bucket}", partial(empty_and_delete_bucket, s3, bucket), f"aws s3 rb s3://{bucket} --force"
        )
    staging = Staging(s3, account=ctx.identity.account, region=region, bucket=names.staging_bucket)
    done.attempt(
        "staging bucket",
        lambda: f"deleted bucket {staging.bucket} ({staging.remove()} objects)" if staging.exists() else "",
        f"aws s3 rb s3://{names.staging_bucket} --force",
    )
    done.attempt("local state", _remove_local(ctx), f"rm -rf {ctx.workspace.data_dir} {ctx.workspace.project.parent}")
    return done


def _remove_local(ctx: RunContext) -> Callable[[], str]:
    def remove() -> str:
        ctx.workspace.remove_private_state()
        return "deleted the clients' SSH keys"

    return remove
