"""`wb doctor`'s checks: each one a typed result with a fix, run in order, later ones skipped when an earlier
one they need failed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from weatherballoon.lambdas.audit import HEARTBEAT_MAX_AGE_S

from ..durations import format_duration
from ..errors import AwsError, ConfigError
from .errors import DENIED_CODES, translated
from .ledger import open_store, table_errors
from .principal import attached_policies, parse_principal
from .session import AwsSession, CallerIdentity
from .stack import SUPERVISION_OUTPUTS, UPDATABLE, StackInfo, describe_stack

BOOTSTRAP_FIX = "an admin runs `wb bootstrap` in this account and region"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: could not tell (not counted as a failure)
    detail: str
    fix: str | None = None
    skipped: bool = False

    @property
    def failed(self) -> bool:
        return self.ok is False and not self.skipped

    @property
    def label(self) -> str:
        if self.skipped:
            return "skip"
        return {True: "ok", False: "FAIL", None: "warn"}[self.ok]


def check_error(name: str, exc: AwsError) -> Check:
    """A check that could not run: FAIL, except when only our own permission to look was missing."""
    if exc.code in DENIED_CODES:
        return Check(name, None, f"cannot tell: {exc.message}", "an admin can run `wb doctor` to check this")
    return Check(name, False, exc.message, exc.hint)


def check_credentials(aws: AwsSession) -> tuple[Check, CallerIdentity | None]:
    try:
        who = aws.identity()
    except AwsError as exc:
        return Check("credentials", False, exc.message, exc.hint), None
    return Check("credentials", True, f"{who.arn} (account {who.account}, aws:userid {who.user_id})"), who


def check_stack(aws: AwsSession) -> tuple[Check, StackInfo | None]:
    try:
        stack = describe_stack(aws.client("cloudformation"))
    except AwsError as exc:
        return Check("stack", False, exc.message, exc.hint), None
    if stack is None or stack.status == "REVIEW_IN_PROGRESS":
        return Check("stack", False, f"no weatherballoon stack in {aws.region}", BOOTSTRAP_FIX), None
    if stack.status not in UPDATABLE:
        return Check("stack", False, f"stack {stack.name} is {stack.status}", "run `wb bootstrap` for details"), stack
    return Check("stack", True, f"{stack.name} in {aws.region}: {stack.status}"), stack


def check_version(stack: StackInfo, client_version: str) -> Check:
    deployed = stack.outputs.get("WbVersion")
    if deployed == client_version:
        return Check("version", True, f"stack and client are both {client_version}")
    return Check(
        "version",
        False,
        f"the stack is {deployed or 'unversioned'}, this client is {client_version}",
        f"an admin runs `wb bootstrap` with wb {client_version}, or install weatherballoon=={deployed}",
    )


def check_supervision_settings(stack: StackInfo) -> Check:
    """The lease, idle and lifetime numbers every member's `wb run` reads from the stack are in range."""
    found = []
    for key in SUPERVISION_OUTPUTS:
        try:
            value = stack.number_output(key)
        except ConfigError as exc:
            return Check("stack settings", False, exc.message, exc.hint)
        if value is not None:
            found.append(f"{key} {value:g}")
    return Check("stack settings", True, ", ".join(found) or "the stack sets none (client defaults apply)")


def check_table(aws: AwsSession, stack: StackInfo) -> Check:
    try:
        name = stack.output("TableName")
        with translated():
            status = aws.client("dynamodb").describe_table(TableName=name)["Table"].get("TableStatus", "?")
    except AwsError as exc:
        return check_error("table", exc)
    return Check("table", status == "ACTIVE", f"{name}: {status}", None if status == "ACTIVE" else BOOTSTRAP_FIX)


def check_reaper(aws: AwsSession, stack: StackInfo) -> Check:
    try:
        name = stack.output("ReaperFunctionName")
        with translated():
            config = aws.client("lambda").get_function(FunctionName=name)["Configuration"]
    except AwsError as exc:
        return check_error("reaper", exc)
    state = config.get("State", "Active")
    return Check("reaper", state == "Active", f"{name}: {state}", None if state == "Active" else BOOTSTRAP_FIX)


def check_heartbeat(aws: AwsSession, stack: StackInfo, now: float) -> Check:
    logs = stack.outputs.get("ReaperLogGroupName", "the reaper's log group")
    fix = f"check the reaper's schedule rule and its logs: aws logs tail {logs}"
    try:
        with table_errors():
            beat = open_store(aws, stack).get_heartbeat()
    except AwsError as exc:
        return check_error("reaper ran", exc)
    if beat is None:
        return Check("reaper ran", False, "the reaper has never run (no REAPER/LAST_RUN row)", fix)
    age = format_duration(max(0.0, now - beat.finished_at))
    if not beat.is_fresh(now):
        limit = format_duration(HEARTBEAT_MAX_AGE_S)
        return Check("reaper ran", False, f"last run {age} ago, more than {limit}: supervision is not running", fix)
    failures = f", {beat.failures} failure(s)" if beat.failures else ""
    return Check("reaper ran", True, f"{age} ago (mode {beat.mode}{failures})")


def check_member_policy(aws: AwsSession, stack: StackInfo, who: CallerIdentity) -> Check:
    try:
        policy = stack.output("MemberPolicyArn")
    except AwsError as exc:
        return check_error("member policy", exc)
    principal = parse_principal(who.arn)
    if principal.kind not in ("user", "role"):
        return Check("member policy", None, f"{who.arn} is not an IAM user or role", "use an IAM user or role")
    try:
        attached = attached_policies(aws.client("iam"), principal)
    except AwsError as exc:
        return Check("member policy", None, f"cannot tell: {exc.message}", exc.hint)
    if policy in attached:
        return Check("member policy", True, f"{principal.kind} {principal.name} has {policy}")
    verb = "attach-user-policy --user-name" if principal.kind == "user" else "attach-role-policy --role-name"
    return Check(
        "member policy",
        False,
        f"{principal.kind} {principal.name} does not have {policy}",
        f"aws iam {verb} {principal.name} --policy-arn {policy}",
    )


def run_checks(aws: AwsSession, *, client_version: str, now: float, report: Callable[[Check], Any]) -> list[Check]:
    """Run every check, calling `report` as each finishes; checks needing a failed prerequisite are skipped."""
    results: list[Check] = []

    def add(check: Check) -> None:
        results.append(check)
        report(check)

    credentials, who = check_credentials(aws)
    add(credentials)
    stack = None
    if who is not None:
        found, stack = check_stack(aws)
        add(found)
        if not found.ok:
            stack = None
    if stack is None or who is None:
        names = ("version", "stack settings", "table", "reaper", "reaper ran", "member policy")
        for name in names if who is not None else ("stack", *names):
            add(Check(name, False, "needs " + ("credentials" if who is None else "the stack"), skipped=True))
        return results
    add(check_version(stack, client_version))
    add(check_supervision_settings(stack))
    add(check_table(aws, stack))
    add(check_reaper(aws, stack))
    add(check_heartbeat(aws, stack, now))
    add(check_member_policy(aws, stack, who))
    return results
