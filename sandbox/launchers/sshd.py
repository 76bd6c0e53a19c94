"""A host's OpenSSH server: its own ed25519 host key, a minimal config, listening on the private IP, port 22.

It runs with PAM and the machine's stock /etc/pam.d/sshd (Debian's, as openssh-server ships it, which is
Ubuntu's), so what an Ubuntu instance refuses a sandbox host refuses too: above all pam_nologin, which
shuts every login but root's out while the host's own /run/nologin exists. sshd finds its privilege
separation directory in the host's own /run (hostfs.py).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import SandboxError
from .system import run, tool

PORT = 22
READY_TIMEOUT_S = 10.0


def keygen(path: Path) -> Path:
    """An ed25519 key pair at `path` and `path.pub` (kept when it already exists: a reboot keeps its key)."""
    if not path.exists():
        run([tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "wb-sandbox-host", "-f", str(path)])
    return path


def fingerprint(public_key_file: Path) -> str:
    """`SHA256:<unpadded base64>` of the key blob, as `ssh-keygen -l` and the client's check compute it."""
    blob = base64.b64decode(public_key_file.read_text().split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def config_text(address: str, host_key: Path, pid_file: Path) -> str:
    return "\n".join(
        [
            f"Port {PORT}",
            f"ListenAddress {address}",
            f"HostKey {host_key}",
            f"PidFile {pid_file}",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM yes",
            "StrictModes no",
            "PermitRootLogin no",
            "MaxSessions 64",
            "MaxStartups 64:30:128",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def write_config(folder: Path, address: str) -> Path:
    host_key = keygen(folder / "ssh_host_ed25519_key")
    config = folder / "sshd_config"
    config.write_text(config_text(address, host_key, folder / "sshd.pid"))
    return config


def start(argv_inside: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """Start sshd with `argv_inside` (the host's `enter(...)` around `sshd -D -e -f CONFIG`)."""
    with open(log, "ab") as out:
        return subprocess.Popen(list(argv_inside), stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def command(config: Path) -> list[str]:
    return [tool("sshd"), "-D", "-e", "-f", str(config)]


def wait_ready(proc: subprocess.Popen[bytes], address: str, log: Path, timeout: float = READY_TIMEOUT_S) -> None:
    """Until the server's banner is seen from this machine (through the host's veth and route)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise SandboxError(f"sshd for {address} exited ({proc.returncode}): {' | '.join(tail)}")
        try:
            with socket.create_connection((address, PORT), timeout=0.5) as sock:
                sock.settimeout(1.0)
                if sock.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise SandboxError(f"sshd on {address}:{PORT} did not answer within {timeout:.0f} s", hint=f"see {log}")
