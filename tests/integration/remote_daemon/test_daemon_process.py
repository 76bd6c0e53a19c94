"""`daemon --ensure` / `--status`, one daemon per machine, and what it does when the system stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.requirements import unavailable

from .conftest import Machine, wait_for


def test_without_agent_env_the_daemon_refuses_and_says_why(machine: Machine) -> None:
    result = machine.agent("daemon", "--ensure")

    assert result.returncode == 2
    assert "agent.env" in result.stderr and "not supervised" in result.stderr
    assert machine.status()["running"] is False


def test_ensure_is_idempotent_and_starts_one_daemon(machine: Machine) -> None:
    machine.create_row(lease_s=60)
    assert machine.boot().returncode == 0

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: machine.agent("daemon", "--ensure"), range(4)))

    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    assert sorted(r.stdout.split()[0] for r in results) == ["running", "running", "running", "started"]
    pid = machine.daemon_pid()
    assert pid is not None
    assert {r.stdout.split()[1] for r in results} == {str(pid)}
    again = machine.agent("daemon", "--ensure")
    assert again.stdout == f"running {pid}\n"
    report = wait_for(lambda: machine.status().get("last_pass_at") and machine.status(), 3, "a first pass", machine)
    assert (report["running"], report["pid"]) == (True, pid)
    assert report["last_contact"] > 0 and report["row"]["state"] == "busy"

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: machine.daemon_pid() is None, 5, "the daemon to die")
    assert machine.status()["running"] is False
    machine.ensure_daemon()
    assert machine.daemon_pid() not in (None, pid)


def test_sigterm_pushes_outputs_and_exits_without_powering_off(machine: Machine) -> None:
    machine.create_row(lease_s=60)
    assert machine.boot().returncode == 0
    machine.start_job("j1", f"mkdir -p out && echo 123 > out/x && {machine.until_released}", "--outputs", "out")
    machine.ensure_daemon()
    machine.wait_renewed()
    pid = machine.daemon_pid()
    assert pid is not None

    os.kill(pid, signal.SIGTERM)  # what systemd does when the instance shuts down

    wait_for(lambda: machine.daemon_pid() is None, 5, "the daemon to exit", machine)
    assert machine.objects() == {f"{machine.prefix}j1/out/x": 4}, machine.log()
    assert machine.power_offs() == []
    assert "signalled signal=SIGTERM" in machine.log() and 'push why="on shutdown"' in machine.log()


class FakeImds(BaseHTTPRequestHandler):
    """IMDSv2 as the daemon uses it: a token, then the spot instance-action, 404 until a notice is set."""

    notice: bytes | None = None

    def do_PUT(self) -> None:
        self._answer(200, b"token") if self.path == "/latest/api/token" else self._answer(404, b"")

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "token":
            return self._answer(401, b"")
        if self.path == "/latest/meta-data/spot/instance-action" and type(self).notice:
            return self._answer(200, type(self).notice or b"")
        return self._answer(404, b"")

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_spot_interruption_notice_pushes_the_outputs_of_running_jobs(machine: Machine) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeImds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeImds.notice = None
    try:
        machine.create_row(lease_s=60)
        imds = f"http://127.0.0.1:{server.server_address[1]}"
        extra = {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds}
        assert machine.boot(extra=extra).returncode == 0
        machine.start_job("j1", f"mkdir -p out && echo 12 > out/w && {machine.until_released}", "--outputs", "out")
        machine.ensure_daemon()
        machine.wait_renewed()
        assert machine.objects() == {}  # a running job's outputs wait for its end

        FakeImds.notice = json.dumps({"action": "terminate", "time": "2026-11-24T10:00:00Z"}).encode()

        wait_for(lambda: machine.objects(), 5, "the outputs pushed on the notice", machine)
        assert machine.objects() == {f"{machine.prefix}j1/out/w": 3}
        assert "spot-interruption" in machine.log()
        assert machine.status()["spot_notice"]["notice"].startswith('{"action": "terminate"')
    finally:
        server.shutdown()
        server.server_close()


def test_status_without_a_daemon_prints_json(machine: Machine) -> None:
    result = machine.agent("daemon", "--status")
    assert result.returncode == 0 and json.loads(result.stdout) == {"running": False, "pid": None}
    usage = machine.agent("daemon")
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_a_python_without_boto3_is_refused_with_a_hint(machine: Machine) -> None:
    bare = "/usr/bin/python3"
    if not os.path.exists(bare) or subprocess.run([bare, "-I", "-S", "-c", "import boto3"]).returncode == 0:
        unavailable("no python3 without boto3 on this machine")
    machine.create_row(lease_s=60)
    assert machine.boot().returncode == 0
    argv = [bare, "-I", "-S", str(machine.bundle), "daemon", "--ensure"]

    result = subprocess.run(argv, env=machine.env, capture_output=True, text=True, timeout=20)

    assert result.returncode == 1
    assert "boto3 is not importable" in result.stderr and "/opt/wb/venv" in result.stderr
    assert machine.daemon_pid() is None
