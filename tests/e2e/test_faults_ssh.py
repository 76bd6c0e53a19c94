"""Faults on the SSH path, end to end: the real `wb` binary against a real sshd, no mocks.

A job must outlive every failure of its client's connection (a cut link, a killed client, a killed sshd),
`wb run` must say what happened and exit 255, and `wb logs -f` must later show every byte and return the
job's own code. Connection set-up failures (refused, timed out, bad key, changed or unknown host key) must
each exit 255 with a message naming the host and a hint.

Measured outcomes are printed (run with `-s` to see them); they go into the issue note.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import sshd
from tests.support.background import Attached
from tests.support.netns import NetNamespace, network_namespace_or_skip
from tests.support.project import Project, make_project
from tests.support.sshd import SshdHost, keygen
from tests.support.waiting import wait_for

# Loss must be reported within keepalive (3 s) + TCP_USER_TIMEOUT (12 s), plus slack for a loaded CI box.
LOSS_BOUND_S = 25.0
CONNECT_TIMEOUT_BOUND_S = 20.0
JOB_EXIT = 7


def job_script(lines: int, pause_s: float) -> str:
    """Prints its job id, then `lines` numbered lines on each stream, then exits JOB_EXIT."""
    return (
        'echo "job=$WB_JOB_ID"; i=0; '
        f"while [ $i -lt {lines} ]; do i=$((i+1)); echo out-$i; echo err-$i >&2; sleep {pause_s}; done; "
        f"exit {JOB_EXIT}"
    )


def expected_streams(job_id: str, lines: int) -> tuple[bytes, bytes]:
    out = f"job={job_id}\n" + "".join(f"out-{i}\n" for i in range(1, lines + 1))
    err = "".join(f"err-{i}\n" for i in range(1, lines + 1))
    return out.encode(), err.encode()


def start_job(project: Project, lines: int, pause_s: float) -> tuple[Attached, str]:
    """`wb run` of `job_script` in the background, once it has printed two lines; and its job id."""
    run = Attached(project.popen("run", "--no-sync", "--", "sh", "-c", job_script(lines, pause_s)), "wb run")
    run.wait_stdout(r"out-2\n", 30)
    return run, run.wait_stdout(r"job=(\S+)\n", 1).group(1)


def wait_loss_reported(run: Attached, job_id: str, since: float) -> float:
    """`wb run` exits 255, saying it lost the connection and how to reattach; the seconds since `since`."""
    code = run.wait(timeout=LOSS_BOUND_S + 10)
    detected_s = time.monotonic() - since
    assert code == 255, run.stderr
    assert "lost the connection" in run.stderr
    assert f"wb logs -f {job_id}" in run.stderr
    return detected_s


def write_config(project: Project, **provisioner: object) -> None:
    """The project's config without sync.outputs: these tests are about the connection, not the pull."""
    path = project.write_config(**provisioner)
    config = json.loads(path.read_text())
    config.pop("sync", None)
    path.write_text(json.dumps(config, indent=2))


def job_files(host: SshdHost, job_id: str) -> Path:
    return host.user.home / ".weatherballoon" / "jobs" / job_id


def read_status(host: SshdHost, job_id: str) -> dict[str, object] | None:
    try:
        return dict(json.loads((job_files(host, job_id) / "status.json").read_text()))
    except (OSError, ValueError):
        return None


def assert_replay_is_whole(project: Project, job_id: str, lines: int) -> None:
    """`wb logs -f JOB` returns the job's own code and every byte of both streams, nothing else."""
    replay = project.wb("-q", "logs", "-f", job_id, timeout=60)
    want_out, want_err = expected_streams(job_id, lines)
    assert replay.returncode == JOB_EXIT, replay.stderr.decode()
    assert replay.stdout == want_out
    assert replay.stderr == want_err


def record(outcome: str) -> None:
    print(f"\n[fault outcome] {outcome}")


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    with network_namespace_or_skip() as ns:
        yield ns


@pytest.fixture
def netns_host(netns: NetNamespace, tmp_path: Path, ssh_user: sshd.TestUser, ssh_identity: Path) -> Iterator[SshdHost]:
    """An sshd inside the namespace, reached over the veth link at `netns.address`."""
    host = SshdHost(tmp_path / "sshd-ns", ssh_user, ssh_identity, address=netns.address, netns=netns.name).start()
    yield host
    host.stop()


@pytest.fixture
def netns_project(tmp_path: Path, netns_host: SshdHost) -> Project:
    project = make_project(tmp_path, netns_host)
    write_config(project)
    return project


@pytest.fixture
def fresh_project(tmp_path: Path, fresh_sshd_host: SshdHost) -> Project:
    project = make_project(tmp_path, fresh_sshd_host)
    write_config(project)
    return project


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that completes the handshake but never sends an SSH banner."""
    server = socket.create_server(("127.0.0.1", 0), backlog=8)
    yield int(server.getsockname()[1])
    server.close()


# --- a job outlives its connection ---------------------------------------------------------------------


@pytest.mark.netns
@pytest.mark.slow
@pytest.mark.timeout(90)
def test_cut_link_job_survives_loss_reported_and_replay_is_whole(
    netns: NetNamespace, netns_host: SshdHost, netns_project: Project
) -> None:
    lines = 30
    run, job_id = start_job(netns_project, lines, 0.25)
    stdout_file = job_files(netns_host, job_id) / "stdout"

    netns.cut()
    cut_at = time.monotonic()
    size_at_cut = stdout_file.stat().st_size
    wait_for(lambda: stdout_file.stat().st_size > size_at_cut, 10, "the job writing on while the link is cut")

    detected_s = wait_loss_reported(run, job_id, cut_at)
    status = read_status(netns_host, job_id)
    record(
        f"link cut (nftables drop) during a job: wb run exited 255 after {detected_s:.1f} s "
        f"(bound {LOSS_BOUND_S:g} s); job state while cut: {status and status.get('exit_code')}"
    )
    assert detected_s <= LOSS_BOUND_S

    netns.restore()
    assert_replay_is_whole(netns_project, job_id, lines)
    record("after restore, wb logs -f returned the job's exit code and all of stdout and stderr: nothing lost")


@pytest.mark.timeout(60)
def test_kill_9_of_the_client_leaves_the_job_running(fresh_project: Project, fresh_sshd_host: SshdHost) -> None:
    lines = 12
    run, job_id = start_job(fresh_project, lines, 0.2)
    run.proc.kill()
    run.wait(timeout=10)
    assert read_status(fresh_sshd_host, job_id) is None, "the job ended with its client"

    assert_replay_is_whole(fresh_project, job_id, lines)
    status = read_status(fresh_sshd_host, job_id)
    assert status is not None and status.get("exit_code") == JOB_EXIT
    record("kill -9 of wb run mid-job: the job ran to its end; wb logs -f returned 7 and every byte")


@pytest.mark.timeout(60)
def test_sshd_killed_mid_job_job_survives_and_replay_is_whole(
    fresh_project: Project, fresh_sshd_host: SshdHost
) -> None:
    lines = 20
    run, job_id = start_job(fresh_project, lines, 0.2)

    fresh_sshd_host.kill_all_sessions()
    killed_at = time.monotonic()
    detected_s = wait_loss_reported(run, job_id, killed_at)
    assert read_status(fresh_sshd_host, job_id) is None, "the job died with sshd"

    fresh_sshd_host.start()
    assert_replay_is_whole(fresh_project, job_id, lines)
    record(
        f"sshd killed (listener and sessions, SIGKILL) mid-job: wb run exited 255 after {detected_s:.1f} s; "
        "the job kept running; after restarting sshd, wb logs -f returned 7 and every byte"
    )


def sshd_processes(listener_pid: int) -> list[int]:
    """The listener and every sshd process below it (a connection's monitor and session), not the agent or
    the job that a session started."""
    rows = [line.split(None, 2) for line in subprocess.run(
        ["ps", "-eo", "pid=,ppid=,comm="], capture_output=True, text=True, check=True
    ).stdout.splitlines()]  # fmt: skip
    children: dict[int, list[tuple[int, str]]] = {}
    for pid, ppid, comm in rows:
        children.setdefault(int(ppid), []).append((int(pid), comm.strip()))
    found, todo = [listener_pid], [listener_pid]
    while todo:
        for pid, comm in children.get(todo.pop(), []):
            if comm.startswith("sshd"):
                found.append(pid)
                todo.append(pid)
    return found


@pytest.mark.timeout(90)
def test_a_wedged_sshd_is_reported_like_a_cut_link(fresh_project: Project, fresh_sshd_host: SshdHost) -> None:
    """sshd stopped (SIGSTOP): the kernel still acknowledges TCP, so only keepalives that want a reply tell."""
    lines = 40
    run, job_id = start_job(fresh_project, lines, 0.25)
    assert fresh_sshd_host.proc is not None
    wedged = sshd_processes(fresh_sshd_host.proc.pid)
    assert len(wedged) >= 2, "no session process under the listener"
    for pid in wedged:
        os.kill(pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        detected_s = wait_loss_reported(run, job_id, stopped_at)
        assert "stopped answering" in run.stderr
    finally:
        for pid in wedged:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    record(f"sshd and its sessions SIGSTOPped mid-job: wb run exited 255 after {detected_s:.1f} s")
    assert detected_s <= LOSS_BOUND_S
    assert_replay_is_whole(fresh_project, job_id, lines)  # the job ran on to its own end, every byte kept


# --- connection set-up failures ------------------------------------------------------------------------


def _connect_error(project: Project, *, timeout: float = 60) -> tuple[str, float]:
    start = time.monotonic()
    result = project.wb("run", "--no-sync", "--", "true", timeout=timeout)
    elapsed = time.monotonic() - start
    err = result.stderr.decode(errors="replace")
    assert result.returncode == 255, f"exit {result.returncode}: {err}"
    assert result.stdout == b""
    assert "Traceback" not in err
    assert "hint:" in err, err
    return err, elapsed


def test_connection_refused(fresh_project: Project, fresh_sshd_host: SshdHost) -> None:
    fresh_sshd_host.stop()
    err, elapsed = _connect_error(fresh_project)
    assert f"127.0.0.1:{fresh_sshd_host.port}" in err
    assert "refused" in err
    record(f"sshd stopped: exit 255 in {elapsed:.2f} s: {err.strip().splitlines()[0]}")


@pytest.mark.timeout(60)
def test_no_banner_times_out(tmp_path: Path, sshd_host: SshdHost, silent_listener: int) -> None:
    project = make_project(tmp_path, sshd_host)
    write_config(project, hosts=[f"{sshd_host.user.name}@127.0.0.1:{silent_listener}"])
    err, elapsed = _connect_error(project)
    assert f"127.0.0.1:{silent_listener}" in err
    assert "timed out" in err, err
    assert elapsed <= CONNECT_TIMEOUT_BOUND_S
    record(f"listener that never sends a banner: exit 255 after {elapsed:.1f} s: {err.strip().splitlines()[0]}")


@pytest.mark.netns
@pytest.mark.timeout(60)
def test_cut_link_before_connecting_times_out(
    netns: NetNamespace, netns_host: SshdHost, netns_project: Project
) -> None:
    netns.cut()
    err, elapsed = _connect_error(netns_project)
    assert f"{netns.address}:{netns_host.port}" in err
    assert "timed out" in err, err
    assert elapsed <= CONNECT_TIMEOUT_BOUND_S
    record(f"link cut before connecting: exit 255 after {elapsed:.1f} s: {err.strip().splitlines()[0]}")


def test_wrong_identity_is_an_auth_failure(tmp_path: Path, fresh_project: Project) -> None:
    stranger = keygen(tmp_path / "not_authorized")
    write_config(fresh_project, identityFile=str(stranger))
    err, _ = _connect_error(fresh_project)
    assert "authentication failed" in err
    record(f"unauthorized key: exit 255: {err.strip().splitlines()[0]}")


def test_changed_host_key_is_refused(fresh_project: Project, fresh_sshd_host: SshdHost) -> None:
    known_before = fresh_sshd_host.known_hosts.read_bytes()
    fresh_sshd_host.stop()
    fresh_sshd_host.rotate_host_key()
    fresh_sshd_host.start()
    for policy in ("strict", "accept-new"):
        write_config(fresh_project, hostKeyPolicy=policy)
        err, _ = _connect_error(fresh_project)
        assert "REMOTE HOST KEY CHANGED" in err
    assert fresh_sshd_host.known_hosts.read_bytes() == known_before, "a changed key was written to known_hosts"
    record("rotated host key: exit 255 with REMOTE HOST KEY CHANGED under strict and accept-new; never accepted")


def test_unknown_host_key_strict_refuses_accept_new_remembers(
    tmp_path: Path, fresh_project: Project, fresh_sshd_host: SshdHost
) -> None:
    known_hosts = tmp_path / "empty_known_hosts"
    known_hosts.write_text("")
    write_config(fresh_project, knownHostsFile=str(known_hosts))
    err, _ = _connect_error(fresh_project)
    assert "not known" in err
    assert known_hosts.read_text() == ""

    write_config(fresh_project, knownHostsFile=str(known_hosts), hostKeyPolicy="accept-new")
    accepted = fresh_project.wb("run", "--no-sync", "--", "echo", "hi")
    assert accepted.returncode == 0, accepted.stderr.decode()
    assert accepted.stdout == b"hi\n"
    remembered = known_hosts.read_text()
    server_key = Path(f"{fresh_sshd_host.host_key}.pub").read_text().split()[1]
    assert f"[127.0.0.1]:{fresh_sshd_host.port}" in remembered and server_key in remembered

    write_config(fresh_project, knownHostsFile=str(known_hosts))
    again = fresh_project.wb("run", "--no-sync", "--", "true")
    assert again.returncode == 0, again.stderr.decode()
    record("unknown host key: strict exits 255 and writes nothing; accept-new runs and remembers the key")
