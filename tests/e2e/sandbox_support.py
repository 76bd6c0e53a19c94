"""Fault scenarios through `wb sandbox`, shared by `tests/e2e/test_sandbox_faults.py` and `bench/overspend.py`.

Everything is real: the `wb` binary as a user runs it (after `eval "$(wb sandbox env)"`), a moto server,
real sshd hosts in network namespaces at each instance's private IP, the real agent daemon, and the real
reaper handler on the sandbox's timer. Faults are made with real tools: `kill -9` of a client or of the
agent inside a host, an nftables drop table inside a host's namespace, a budget row written by
`wb budget set`, and an HTTP proxy in front of moto that answers spot RunInstances with a capacity error.

**Overspend** is the time between the moment spending should stop (a scenario says which moment: the end
of the last lease anyone granted, the moment an owner went over budget, the end of the lifetime cap) and the
moment EC2 (moto) shows the instance shutting down or terminated. A `Watch` thread polls DescribeInstances
every 0.2 s; the end time it records is the end of the first call that saw the instance ended, so a
measured overspend is never smaller than the real one (it may be larger by one poll, about 0.25 s).

Every scenario runs as its own IAM user (its own `aws:userid`, so its own owner), with its own wb data dir
and project: scenarios can run side by side in one sandbox without reusing each other's instances, and a
budget set for one owner ends only that owner's machines.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.records import InstanceRecord, InstanceState, JobRow

from tests.integration.providers_aws.fault_proxy import FaultProxy
from tests.integration.sandbox.support import Sandbox
from tests.support import background, waiting
from tests.support.netns import NetNamespace
from tests.support.project import WB

T = TypeVar("T")

LEASE_MINUTES = 0.2  # 12 s
IDLE_MINUTES = 0.1  # 6 s
REAPER_PERIOD_S = 2.0
REAPER_OFF_PERIOD_S = 3600.0  # "disabled": the timer runs once at start, then not within any scenario
# A warm window that a `wb run` reaches in time even on a loaded machine (10-15 s to its claim seen at load 8 on
# 2 cores): reuse needs min(30 s, half the window) of lease left (`reuse.claim_margin`).
REUSE_IDLE_MINUTES = 1.25
COMPRESSED_IDLE_MINUTES = 0.25  # under a minute: the claim margin is half the window
# A 45 s lifetime cap for the reaped-job-outputs scenario: launch, boot, sync and the job's start must fit in it
# (under a loaded CI machine they took over 25 s, and the machine ended before the job started).
LIFETIME_HOURS = 45 / 3600
KERNEL_TIMER_BOUND_S = 120.0  # the double failure "agent dead, reaper off": 1 min slack + a 30 s check period
ENDED_STATES = frozenset({"shutting-down", "terminated", "stopping", "stopped"})
LAUNCHED = re.compile(r"launched (i-[0-9a-f]+)")
REUSED = re.compile(r"reusing warm instance (i-[0-9a-f]+)")


def bound_s(lease_minutes: float = LEASE_MINUTES, reaper_period_s: float = REAPER_PERIOD_S) -> float:
    """The target for any single failure (issue 4): overspend <= leaseMinutes + one reaper period (L + P).
    docs/supervision.md's bound adds R, the reaper run's own time to its TerminateInstances (`Outcome.r_s`):
    with times compressed to seconds R is no longer small beside P on a loaded machine."""
    return lease_minutes * 60.0 + reaper_period_s


class ScenarioError(AssertionError):
    """Something a scenario relies on did not happen (a run failed, an instance never ended...)."""


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """`tests.support.waiting.wait_for`, failing with a ScenarioError."""
    return waiting.wait_for(check, timeout, what, interval, error=ScenarioError)


# --- the sandbox ----------------------------------------------------------------------------------------


def up_args(
    reaper_period_s: float, lease_minutes: float = LEASE_MINUTES, idle_minutes: float = IDLE_MINUTES
) -> list[str]:
    return ["sandbox", "up", "--reaper-period", f"{reaper_period_s:g}", "--lease-minutes", f"{lease_minutes:g}",
            "--idle-minutes", f"{idle_minutes:g}"]  # fmt: skip


@contextlib.contextmanager
def sandbox_up(data_dir: Path, cwd: Path, args: list[str]) -> Iterator[Sandbox]:
    """`wb sandbox up ARGS` in its own data dir; `wb sandbox down` afterwards, whatever happened."""
    box = Sandbox(data_dir=data_dir, cwd=cwd)
    try:
        up = box.wb(*args, timeout=240)
        if up.returncode != 0:
            raise ScenarioError(f"wb {' '.join(args)} exited {up.returncode}: {up.stderr[-2000:]}")
        box.read_exports()
        yield box
    finally:
        down = box.wb("sandbox", "down", timeout=180)
        if down.returncode != 0:
            print(f"wb sandbox down ({data_dir}) exited {down.returncode}: {down.stderr[-2000:]}")


class Watch:
    """Polls DescribeInstances (every instance, every state) and remembers when each one was first seen ended."""

    def __init__(self, ec2: Any, period_s: float = 0.2) -> None:
        self.ec2 = ec2
        self.period_s = period_s
        self.states: dict[str, str] = {}
        self.ended_at: dict[str, float] = {}
        self.alive_at: dict[str, float] = {}  # the end of the last call that still saw it alive
        self.errors = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wb-watch", daemon=True)

    def start(self) -> Watch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                pages = list(self.ec2.get_paginator("describe_instances").paginate())
            except Exception:  # moto busy: the next poll tries again
                self.errors += 1
                self._stop.wait(self.period_s)
                continue
            seen_at = time.time()
            with self._cond:
                for page in pages:
                    for reservation in page.get("Reservations", []):
                        for instance in reservation.get("Instances", []):
                            instance_id, state = instance["InstanceId"], instance["State"]["Name"]
                            self.states[instance_id] = state
                            if state in ENDED_STATES:
                                self.ended_at.setdefault(instance_id, seen_at)
                            else:
                                self.alive_at[instance_id] = seen_at
                self._cond.notify_all()
            self._stop.wait(self.period_s)

    def wait_ended(self, instance_id: str, timeout: float) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: instance_id in self.ended_at, timeout):
                state = self.states.get(instance_id, "never seen")
                raise ScenarioError(f"{instance_id} did not end within {timeout:g} s (state {state})")
            return self.ended_at[instance_id]


@dataclass(frozen=True)
class Owner:
    """An IAM user of the sandbox account: its keys make it its own `aws:userid`, hence its own wb owner."""

    name: str
    key_id: str
    secret: str
    user_id: str


@dataclass
class Run:
    """A finished `wb` command: exit code, streams, and when it ran (epoch seconds)."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    started_at: float
    ended_at: float

    def launched(self) -> str | None:
        found = LAUNCHED.search(self.stderr)
        return found.group(1) if found else None

    def reused(self) -> str | None:
        found = REUSED.search(self.stderr)
        return found.group(1) if found else None

    def instance(self) -> str:
        instance_id = self.reused() or self.launched()
        if instance_id is None:
            raise ScenarioError(f"wb {' '.join(self.args)} named no instance: exit {self.returncode}: {self.stderr}")
        return instance_id

    def check(self, code: int = 0) -> Run:
        if self.returncode != code:
            raise ScenarioError(
                f"wb {' '.join(self.args)} exited {self.returncode}, not {code}\nstdout: {self.stdout[-1500:]}\n"
                f"stderr: {self.stderr[-3000:]}"
            )
        return self


class Attached(background.Attached):
    """A `wb` command in the background (`Client.popen`) whose streams are collected as they arrive."""

    def __init__(self, proc: subprocess.Popen[bytes], args: tuple[str, ...]) -> None:
        super().__init__(proc, f"wb {' '.join(args)}", error=ScenarioError)
        self.args = args

    def instance(self) -> str:
        """The instance this run launched or reused (from its stderr so far)."""
        return Run(self.args, -1, "", self.stderr, self.started_at, time.time()).instance()

    def kill9(self) -> float:
        at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        return at

    def finish(self, timeout: float) -> Run:
        try:
            self.wait(timeout)
        except ScenarioError:
            self.proc.kill()
            self.proc.wait(10)
            raise
        return Run(self.args, self.proc.returncode, self.stdout, self.stderr, self.started_at, time.time())


@dataclass
class Client:
    """One user's `wb`: the sandbox's exported settings, the owner's keys, a data dir and a project."""

    lab: Lab
    owner: Owner
    project: Path
    data_dir: Path
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, more: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WB_", "AWS_"))}
        env.update(self.lab.box.exported)
        env.update({
            "AWS_ACCESS_KEY_ID": self.owner.key_id, "AWS_SECRET_ACCESS_KEY": self.owner.secret,
            "WB_DATA_DIR": str(self.data_dir), "SSH_AUTH_SOCK": "", "PYTHONUNBUFFERED": "1",
        })  # fmt: skip
        env.update(self.extra)
        env.update(more or {})
        return env

    def wb(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Run:
        started = time.time()
        try:
            result = subprocess.run([WB, *args], cwd=self.project, env=self.env(env), capture_output=True, text=True,
                                    timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise ScenarioError(f"wb {' '.join(args)} still ran after {timeout:g} s: {exc.stderr!r}") from None
        return Run(tuple(args), result.returncode, result.stdout, result.stderr, started, time.time())

    def popen(self, *args: str, env: dict[str, str] | None = None) -> Attached:
        proc = subprocess.Popen([WB, *args], cwd=self.project, env=self.env(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        return Attached(proc, tuple(args))

    # the owner's rows
    def arn(self, instance_id: str) -> str:
        return f"arn:aws:ec2:{self.lab.region}:{self.lab.account}:instance/{instance_id}"

    def row(self, instance_id: str) -> InstanceRecord | None:
        return self.lab.store.get_instance(self.owner.user_id, self.arn(instance_id))

    def jobs(self, instance_id: str) -> list[JobRow]:
        return list(self.lab.store.get_jobs(self.owner.user_id, self.arn(instance_id)))

    def wait_row(
        self, instance_id: str, check: Callable[[InstanceRecord], bool], timeout: float, what: str
    ) -> InstanceRecord:
        return wait_for(lambda: (row := self.row(instance_id)) is not None and check(row) and row, timeout,
                        f"{instance_id}: {what}")  # fmt: skip


class Lab:
    """A running sandbox with what the scenarios need around it: the watch, owners, rows, hosts, faults."""

    def __init__(self, box: Sandbox, workdir: Path, *, reaper_period_s: float, lease_minutes: float = LEASE_MINUTES,
                 idle_minutes: float = IDLE_MINUTES) -> None:  # fmt: skip
        self.box = box
        self.workdir = workdir
        self.reaper_period_s = reaper_period_s
        self.lease_minutes = lease_minutes
        self.idle_minutes = idle_minutes
        state = box.state()
        self.sandbox_id = str(state["sandbox_id"])
        self.region = box.exported["AWS_REGION"]
        self.account = str(box.client("sts").get_caller_identity()["Account"])
        self.store = DynamoStore(str(state["table_name"]), client=box.client("dynamodb"))
        self.ec2 = box.client("ec2")
        self.iam = box.client("iam")
        self.watch = Watch(box.client("ec2")).start()
        self.admin = Owner("sandbox-default", box.exported["AWS_ACCESS_KEY_ID"], box.exported["AWS_SECRET_ACCESS_KEY"],
                           str(box.client("sts").get_caller_identity()["UserId"]))  # fmt: skip
        self._lock = threading.Lock()

    def close(self) -> None:
        self.watch.stop()

    @property
    def reaper_on(self) -> bool:
        return self.reaper_period_s < 600

    def owner(self, name: str) -> Owner:
        user = f"wb-{name}-{secrets.token_hex(3)}"
        with self._lock:
            self.iam.create_user(UserName=user)
            key = self.iam.create_access_key(UserName=user)["AccessKey"]
        sts = self.box.session().client(
            "sts", endpoint_url=self.box.exported["AWS_ENDPOINT_URL"],
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
        )  # fmt: skip
        return Owner(user, key["AccessKeyId"], key["SecretAccessKey"], str(sts.get_caller_identity()["UserId"]))

    def client(self, name: str, owner: Owner | None = None, **extra: str) -> Client:
        folder = self.workdir / f"{name}-{secrets.token_hex(3)}"
        project = folder / name
        project.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(project)], check=True)
        (project / "README.txt").write_text(f"{name}: a sandbox fault scenario\n")
        return Client(self, owner or self.owner(name), project, folder / "wb-data", dict(extra))

    # hosts
    def namespace(self, instance_id: str) -> str:
        return f"wbsbx-{self.sandbox_id}-{instance_id}"

    def host_pids(self, instance_id: str) -> list[tuple[int, list[str]]]:
        out = subprocess.run(["ip", "netns", "pids", self.namespace(instance_id)], capture_output=True, text=True,
                             check=False).stdout  # fmt: skip
        found = []
        for pid in out.split():
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                found.append((int(pid), [a.decode(errors="replace") for a in argv if a]))
        return found

    def agent_pids(self, instance_id: str) -> list[int]:
        return [pid for pid, argv in self.host_pids(instance_id) if "daemon" in argv[2:4]]

    def kill_agent(self, instance_id: str) -> float:
        """kill -9 the agent's supervision daemon inside the host; the job it supervised keeps running."""
        pids = wait_for(lambda: self.agent_pids(instance_id), 20, f"the agent daemon of {instance_id} runs")
        at = time.time()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not self.agent_pids(instance_id), 5, f"the agent daemon of {instance_id} is gone", 0.05)
        return at

    def cut(self, instance_id: str) -> float:
        """Drop every packet in or out of the host (nftables in its namespace): SSH and its control plane."""
        namespace = self.namespace(instance_id)
        links = subprocess.run(["ip", "-n", namespace, "-o", "link", "show"], capture_output=True, text=True,
                               check=True).stdout  # fmt: skip
        veth = next(line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if " lo:" not in line)
        NetNamespace(name=namespace, address="", near_address="", near_if="", far_if=veth).cut("drop")
        return time.time()

    def ended_host(self, instance_id: str) -> dict[str, Any] | None:
        return self.box.ended_host(instance_id)

    def kernel_deadline(self, instance_id: str) -> float | None:
        host = self.box.live_host(instance_id)
        return host.get("deadline") if host else None

    # what stopped an instance
    def stopped_by(self, client: Client, instance_id: str) -> tuple[str, dict[str, Any]]:
        """Which layer ended the instance: the reaper (its row says so), the agent's power-off, the dead-man
        timer (the host record says so), or a client's TerminateInstances (`wb down`)."""
        host = wait_for(lambda: self.ended_host(instance_id), 10, f"the sandbox recorded the end of {instance_id}")
        row = client.row(instance_id)
        reason = str(host.get("reason") or "")
        facts = {
            "host_state": host.get("state"),
            "host_reason": reason,
            "reap_reason": row.reap_reason if row else None,
            "reaped_at": row.reaped_at if row else None,
        }
        if row is not None and row.reap_reason:
            also = " (the agent asked to power off in the same moment)" if host.get("state") == "powered-off" else ""
            return f"reaper ({row.reap_reason}){also}", facts
        if host.get("state") == "powered-off":
            if "dead-man" in reason:
                return "dead-man timer", facts
            found = re.search(r"powered itself off \((?:wb: )?([^)]*)\)", reason)
            return f"agent ({found.group(1) if found else reason})", facts
        # EC2 ended it and the row names no reaper: a reaper whose TerminateInstances took effect but
        # answered with an error (its audit row says `applied: false`), or a client (`wb down`).
        decided = [a for a in self.audits(instance_id) if a["action"] == "terminate"]
        facts["reaper_audits"] = decided
        if decided:
            return f"reaper ({decided[0]['reason']}; EC2 answered its TerminateInstances with an error)", facts
        return "TerminateInstances (a client: wb down or an abandoned launch)", facts

    def reaper_runs_s(self) -> list[float]:
        """How long each reaper run took so far (`duration_s` of its "reaper run finished" log line)."""
        path = self.box.root / "logs" / "reaper.log"
        runs = []
        with contextlib.suppress(OSError), path.open(errors="replace") as log:
            for line in log:
                if '"reaper run finished"' in line:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        runs.append(float(json.loads(line)["summary"]["duration_s"]))
        return runs

    def audits(self, instance_id: str) -> list[dict[str, Any]]:
        """The reaper's audit rows for one instance (today's and yesterday's partitions), oldest first."""
        from boto3.dynamodb.types import TypeDeserializer

        client, table, found = self.box.client("dynamodb"), self.store.table_name, []
        plain = TypeDeserializer()
        for day in sorted({time.strftime("%Y-%m-%d", time.gmtime(time.time() - back)) for back in (0, 86400)}):
            pages = client.get_paginator("query").paginate(
                TableName=table, KeyConditionExpression="pk = :pk", FilterExpression="instance_id = :id",
                ExpressionAttributeValues={":pk": {"S": f"AUDIT#{day}"}, ":id": {"S": instance_id}},
            )  # fmt: skip
            for page in pages:
                for item in page.get("Items", []):
                    row = {key: plain.deserialize(value) for key, value in item.items()}
                    found.append({"at": float(row["at"]), "action": row["action"], "reason": row["reason"],
                                  "applied": bool(row.get("facts", {}).get("applied"))})  # fmt: skip
        return sorted(found, key=lambda a: a["at"])


# --- outcomes --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One instance's end: when spending should have stopped, when EC2 showed it ended, and who ended it."""

    case: str
    instance_id: str
    basis: str  # what `should_stop_at` is
    should_stop_at: float
    ended_at: float
    stopped_by: str
    bound_s: float  # the target, L + P
    failure_at: float | None = None  # when the fault was injected, where there is one
    facts: dict[str, Any] = field(default_factory=dict)
    r_s: float = 0.0  # R: the longest reaper run in this sandbox so far (0 where the reaper is off)

    @property
    def overspend_s(self) -> float:
        return self.ended_at - self.should_stop_at

    @property
    def after_failure_s(self) -> float | None:
        return None if self.failure_at is None else self.ended_at - self.failure_at

    @property
    def within_target(self) -> bool:
        return self.overspend_s <= self.bound_s

    @property
    def within_bound(self) -> bool:
        """docs/supervision.md's bound: L + P + R."""
        return self.overspend_s <= self.bound_s + self.r_s

    def line(self) -> str:
        text = (
            f"{self.case}: {self.instance_id} overspend {self.overspend_s:+.2f} s past the {self.basis} "
            f"(target {self.bound_s:g} s, longest reaper run {self.r_s:.1f} s), ended by {self.stopped_by}"
        )
        if self.after_failure_s is not None:
            text += f"; {self.after_failure_s:.2f} s after the fault"
        return text


@dataclass
class Result:
    """What a scenario saw: the instances' ends (for the overspend table) and facts for the tests to check."""

    case: str
    outcomes: list[Outcome] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def report(self) -> str:
        return "\n".join(outcome.line() for outcome in self.outcomes) or f"{self.case}: {self.facts}"


def ended_outcome(lab: Lab, client: Client, case: str, instance_id: str, *, basis: str,
                  should_stop: Callable[[InstanceRecord], float] | float, timeout: float,
                  failure_at: float | None = None, bound: float | None = None) -> Outcome:  # fmt: skip
    """Wait for the instance to end in EC2, then read its row (its final lease) and who ended it."""
    ended_at = lab.watch.wait_ended(instance_id, timeout)
    row = client.row(instance_id)
    if row is None:
        raise ScenarioError(f"{instance_id} has no row")
    stop_at = should_stop if isinstance(should_stop, float) else should_stop(row)
    by, facts = lab.stopped_by(client, instance_id)
    facts.update({"lease_until": row.lease_until, "max_until": row.max_until, "row_state": row.state.value,
                  "alive_last_seen": lab.watch.alive_at.get(instance_id)})  # fmt: skip
    runs = lab.reaper_runs_s() if lab.reaper_on else []
    return Outcome(case, instance_id, basis, stop_at, ended_at, by, bound if bound is not None else bound_s(),
                   failure_at, facts, max(runs, default=0.0))  # fmt: skip


def final_lease(row: InstanceRecord) -> float:
    return row.lease_until


def end_timeout(lab: Lab) -> float:
    """Generous: the longest a scenario waits for an instance to end once its lease can lapse."""
    return lab.lease_minutes * 60 + lab.idle_minutes * 60 + REUSE_IDLE_MINUTES * 60 + 60


# --- scenarios ---------------------------------------------------------------------------------------------


def happy_path_and_reuse(lab: Lab) -> Result:
    """Case 1: `wb run`, then a second `wb run` that reuses the warm instance; it ends after its idle window."""
    client = lab.client("happy", WB_IDLE_MINUTES=f"{REUSE_IDLE_MINUTES:g}")
    first = client.wb("run", "--", "sh", "-c", "echo hello one; echo to-stderr >&2").check()
    instance_id = first.instance()
    warm = client.wait_row(instance_id, lambda r: r.state is InstanceState.IDLE, 20, "idle after the first job")
    second = client.wb("run", "--", "sh", "-c", "echo hello two; exit 3").check(3)
    at_second = {"warm_left_s": warm.lease_until - second.started_at, "row_after": client.row(instance_id)}
    outcome = ended_outcome(lab, client, "1 happy path + reuse", instance_id, basis="idle window end",
                            should_stop=final_lease, timeout=end_timeout(lab))  # fmt: skip
    mine = client.lab.ec2.describe_instances(Filters=[{"Name": "tag:wb:owner", "Values": [client.owner.user_id]}])
    count = sum(len(r["Instances"]) for r in mine["Reservations"])
    return Result("happy", [outcome], {
        "first": first, "second": second, "instance": instance_id, "reused": second.reused(),
        "instances_of_owner": count, "jobs": client.jobs(instance_id), **at_second,
    })  # fmt: skip


def reuse_with_compressed_leases(lab: Lab) -> Result:
    """A compressed idle window (15 s, where the sandbox's own is 6 s): the second run still reuses the warm
    instance, because the claim margin scales with the warm window (7.5 s here, not the usual 30 s). With the
    sandbox's 6 s, a run that takes more than 3 s to reach its claim on a loaded CI machine launched anew."""
    client = lab.client("reuse-compressed", WB_IDLE_MINUTES=f"{COMPRESSED_IDLE_MINUTES:g}")
    first = client.wb("run", "--", "true").check()
    instance_id = first.instance()
    row = client.wait_row(instance_id, lambda r: r.state is InstanceState.IDLE, 20, "idle after the first job")
    second = client.wb("run", "--", "true").check()
    left = row.lease_until - second.started_at
    client.wb("down", "--all", "--yes")
    return Result("reuse-compressed", [], {"first": instance_id, "second": second.instance(),
                                           "reused": second.reused(), "warm_left_at_second_run_s": left})  # fmt: skip


def back_to_back_reuse(lab: Lab) -> Result:
    """Three `wb run`s one right after the other, with a 2-minute lease (the agent renews every 12 s here):
    each reuses the first one's instance (the client sets it idle when its job ends, not the agent's next pass)."""
    client = lab.client("back-to-back", WB_LEASE_MINUTES="2", WB_IDLE_MINUTES="2")
    runs = [client.wb("run", "--", "true").check() for _ in range(3)]
    used = [run.instance() for run in runs]
    client.wb("down", "--all", "--yes")
    return Result("back-to-back", [], {"instances": used, "reused": [run.reused() for run in runs[1:]]})


def client_killed(lab: Lab) -> Result:
    """Case 2 (and 9, the S3 half): `kill -9` of an attached `wb run`; the job finishes and pushes its outputs,
    its idle lease lapses, the instance ends; `wb pull JOB` then fetches the outputs from S3."""
    client = lab.client("client-killed")
    script = 'echo "job=$WB_JOB_ID"; sleep 4; mkdir -p out; echo "result of $WB_JOB_ID" > out/result.txt; echo done'
    attached = client.popen("run", "-o", "out/*", "--", "sh", "-c", script)
    job_id = attached.wait_stdout(r"job=(\S+)\n", 90).group(1)
    killed_at = attached.kill9()
    iid = attached.instance()
    outcome = ended_outcome(lab, client, "2 client killed (-9) mid-job", iid, basis="idle window end",
                            should_stop=final_lease, timeout=end_timeout(lab), failure_at=killed_at)  # fmt: skip
    jobs = {job.job_id: job for job in client.jobs(iid)}
    pulled = client.wb("pull", job_id)
    output = client.project / "out" / "result.txt"
    return Result("client-killed", [outcome], {
        "job_id": job_id, "job_row": jobs.get(job_id), "pull": pulled,
        "output": output.read_text() if output.exists() else None,
    })  # fmt: skip


def reaper_disabled_client_gone(lab: Lab) -> Result:
    """Case 3: no reaper; the client killed mid-job: the agent alone powers off when the idle lease lapses."""
    client = lab.client("no-reaper")
    attached = client.popen("run", "--", "sh", "-c", 'echo "job=$WB_JOB_ID"; sleep 3')
    attached.wait_stdout(r"job=(\S+)\n", 90)
    killed_at = attached.kill9()
    iid = attached.instance()
    outcome = ended_outcome(lab, client, "3 reaper disabled + client gone", iid, basis="idle window end",
                            should_stop=final_lease, timeout=end_timeout(lab), failure_at=killed_at)  # fmt: skip
    return Result("no-reaper", [outcome], {})


def agent_killed(lab: Lab) -> Result:
    """Case 4: a detached job, then `kill -9` of the agent daemon: nothing renews; the reaper (or, without one,
    the dead-man timer the agent last armed) ends the instance."""
    client = lab.client("agent-killed")
    started = client.wb("run", "-d", "--", "sleep", "600").check()
    iid = started.instance()
    client.wait_row(iid, lambda r: r.state is InstanceState.BUSY and r.lease_until > time.time(), 20, "busy")
    wait_for(lambda: lab.kernel_deadline(iid), 20, f"{iid}: the dead-man timer is armed")
    killed_at = lab.kill_agent(iid)
    deadline = lab.kernel_deadline(iid)
    timeout = end_timeout(lab) + (0 if lab.reaper_on else 180)
    case = "4 agent killed" if lab.reaper_on else "4b agent killed + reaper disabled (double failure)"
    # Alone, the dead-man timer fires a minute of slack after the lease end (`lease.deadman_seconds`), found by
    # a check every 30 s: at most KERNEL_TIMER_BOUND_S past the lease end, whatever the lease.
    bound = None if lab.reaper_on else KERNEL_TIMER_BOUND_S
    outcome = ended_outcome(lab, client, case, iid, basis="lease end", should_stop=final_lease, timeout=timeout,
                            failure_at=killed_at, bound=bound)  # fmt: skip
    outcome.facts["kernel_deadline"] = deadline
    return Result("agent-killed" if lab.reaper_on else "agent-killed-no-reaper", [outcome], {"job": started.stdout})


def network_cut(lab: Lab) -> Result:
    """Case 5: a detached job, then the host's link cut (nftables drop): the agent cannot reach the table and
    powers off after leaseMinutes; the reaper sees the lease lapse. Whichever comes first is recorded."""
    client = lab.client("net-cut")
    started = client.wb("run", "-d", "--", "sleep", "600").check()
    iid = started.instance()
    client.wait_row(iid, lambda r: r.state is InstanceState.BUSY and r.lease_until > time.time(), 20, "busy")
    time.sleep(1.5)  # a renewal or two by the agent
    cut_at = lab.cut(iid)
    case = "5 network cut" if lab.reaper_on else "5b network cut, reaper disabled (agent alone)"
    outcome = ended_outcome(lab, client, case, iid, basis="lease end", should_stop=final_lease,
                            timeout=end_timeout(lab), failure_at=cut_at)  # fmt: skip
    return Result("net-cut" if lab.reaper_on else "net-cut-no-reaper", [outcome], {})


def over_budget(lab: Lab) -> Result:
    """Case 6: an owner with a detached job on one instance and an attached job on another; an admin sets the
    owner's budget below what it spent: both instances end, `wb run` exits 124 naming the budget, `wb status`
    shows the reason. Spending should stop when the budget row is written."""
    client = lab.client("budget")
    detached = client.wb("run", "-d", "--", "sleep", "600").check()
    first = detached.instance()
    attached = client.popen("run", "--fresh", "--", "sh", "-c", "echo started; sleep 600")
    attached.wait_stdout(r"started\n", 90)
    second = attached.instance()
    admin = Client(lab, lab.admin, client.project, client.data_dir.parent / "admin-data")
    set_at = time.time()
    budget = admin.wb("budget", "set", client.owner.user_id, "0.0001").check()
    outcomes = [
        ended_outcome(
            lab,
            client,
            "6 owner over budget",
            iid,
            basis="budget set",
            should_stop=set_at,
            timeout=60,
            failure_at=set_at,
        )
        for iid in (first, second)
    ]
    run = attached.finish(60)
    status = client.wb("status")
    again = client.wb("run", "--", "echo", "never")
    return Result("budget", outcomes, {"budget": budget, "run": run, "status": status, "again": again,
                                       "instances": (first, second)})  # fmt: skip


def concurrent_runs(lab: Lab) -> Result:
    """Case 7: a warm instance, then two `wb run`s at once by the same owner: never one claim for both."""
    client = lab.client("concurrent", WB_IDLE_MINUTES=f"{REUSE_IDLE_MINUTES:g}")
    warm = client.wb("run", "--", "true").check().instance()
    client.wait_row(warm, lambda r: r.state is InstanceState.IDLE, 20, "idle after the warm-up job")
    script = 'echo "job=$WB_JOB_ID"; sleep 3'
    both = [client.popen("run", "--", "sh", "-c", script) for _ in range(2)]
    runs = [attached.finish(120) for attached in both]
    for run in runs:
        run.check()
    job_ids = [re.search(r"job=(\S+)", run.stdout).group(1) for run in runs]  # type: ignore[union-attr]
    placed: dict[str, str] = {}
    intervals: dict[str, tuple[float, float | None]] = {}
    for iid in {warm, *(run.instance() for run in runs)}:
        for job in client.jobs(iid):
            placed[job.job_id] = iid
            intervals[job.job_id] = (job.started_at, job.ended_at)
    client.wb("down", "--all", "--yes")
    return Result("concurrent", [], {
        "warm": warm, "instances": [run.instance() for run in runs], "reused": [run.reused() for run in runs],
        "job_ids": job_ids, "placed": placed, "intervals": intervals, "runs": runs,
    })  # fmt: skip


def spot_fallback(lab: Lab) -> Result:
    """Case 8: every spot RunInstances answered InsufficientInstanceCapacity by a proxy in front of moto (wb's
    EC2 calls only, through AWS_ENDPOINT_URL_EC2): wb falls back to on-demand and says so."""
    subnets = lab.ec2.describe_subnets()["Subnets"]
    zones = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}
    with FaultProxy(lab.box.exported["AWS_ENDPOINT_URL"], zones) as proxy:
        proxy.rules.append(lambda call: "InsufficientInstanceCapacity" if call.market == "spot" else None)
        client = lab.client("spot", AWS_ENDPOINT_URL_EC2=proxy.url)
        run = client.wb("run", "--spot", "--", "echo", "on demand after all").check()
        calls = list(proxy.calls)
    iid = run.instance()
    described = lab.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    row = client.row(iid)
    outcome = ended_outcome(lab, client, "8 spot capacity error -> on-demand", iid, basis="idle window end",
                            should_stop=final_lease, timeout=end_timeout(lab))  # fmt: skip
    return Result("spot", [outcome], {
        "run": run, "calls": calls, "lifecycle": described.get("InstanceLifecycle", "on-demand"),
        "row_market": row.market.value if row else None,
    })  # fmt: skip


def reaped_job_outputs(lab: Lab) -> Result:
    """Case 9: a job still running when supervision ends its machine (the lifetime cap, 45 s; the reaper off,
    so the agent is the one that ends it): the agent pushes the job's outputs before power-off, and
    `wb pull JOB` fetches them from S3 once the instance is gone."""
    client = lab.client("reaped-outputs", WB_MAX_HOURS=f"{LIFETIME_HOURS:.8f}")
    script = 'mkdir -p out; echo "written by $WB_JOB_ID before the end" > out/partial.txt; sleep 600'
    started = client.wb("run", "-d", "-o", "out/*", "--", "sh", "-c", script).check()
    job_id = started.stdout.strip()
    iid = started.instance()
    outcome = ended_outcome(lab, client, "9 reaped job's outputs (lifetime cap mid-job)", iid, basis="lifetime end",
                            should_stop=lambda row: row.max_until, timeout=120)  # fmt: skip
    pulled = client.wb("pull", job_id)
    output = client.project / "out" / "partial.txt"
    return Result("reaped-outputs", [outcome], {
        "job_id": job_id, "pull": pulled, "output": output.read_text() if output.exists() else None,
    })  # fmt: skip


# The sandboxes the scenarios run in, by reaper period: "reaper" (every 2 s); "no-reaper" (disabled); "budget"
# (every 2 s, for the budget scenario alone: moto's TerminateInstances fails on an instance already terminated,
# where EC2 succeeds, so a reaper batch that also holds another scenario's instance, powered off by its agent
# a moment before, fails as a whole and writes no reason into the rows that `wb status` must show).
SANDBOXES = {"reaper": REAPER_PERIOD_S, "no-reaper": REAPER_OFF_PERIOD_S, "budget": REAPER_PERIOD_S}

# Which sandbox each scenario needs.
SCENARIOS: dict[str, tuple[str, Callable[[Lab], Result]]] = {
    "happy": ("reaper", happy_path_and_reuse),
    "client-killed": ("reaper", client_killed),
    "no-reaper": ("no-reaper", reaper_disabled_client_gone),
    "agent-killed": ("reaper", agent_killed),
    "net-cut": ("reaper", network_cut),
    "net-cut-no-reaper": ("no-reaper", network_cut),
    "budget": ("budget", over_budget),
    "concurrent": ("reaper", concurrent_runs),
    "spot": ("reaper", spot_fallback),
    "reaped-outputs": ("no-reaper", reaped_job_outputs),
    "reuse-compressed": ("reaper", reuse_with_compressed_leases),
    "back-to-back": ("reaper", back_to_back_reuse),
    "agent-killed-no-reaper": ("no-reaper", agent_killed),  # the dead-man timer alone: over a minute
}


def start_scenarios(labs: dict[str, Lab], names: list[str], pool: ThreadPoolExecutor,
                    stagger_s: float = 0.7) -> dict[str, Future[Result]]:  # fmt: skip
    """Submit the scenarios, a little apart so their first `wb run`s do not all start in the same instant."""
    futures: dict[str, Future[Result]] = {}
    for index, name in enumerate(names):
        where, scenario = SCENARIOS[name]
        futures[name] = pool.submit(_delayed, index * stagger_s, scenario, labs[where])
    return futures


def _delayed(delay_s: float, scenario: Callable[[Lab], Result], lab: Lab) -> Result:
    time.sleep(delay_s)
    return scenario(lab)
