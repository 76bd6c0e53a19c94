"""Plain OpenSSH reaches wb machines, and ports are forwarded to localhost only (issue 11 item 4).

- `ssh -F <(wb ssh-config) HOST true` with the real `ssh` binary: the entry's ProxyCommand is `wb proxy`, the
  host key is pinned in wb's own known_hosts file (a wrong pin is refused), bad input to `wb proxy` is named.
- `wb ssh -L` and `wb run -p`: a real TCP server on the machine (inside a network namespace, on its own
  127.0.0.1) is reachable through 127.0.0.1 here, and the listener is on 127.0.0.1, never 0.0.0.0.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import NetNamespace, network_namespace_or_skip
from tests.support.project import WB, Project, make_project
from tests.support.sshd import SshdHost, TestUser


def ssh_through_wb(project: Project, host: str, *command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`wb ssh-config > FILE && ssh -F FILE HOST COMMAND` with the real ssh, from another folder. (Not
    `ssh -F <(wb ssh-config)`: OpenSSH closes inherited descriptors before it reads -F, so /dev/fd/N is gone.)"""
    config = project.root.parent / "wb-ssh-config"
    line = f"{WB} ssh-config > {config} && cd / && ssh -F {config} -o BatchMode=yes {host} {' '.join(command)}"
    return subprocess.run(["bash", "-c", line], cwd=project.root, env=project.env(), capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip


def test_ssh_with_the_printed_config_logs_in_through_wb_proxy(project: Project, sshd_host: SshdHost) -> None:
    printed = project.wb("ssh-config", check=True).stdout.decode()
    name = f"127.0.0.1-{sshd_host.port}"
    assert f"Host {name}\n" in printed
    assert " proxy %h\n" in printed and "StrictHostKeyChecking yes\n" in printed
    assert f"HostKeyAlias {name}\n" in printed
    pins = project.data_dir / "ssh_known_hosts"
    host_key = Path(f"{sshd_host.host_key}.pub").read_text().split()
    assert f"{name} {host_key[0]} {host_key[1]}\n" in pins.read_text()

    result = ssh_through_wb(project, name, "echo", "'$SSH_CONNECTION'")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.split()[2:4] == [b"127.0.0.1", str(sshd_host.port).encode()]


def test_the_printed_config_piped_straight_into_ssh_logs_in(project: Project, sshd_host: SshdHost) -> None:
    """The one-liner without a saved file: `wb ssh-config | ssh -F /dev/stdin HOST true` (stdin is the one
    inherited descriptor OpenSSH keeps open while it reads -F)."""
    name = f"127.0.0.1-{sshd_host.port}"
    line = f"{WB} ssh-config | ssh -F /dev/stdin -o BatchMode=yes {name} echo piped"
    result = subprocess.run(["bash", "-c", line], cwd=project.root, env=project.env(), capture_output=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"piped\n"


def test_a_wrong_pinned_key_is_refused_by_ssh(project: Project, sshd_host: SshdHost, tmp_path: Path) -> None:
    project.wb("ssh-config", check=True)
    pins = project.data_dir / "ssh_known_hosts"
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, blob = Path(f"{other}.pub").read_text().split()[:2]
    name = f"127.0.0.1-{sshd_host.port}"
    # ssh-config writes the pins again each time it runs: ssh reads them through a config saved now
    config = tmp_path / "ssh_config"
    config.write_text(project.wb("ssh-config", check=True).stdout.decode())
    pins.write_text(f"{name} {kind} {blob}\n")
    result = subprocess.run(["ssh", "-F", str(config), "-o", "BatchMode=yes", name, "true"], env=project.env(),
                            capture_output=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    assert result.returncode == 255
    assert (
        b"REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr or b"Host key verification failed" in result.stderr
    )


def test_wb_proxy_names_an_unknown_host_and_a_refused_connection(project: Project, sshd_host: SshdHost) -> None:
    unknown = project.wb("proxy", "nosuchhost")
    assert unknown.returncode == 2
    assert b"'nosuchhost' is not one of provisioner.hosts" in unknown.stderr

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    project.write_config(hosts=[f"{sshd_host.user.name}@127.0.0.1:{closed_port}"])
    refused = project.wb("proxy", f"127.0.0.1:{closed_port}")
    assert refused.returncode == 255
    assert b"connection refused" in refused.stderr


# --- port forwarding ---------------------------------------------------------------------------------------


@pytest.fixture
def ns() -> Iterator[NetNamespace]:
    with network_namespace_or_skip() as namespace:
        yield namespace


@pytest.fixture
def far_project(tmp_path: Path, ns: NetNamespace, ssh_user: TestUser, ssh_identity: Path) -> Iterator[Project]:
    """A project on an sshd inside a namespace: the machine's 127.0.0.1 is not ours."""
    host = SshdHost(tmp_path / "far", ssh_user, ssh_identity, address=ns.address, netns=ns.name).start()
    yield make_project(tmp_path, host)
    host.stop()


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listeners(port: int) -> set[str]:
    """The local addresses of TCP listeners on `port` (from /proc/net/tcp: state 0A is LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if fields[3] == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def fetch(port: int, timeout: float = 40, read_after: float = 0) -> bytes:
    """What the forwarded server says, once it is up: before wb listens the port refuses, and before the
    server listens the forward closes the connection. `read_after`: seconds to wait before reading."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = bytearray()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                time.sleep(read_after)
                while chunk := conn.recv(65536):
                    data += chunk
        except ConnectionRefusedError:
            pass
        if data:
            return bytes(data)
        time.sleep(0.3)
    raise AssertionError(f"nothing came through 127.0.0.1:{port} in {timeout:g} s")


def one_shot_server(port: int, reply: str, repeat: int = 1) -> str:
    """A shell command: a TCP server on the machine's 127.0.0.1:PORT that answers one connection (with `reply`
    `repeat` times) and exits."""
    program = (
        "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        f's.bind(("127.0.0.1", {port})); s.listen(); c, _ = s.accept(); c.sendall(b"{reply}" * {repeat}); '
        "c.close()"
    )
    return f"python3 -c '{program}'"


def test_wb_ssh_L_reaches_a_server_on_the_machine_through_127_0_0_1_only(
    far_project: Project, ns: NetNamespace
) -> None:
    assert far_project.host is not None
    remote_port, local_port = free_local_port(), free_local_port()
    proc = far_project.popen("ssh", "-L", f"{local_port}:localhost:{remote_port}", far_project.host.spec, "--",
                             one_shot_server(remote_port, "hello through -L"))  # fmt: skip
    try:
        deadline = time.monotonic() + 40
        while not listeners(local_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        # looked at before the one connection the server answers: the command, and the listener, end after it
        assert listeners(local_port) == {"127.0.0.1"}
        with pytest.raises(ConnectionRefusedError):  # not on this machine's other addresses
            socket.create_connection((ns.near_address, local_port), timeout=5).close()
        assert fetch(local_port) == b"hello through -L"
        assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else b""
    finally:
        proc.kill()
        proc.wait()
    assert not listeners(local_port)  # the listener ends with the command


def test_a_reply_still_in_flight_when_the_command_ends_arrives_whole(far_project: Project) -> None:
    """The server sends 8 MiB and exits, so the command ends while the reply is still on its way to a reader
    that is slow to start: wb waits for the carried connection to finish, as ssh does, instead of cutting it
    (seen under load as an empty reply)."""
    assert far_project.host is not None
    remote_port, local_port = free_local_port(), free_local_port()
    proc = far_project.popen("ssh", "-L", f"{local_port}:localhost:{remote_port}", far_project.host.spec, "--",
                             one_shot_server(remote_port, "0123456789abcdef", repeat=512 * 1024))  # fmt: skip
    try:
        assert fetch(local_port, read_after=1.5) == b"0123456789abcdef" * 512 * 1024
        assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else b""
    finally:
        proc.kill()
        proc.wait()


def test_a_connection_left_idle_after_the_command_ends_is_closed_and_wb_exits(far_project: Project) -> None:
    """A server left running in the background holds its connection open (a browser tab on a notebook, say):
    once the command has ended and no byte has moved for a while, wb closes it, says so, and exits."""
    assert far_project.host is not None
    remote_port, local_port = free_local_port(), free_local_port()
    accepted = f"/tmp/wb-accepted-{remote_port}"
    holder = (
        "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        f's.bind(("127.0.0.1", {remote_port})); s.listen(); c, _ = s.accept(); open("{accepted}", "w").close(); '
        "time.sleep(30)"
    )
    command = f"python3 -c '{holder}' >/dev/null 2>&1 & while [ ! -e {accepted} ]; do sleep 0.1; done"
    proc = far_project.popen("ssh", "-L", f"{local_port}:localhost:{remote_port}", far_project.host.spec, "--",
                             "sh", "-c", command)  # fmt: skip
    try:
        deadline = time.monotonic() + 40
        while True:  # until the held connection reaches the server (earlier tries are refused or closed at once)
            try:
                conn = socket.create_connection(("127.0.0.1", local_port), timeout=60)
            except ConnectionRefusedError:
                conn = None
            if conn is not None:
                conn.settimeout(0.5)
                try:
                    if conn.recv(1) == b"":  # the machine refused the forward: try again
                        conn.close()
                        conn = None
                except TimeoutError:
                    break  # held open
            assert time.monotonic() < deadline, "the forward never reached the server"
            time.sleep(0.3)
        with conn:
            assert proc.wait(30) == 0
            conn.settimeout(5)
            assert conn.recv(1) == b""  # closed by wb
        assert proc.stderr is not None
        assert b"idle for 5 s after the command ended" in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    assert not listeners(local_port)


def test_wb_run_p_forwards_the_same_port_while_the_job_runs(far_project: Project) -> None:
    port = free_local_port()
    proc = far_project.popen("run", "-p", str(port), "--", "sh", "-c", one_shot_server(port, "hello through -p"))
    try:
        assert fetch(port) == b"hello through -p"
        assert listeners(port) <= {"127.0.0.1"}
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else b""
    finally:
        proc.kill()
        proc.wait()


def test_a_forward_on_another_address_or_a_taken_port_is_refused(project: Project, sshd_host: SshdHost) -> None:
    wide = project.wb("ssh", "-L", "0.0.0.0:8888:localhost:8888", sshd_host.spec, "--", "true")
    assert wide.returncode == 2
    assert b"forwards listen on localhost only, not on '0.0.0.0'" in wide.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = project.wb("ssh", "-L", f"{port}:localhost:22", sshd_host.spec, "--", "true")
    assert busy.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}".encode() in busy.stderr
    detached = project.wb("run", "-d", "-p", "6006", "--", "true")
    assert detached.returncode == 2 and b"-p forwards a port while wb stays attached" in detached.stderr


def test_ssh_config_warns_about_a_host_it_cannot_pin_and_jobs_all_needs_a_table(
    project: Project, sshd_host: SshdHost
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    project.write_config(hosts=[sshd_host.spec, f"{sshd_host.user.name}@127.0.0.1:{closed_port}"])
    printed = project.wb("ssh-config")
    assert printed.returncode == 0, printed.stderr
    assert f"Host 127.0.0.1-{closed_port}\n".encode() in printed.stdout  # the entry is there, unpinned
    assert b"host key not pinned (connection refused)" in printed.stderr
    pins = (project.data_dir / "ssh_known_hosts").read_text()
    assert f"127.0.0.1-{sshd_host.port} " in pins and f"127.0.0.1-{closed_port} " not in pins

    everyone = project.wb("jobs", "--all")
    assert everyone.returncode == 2
    assert b"--all: the ssh provider keeps no shared record of jobs" in everyone.stderr
