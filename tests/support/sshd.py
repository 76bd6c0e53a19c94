"""A real OpenSSH sshd on loopback (or inside a network namespace), with its own host key and user.

The login user is a fresh unprivileged account whose home lives in the test's temp dir, so remote state
(`~/.weatherballoon`) never mixes with the client's and root's pyenv `.bashrc` is not in the way.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def keygen(path: Path, kind: str = "ed25519") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "wb-test", "-f", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return path


@dataclass
class TestUser:
    name: str
    home: Path
    uid: int
    gid: int

    @classmethod
    def create(cls, parent: Path) -> TestUser:
        name = f"wbt{uuid.uuid4().hex[:8]}"
        home = parent / name
        subprocess.run(
            ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash", name],
            check=True,
        )
        # useradd leaves the account locked, and sshd with UsePAM no refuses locked accounts.
        subprocess.run(["usermod", "-p", "*", name], check=True)
        entry = pwd.getpwnam(name)
        home.chmod(0o755)
        parent.chmod(parent.stat().st_mode | 0o755)
        return cls(name=name, home=home, uid=entry.pw_uid, gid=entry.pw_gid)

    def chown(self, path: Path) -> None:
        os.chown(path, self.uid, self.gid)

    def delete(self) -> None:
        subprocess.run(["pkill", "-KILL", "-u", self.name], check=False)
        subprocess.run(["userdel", "--force", self.name], check=False, stderr=subprocess.DEVNULL)


@dataclass
class SshdHost:
    """One sshd process; `known_hosts`, `identity` and `user` are what a client needs."""

    workdir: Path
    user: TestUser
    identity: Path
    address: str = "127.0.0.1"
    port: int = 0
    netns: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    host_key: Path = field(init=False)
    known_hosts: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host_key = self.workdir / "ssh_host_ed25519_key"
        if not self.host_key.exists():
            keygen(self.host_key)
        self.known_hosts = self.workdir / "known_hosts"
        if not self.port:
            self.port = _free_port()
        self._write_known_hosts()
        ssh_dir = self.user.home / ".ssh"
        ssh_dir.mkdir(exist_ok=True)
        auth = ssh_dir / "authorized_keys"
        auth.write_text(Path(f"{self.identity}.pub").read_text())
        for path in (ssh_dir, auth):
            self.user.chown(path)

    @property
    def spec(self) -> str:
        """The `provisioner.hosts` entry for this host."""
        return f"{self.user.name}@{self.address}:{self.port}"

    def _write_known_hosts(self) -> None:
        pub = Path(f"{self.host_key}.pub").read_text().split()
        host = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        self.known_hosts.write_text(f"{host} {pub[0]} {pub[1]}\n")

    def rotate_host_key(self) -> None:
        """Give the server a new host key (the client's known_hosts keeps the old one)."""
        self.host_key.unlink()
        Path(f"{self.host_key}.pub").unlink()
        keygen(self.host_key)

    def config_text(self) -> str:
        return "\n".join(
            [
                f"Port {self.port}",
                f"ListenAddress {self.address}",
                f"HostKey {self.host_key}",
                f"PidFile {self.workdir / 'sshd.pid'}",
                "AuthorizedKeysFile .ssh/authorized_keys",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin no",
                "MaxSessions 64",
                "MaxStartups 64:30:128",
                "ClientAliveInterval 0",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )

    def start(self) -> SshdHost:
        Path("/run/sshd").mkdir(exist_ok=True)
        config = self.workdir / "sshd_config"
        config.write_text(self.config_text())
        cmd = [SSHD, "-D", "-e", "-f", str(config)]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        log = open(self.workdir / "sshd.log", "ab")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.workdir / "sshd.log").read_text(errors="replace")
                raise RuntimeError(f"sshd exited early: {log}")
            try:
                if self.netns:
                    probe = subprocess.run(
                        ["ip", "netns", "exec", self.netns, "bash", "-c",
                         f"exec 3<>/dev/tcp/{self.address}/{self.port}"],
                        capture_output=True,
                        check=False,
                    )
                    if probe.returncode == 0:
                        return
                else:
                    with socket.create_connection((self.address, self.port), timeout=0.5) as sock:
                        if sock.recv(4).startswith(b"SSH"):
                            return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"sshd on {self.address}:{self.port} not ready")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the listener. Sessions already open keep their own sshd children unless killed too."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def kill_all_sessions(self) -> None:
        """Kill the listener and every sshd session process of the test user (like `kill sshd`)."""
        self.stop(signal.SIGKILL)
        subprocess.run(["pkill", "-KILL", "-f", f"sshd: {self.user.name}"], check=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
