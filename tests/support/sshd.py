"""A real OpenSSH sshd on loopback (or inside a network namespace), with its own host key and user.

The server is the one launcher the sandbox starts for its hosts too (`weatherballoon.sandbox.launchers.sshd`),
here without PAM on a port of its own. The login user is a fresh unprivileged account whose home lives in the
test's temp dir, so remote state (`~/.weatherballoon`) never mixes with the client's and root's pyenv
`.bashrc` is not in the way.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from weatherballoon.sandbox.launchers import sshd as launcher
from weatherballoon.sandbox.launchers.ports import free_port


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """A key pair at `path` and `path.pub`, made unless it exists."""
    return launcher.keygen(path, kind, comment="wb-test")


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
        self.host_key = keygen(self.workdir / "ssh_host_ed25519_key")
        self.known_hosts = self.workdir / "known_hosts"
        if not self.port:
            self.port = free_port()
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

    def start(self) -> SshdHost:
        Path("/run/sshd").mkdir(exist_ok=True)
        config = launcher.write_config(self.workdir, self.address, self.port, use_pam=False)
        cmd = launcher.command(config)
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        log = self.workdir / "sshd.log"
        self.proc = launcher.start(cmd, log, new_session=True)
        launcher.wait_ready(
            self.proc, self.address, log, port=self.port, answers=self._answers_in_netns if self.netns else None
        )
        return self

    def _answers_in_netns(self) -> bool:
        probe = f"exec 3<>/dev/tcp/{self.address}/{self.port}"
        cmd = ["ip", "netns", "exec", str(self.netns), "bash", "-c", probe]
        return subprocess.run(cmd, capture_output=True, check=False).returncode == 0

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
