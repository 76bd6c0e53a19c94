"""A machine for the daemon tests: the real agent bundle run as subprocesses, against the moto server.

Each test gets its own agent home (`WB_AGENT_HOME`), a supervision table and an outputs bucket in a fresh
moto, an instance row written as the client writes it at launch, and an agent.env written by the real
`boot.py` with compressed times and a power-off command that appends `<reason> <epoch>` to a marker file
(and an arm command that appends `<minutes> <epoch>`), so a test sees what a real machine would do.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from weatherballoon.cli.session.bundle import agent_bundle
from weatherballoon.lambdas import lease, schema
from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.records import InstanceRecord, InstanceState, JobRow
from weatherballoon.remote.procinfo import is_alive

from tests.support import sshd, waiting
from tests.support.moto_server import DUMMY_CREDENTIALS

REPO = Path(__file__).resolve().parents[3]
BOOT = REPO / "remote" / "boot.py"
TABLE = "wb-test-supervision"
BUCKET = "wb-test-outputs"
OWNER = "AIDAOWNER"
ACCOUNT = "123456789012"
REGION = "us-west-2"
# The instance's python (with boto3): this one, or e.g. a python3.8 venv to prove the oldest supported version.
AGENT_PYTHON = os.environ.get("WB_TEST_AGENT_PYTHON") or sys.executable
RENEW_S = 0.25
LEASE_MIN = 0.05  # 3 s
IDLE_MIN = 0.05

OVERSPEND: list[tuple[str, float, str]] = []  # (case, seconds, what was measured), printed at the end


def record_overspend(case: str, seconds: float, measured: str) -> None:
    OVERSPEND.append((case, seconds, measured))
    print(f"\noverspend {case}: {seconds:.2f}s ({measured})")
    out = os.environ.get("WB_OVERSPEND_FILE")
    if out:
        with open(out, "a") as handle:
            handle.write(json.dumps({"case": case, "overspend_s": round(seconds, 3), "measured": measured}) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if OVERSPEND:
        terminalreporter.write_sep("-", "agent dead-man switch: measured overspend")
        for case, seconds, measured in OVERSPEND:
            terminalreporter.write_line(f"{case:<28} {seconds:6.2f} s   {measured}")


@pytest.fixture(scope="session")
def bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The agent as shipped, unpacked into a folder as the client installs it."""
    import io
    import zipfile

    bundle = agent_bundle()
    folder = tmp_path_factory.mktemp("agent") / bundle.name
    zipfile.ZipFile(io.BytesIO(bundle.data)).extractall(folder)
    return folder


@pytest.fixture(scope="session")
def host_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostkey") / "ssh_host_ed25519_key"
    return sshd.keygen(path).with_suffix(".pub")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, machine: Machine | None = None) -> Any:
    """`tests.support.waiting.wait_for`, every 0.05 s; on timeout the error also shows the daemon log."""
    try:
        return waiting.wait_for(predicate, timeout, what, interval=0.05)
    except AssertionError as exc:
        if machine is None:
            raise
        raise AssertionError(f"{exc}\n--- daemon.log ---\n{machine.log()}") from None


class Machine:
    """One simulated instance: its row, its agent home, and the agent run as the client runs it."""

    def __init__(self, home: Path, bundle: Path, host_key: Path, endpoint: str) -> None:
        self.home = home
        self.work = home.parent / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.bundle = bundle
        self.host_key = host_key
        self.endpoint = endpoint
        self.instance_id = "i-0123456789abcdef0"
        self.arn = schema.instance_arn(REGION, ACCOUNT, self.instance_id)
        self.pk = schema.instance_pk(OWNER, self.arn)
        self.session = boto3.session.Session()
        self.ddb = self.session.client("dynamodb", region_name=REGION)
        self.s3 = self.session.client("s3", region_name=REGION)
        self.store = DynamoStore(TABLE, client=self.ddb)
        self.marker = home / "poweroff"
        self.armed = home / "armed"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WB_", "AWS_"))}
        self.env.update(DUMMY_CREDENTIALS)
        self.env.update({"WB_AGENT_HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"})

    @property
    def prefix(self) -> str:
        """WB_S3_PREFIX: `<owner>/<instance arn>/`."""
        return f"{OWNER}/{self.arn}/"

    # --- control plane -----------------------------------------------------------------------------

    def create_row(self, *, lease_s: float = 3.0, max_s: float = 3600.0, price: float = 1.0, **extra: Any) -> float:
        now = time.time()
        row = InstanceRecord(
            owner=OWNER, instance_arn=self.arn, instance_type="g5.xlarge", launched_at=now,
            lease_until=now + lease_s, max_until=now + max_s, price_usd_hour=price, state=InstanceState.BUSY,
            team="ml", project="proj", **extra,
        )  # fmt: skip
        self.store.create_instance(row)
        return now

    def row(self) -> InstanceRecord:
        found = self.store.get_instance(OWNER, self.arn)
        assert found is not None
        return found

    def job_row(self, job_id: str) -> JobRow:
        return next(job for job in self.store.get_jobs(OWNER, self.arn) if job.job_id == job_id)

    def put_job_row(self, job_id: str, **fields: Any) -> None:
        self.store.put_job(JobRow(OWNER, self.arn, job_id, ("sleep",), time.time(), **fields))

    def objects(self) -> dict[str, int]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return {item["Key"]: item["Size"] for item in listed}

    # --- the machine -------------------------------------------------------------------------------

    def boot(self, *, extra: dict[str, str] | None = None, **overrides: str) -> subprocess.CompletedProcess[str]:
        """Run the real boot.py as the sandbox does: identity from the environment, no IMDS."""
        agent_env = {
            "WB_POWEROFF_COMMAND": f'echo "$WB_POWEROFF_REASON $(date +%s.%N)" >> {self.marker}',
            "WB_ARM_SHUTDOWN_COMMAND": f'echo "{{seconds}} $(date +%s.%N)" >> {self.armed}',
            "WB_RENEW_SECONDS": str(RENEW_S),
            "WB_PUSH_DEADLINE_S": "5",
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "AWS_EC2_METADATA_DISABLED": "true",
            **(extra or {}),
        }
        env = {
            **self.env,
            "WB_INSTANCE_ID": self.instance_id, "WB_REGION": REGION, "WB_ACCOUNT": ACCOUNT, "WB_OWNER": OWNER,
            "WB_TABLE": TABLE, "WB_BUCKET": BUCKET, "WB_LEASE_MINUTES": str(LEASE_MIN),
            "WB_IDLE_MINUTES": str(IDLE_MIN), "WB_MAX_HOURS": "1", "WB_HOST_KEY_PUB": str(self.host_key),
            "AWS_ENDPOINT_URL": self.endpoint, "WB_BOOT_WAIT_S": "10",
            "WB_AGENT_ENV_EXTRA": "\n".join(f"{k}={v}" for k, v in agent_env.items()),
            **overrides,
        }  # fmt: skip
        return subprocess.run([AGENT_PYTHON, str(BOOT)], env=env, capture_output=True, text=True, timeout=30)

    def agent(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        # The aws client runs the agent with the venv's python and -I (boto3 lives in its site-packages).
        return subprocess.run(
            [AGENT_PYTHON, "-I", str(self.bundle), *args], env=self.env, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    @property
    def until_released(self) -> str:
        """A shell command that returns once the test calls `release()`."""
        return f"while [ ! -e {self.home.parent / 'release'} ]; do sleep 0.02; done"

    def release(self) -> None:
        (self.home.parent / "release").touch()

    def start_job(self, job_id: str, command: str, *options: str) -> None:
        result = self.agent("run", "--job-id", job_id, "--cwd", str(self.work), *options, "--", command)
        assert result.returncode == 0, result.stderr

    def job_status(self, job_id: str) -> dict[str, Any] | None:
        path = self.home / "jobs" / job_id / "status.json"
        return json.loads(path.read_text()) if path.exists() else None

    def renew_as_client(self) -> None:
        """What an attached client does every 30 s (here every RENEW_S): lease to now + leaseMinutes."""
        now = time.time()
        with contextlib.suppress(Exception):  # marked, closed or gone: a client's renewal is refused
            row = self.row()
            self.store.renew_lease(OWNER, self.arn, lease.renew(now, LEASE_MIN, row.lease_until, row.max_until), now)

    def ensure_daemon(self) -> None:
        """As the client does: `daemon --ensure` while attached, renewing the lease until the daemon runs."""
        attached = threading.Event()

        def client() -> None:
            while not attached.wait(RENEW_S):
                self.renew_as_client()

        self.renew_as_client()
        renewer = threading.Thread(target=client, daemon=True)
        renewer.start()
        try:
            result = self.agent("daemon", "--ensure")
            assert result.returncode == 0, result.stderr + self.log()
            self.wait_first_pass()
        finally:
            attached.set()
            renewer.join()

    def wait_renewed(self, count: int = 1) -> None:
        """Until the daemon has renewed the lease `count` times (its own renewals, not the client's)."""
        wait_for(lambda: self.log().count(" renew state=busy") >= count, 5, f"{count} renewal(s)", self)

    def wait_first_pass(self) -> None:
        wait_for(lambda: (self.home / "daemon.json").exists(), 5, "the daemon's first pass", self)

    def status(self) -> dict[str, Any]:
        result = self.agent("daemon", "--status")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def daemon_pid(self) -> int | None:
        path = self.home / "daemon.pid"
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        return int(record["pid"]) if is_alive(record["pid"], record.get("proc_start")) else None

    def log(self) -> str:
        path = self.home / "daemon.log"
        return path.read_text() if path.exists() else ""

    def power_offs(self) -> list[tuple[str, float]]:
        if not self.marker.exists():
            return []
        return [(line.split()[0], float(line.split()[1])) for line in self.marker.read_text().splitlines()]

    def wait_power_off(self, timeout: float = 15) -> tuple[str, float]:
        found = wait_for(self.power_offs, timeout, "the power-off command", self)
        reason, at = found[0]
        wait_for(lambda: self.daemon_pid() is None, 5, "the daemon to exit after powering off", self)
        return reason, at

    def arms(self) -> list[tuple[int, float]]:
        if not self.armed.exists():
            return []
        return [(int(line.split()[0]), float(line.split()[1])) for line in self.armed.read_text().splitlines()]

    def kill_everything(self) -> None:
        pid = self.daemon_pid()
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for meta_path in (self.home / "jobs").glob("*/meta.json"):
            with contextlib.suppress(ValueError, OSError, KeyError):
                meta = json.loads(meta_path.read_text())
                if is_alive(meta.get("pid"), meta.get("proc_start")):
                    os.killpg(meta["pgid"], signal.SIGKILL)


def create_table(client: Any) -> None:
    """The production table (lambdas/dynamo_table.table_request)."""
    from weatherballoon.lambdas.dynamo_table import table_request

    client.create_table(**table_request(TABLE))


@pytest.fixture
def machine(moto_endpoint: str, tmp_path: Path, bundle_path: Path, host_key: Path) -> Iterator[Machine]:
    box = Machine(tmp_path / "agent-home", bundle_path, host_key, moto_endpoint)
    create_table(box.ddb)
    box.s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield box
    box.kill_everything()


__all__ = ["LEASE_MIN", "Machine", "lease", "record_overspend", "wait_for"]
