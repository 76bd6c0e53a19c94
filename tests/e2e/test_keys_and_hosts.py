"""Keys and host keys with real OpenSSH keys, a real ssh-agent and a real sshd (issue 9 item 8).

- A passphrase-protected key: the agent's copy when ssh-agent holds it; the passphrase asked on the
  terminal when there is one; else exit 255 with `ssh-add` in the message. It never crashes.
- known_hosts is read as OpenSSH reads it: `@cert-authority` and malformed lines are skipped, hashed and
  wildcard entries match, and `@revoked` refuses the key under every policy.
- A key or known_hosts path that is a FIFO, a directory or a device is named for what it is, at once.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.project import WB, Project
from tests.support.sshd import SshdHost
from tests.support.waiting import wait_for

PASSPHRASE = "correct horse"


def wb(
    project: Project, *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    """The real binary in a new session: no controlling terminal, so nothing can prompt."""
    return subprocess.run(
        [WB, *args],
        cwd=project.root,
        env={**project.env(), **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        start_new_session=True,
    )


def keygen(path: Path, passphrase: str = PASSPHRASE, *extra: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "wb-test", "-f", str(path), *extra],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME of the test's own: the default keys wb looks for are the ones the test puts there."""
    folder = tmp_path / "home"
    (folder / ".ssh").mkdir(parents=True)
    return folder


@pytest.fixture
def locked_key(tmp_path: Path, sshd_host: SshdHost) -> Iterator[Path]:
    """A passphrase-protected ed25519 key the test host authorizes (removed from authorized_keys after)."""
    key = keygen(tmp_path / "locked")
    authorized = sshd_host.user.home / ".ssh" / "authorized_keys"
    before = authorized.read_text()
    authorized.write_text(before + Path(f"{key}.pub").read_text())
    yield key
    authorized.write_text(before)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[str]:
    """A real ssh-agent; yields its socket."""
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: os.path.exists(sock), 10, "ssh-agent's socket", interval=0.02)
    yield sock
    proc.terminate()
    proc.wait(timeout=5)


def ssh_add(sock: str, key: Path, tmp_path: Path) -> None:
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho '{PASSPHRASE}'\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_AUTH_SOCK": sock, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
    subprocess.run(["ssh-add", str(key)], env=env, check=True, capture_output=True, start_new_session=True, timeout=20)


def test_a_locked_key_without_agent_or_terminal_says_ssh_add(project: Project, locked_key: Path, home: Path) -> None:
    project.write_config(identityFile=str(locked_key))
    result = wb(project, "ssh", project.host.spec, "--", "echo", "hi", env={"HOME": str(home)})
    err = result.stderr.decode()
    assert result.returncode == 255, err
    assert f"the key {locked_key} is protected by a passphrase, and there is no terminal to ask for it" in err
    assert f"ssh-add {locked_key}" in err and "Traceback" not in err and "internal error" not in err


def test_the_same_key_in_ssh_agent_is_used(
    project: Project, locked_key: Path, agent: str, home: Path, tmp_path: Path
) -> None:
    ssh_add(agent, locked_key, tmp_path)
    project.write_config(identityFile=str(locked_key))
    result = wb(project, "ssh", project.host.spec, "--", "echo", "via-agent",
                env={"HOME": str(home), "SSH_AUTH_SOCK": agent})  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"via-agent\n"


def _on_a_terminal(
    project: Project, env: dict[str, str], answers: list[bytes], timeout: float = 30, args: tuple[str, ...] = ()
) -> tuple[int, bytes]:
    """Run wb with a pty as its controlling terminal, typing each answer when a passphrase is asked for."""
    assert project.host is not None
    argv = [WB, *(args or ("ssh", project.host.spec, "--", "echo", "via-tty"))]
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.chdir(project.root)
        os.execve(WB, argv, {**project.env(), **env})
    seen = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if pending and seen.count(b"Enter passphrase") > len(answers) - len(pending):
            os.write(fd, pending.pop(0) + b"\n")
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), seen


def test_the_passphrase_is_asked_on_the_terminal(project: Project, locked_key: Path, home: Path) -> None:
    project.write_config(identityFile=str(locked_key))
    code, seen = _on_a_terminal(project, {"HOME": str(home)}, [PASSPHRASE.encode()])
    assert code == 0, seen
    assert f"Enter passphrase for key {locked_key}: ".encode() in seen and b"via-tty" in seen


def test_a_warm_run_asks_the_passphrase_on_the_commands_terminal(
    project: Project, locked_key: Path, home: Path
) -> None:
    """The warm client's child has no terminal of its own: the command hands it its own, and the passphrase is
    asked there (the keeper cannot ask anyone, so every run connects itself)."""
    project.write_config(identityFile=str(locked_key))
    env = {"HOME": str(home), "WB_KEEP_CONNECTION_MINUTES": "1"}
    run = ("-v", "run", "--", "echo", "via-tty")
    code, seen = _on_a_terminal(project, env, [PASSPHRASE.encode()], args=run)
    assert code == 0, seen
    wait_for(lambda: list((project.runtime_dir / "keepers").glob("*.warm")), 30, "the warm client listens")
    code, seen = _on_a_terminal(project, env, [PASSPHRASE.encode()], args=run)
    assert code == 0, seen
    assert b"running in the warm client" in seen
    assert f"Enter passphrase for key {locked_key}: ".encode() in seen and b"via-tty" in seen
    assert PASSPHRASE.encode() not in seen  # not echoed


def test_a_wrong_passphrase_three_times_is_255(project: Project, locked_key: Path, home: Path) -> None:
    project.write_config(identityFile=str(locked_key))
    code, seen = _on_a_terminal(project, {"HOME": str(home)}, [b"no", b"nope", b"still no"])
    assert code == 255, seen
    assert seen.count(b"wrong passphrase") >= 3 and b"(3 tries)" in seen and b"Traceback" not in seen


def test_a_locked_default_key_is_named_when_nothing_else_can_be_offered(
    project: Project, locked_key: Path, home: Path
) -> None:
    default = home / ".ssh" / "id_ed25519"
    default.write_bytes(locked_key.read_bytes())
    default.chmod(0o600)
    config = json.loads((project.root / ".weatherballoon.json").read_text())
    del config["provisioner"]["identityFile"]
    (project.root / ".weatherballoon.json").write_text(json.dumps(config))
    result = wb(project, "ssh", project.host.spec, "--", "true", env={"HOME": str(home)})
    err = result.stderr.decode()
    assert result.returncode == 255, err
    assert f"no SSH key to offer: {default} has a passphrase: ssh-add {default}" in err


@pytest.mark.parametrize("kind", ["fifo", "directory", "missing"])
def test_an_identity_file_that_is_no_file_is_named(project: Project, tmp_path: Path, home: Path, kind: str) -> None:
    path = tmp_path / f"key-{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    project.write_config(identityFile=str(path))
    result = wb(project, "ssh", project.host.spec, "--", "true", env={"HOME": str(home)}, timeout=20)
    err = result.stderr.decode()
    assert result.returncode == 255, err
    says = {"fifo": "is a FIFO, not a regular key file", "directory": "is a directory, not a key file",
            "missing": "does not exist"}[kind]  # fmt: skip
    assert f"provisioner.identityFile {path} {says}" in err


def _host_line(host: SshdHost) -> str:
    """The `[127.0.0.1]:PORT ssh-ed25519 AAAA...` line for the host's real key."""
    return host.known_hosts.read_text().strip()


def test_known_hosts_is_read_as_openssh_reads_it(project: Project, sshd_host: SshdHost, tmp_path: Path) -> None:
    name, key_type, blob = _host_line(sshd_host).split()
    other_type, other_blob = Path(f"{project.host.identity}.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(
        "# a comment, then lines wb cannot use: skipped, one by one\n"
        f"@cert-authority *.example.com {other_type} {other_blob}\n"
        "garbage\n"
        "host-only ssh-ed25519\n"
        "bad.example ssh-ed25519 !!!not-base64!!!\n"
        "@unknown-marker * ssh-ed25519 AAAA\n"
        f"|1|bm90IGEgcmVhbCBoYXNo|bm90IGEgcmVhbCBoYXNo {other_type} {other_blob}\n"
        f"{name} {key_type} {blob} trusted\n"
    )
    project.write_config(knownHostsFile=str(known))
    result = wb(project, "ssh", sshd_host.spec, "--", "echo", "ok")
    assert (result.returncode, result.stdout) == (0, b"ok\n"), result.stderr.decode()


def test_hashed_and_wildcard_entries_match(project: Project, sshd_host: SshdHost, tmp_path: Path) -> None:
    _, key_type, blob = _host_line(sshd_host).split()
    hashed = tmp_path / "hashed"
    hashed.write_text(f"[127.0.0.1]:{sshd_host.port} {key_type} {blob}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(hashed)], check=True, capture_output=True)
    assert hashed.read_text().startswith("|1|")
    wildcard = tmp_path / "wildcard"
    wildcard.write_text(f"!10.*,[127.0.0.?]:{sshd_host.port} {key_type} {blob}\n")
    for known in (hashed, wildcard):
        project.write_config(knownHostsFile=str(known))
        result = wb(project, "ssh", sshd_host.spec, "--", "echo", "ok")
        assert (result.returncode, result.stdout) == (0, b"ok\n"), result.stderr.decode()


@pytest.mark.parametrize("policy", ["strict", "accept-new"])
def test_a_revoked_host_key_is_refused(project: Project, sshd_host: SshdHost, tmp_path: Path, policy: str) -> None:
    name, key_type, blob = _host_line(sshd_host).split()
    known = tmp_path / "known_hosts"
    known.write_text(f"{name} {key_type} {blob}\n@revoked * {key_type} {blob}\n")
    project.write_config(knownHostsFile=str(known), hostKeyPolicy=policy)
    result = wb(project, "ssh", sshd_host.spec, "--", "echo", "never")
    err = result.stderr.decode()
    assert result.returncode == 255 and result.stdout == b"", err
    assert f"the server offers a REVOKED {key_type} key" in err and f"{known}:2 revokes it" in err


@pytest.mark.parametrize("path", ["/dev/zero", "directory"])
def test_a_known_hosts_path_that_is_no_file_is_refused_at_once(project: Project, tmp_path: Path, path: str) -> None:
    known = Path(path) if path.startswith("/") else tmp_path / path
    if not known.exists():
        known.mkdir()
    project.write_config(knownHostsFile=str(known))
    started = time.monotonic()
    result = wb(project, "ssh", project.host.spec, "--", "true")
    err = result.stderr.decode()
    assert result.returncode == 255, err
    assert f"cannot use the known hosts file {known}: it is" in err
    assert time.monotonic() - started < 15
