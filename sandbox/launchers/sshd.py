"""An OpenSSH server with its own ed25519 host key and a minimal config: a sandbox host's (with PAM, port 22,
at the host's private IP) and the tests' (without PAM, any port, on loopback or in a test's namespace).

With PAM it runs the machine's stock /etc/pam.d/sshd (Debian's, as openssh-server ships it, which is
Ubuntu's), so what an Ubuntu instance refuses a sandbox host refuses too: above all pam_nologin, which
shuts every login but root's out while the host's own /run/nologin exists. A sandbox host's sshd finds its
privilege separation directory in the host's own /run (hostfs.py).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import SandboxError
from ..system import run, tool

PORT = 22
READY_TIMEOUT_S = 10.0


def keygen(path: Path, kind: str = "ed25519", comment: str = "wb-sandbox-host") -> Path:
    """A key pair at `path` and `path.pub` (kept when it already exists: a reboot keeps its key)."""
    if not path.exists():
        run([tool("ssh-keygen"), "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)])
    return path


def fingerprint(public_key_file: Path) -> str:
    """`SHA256:<unpadded base64>` of the key blob, as `ssh-keygen -l` and the client's check compute it."""
    blob = base64.b64decode(public_key_file.read_text().split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def config_text(
    address: str, host_key: Path, pid_file: Path, port: int = PORT, use_pam: bool = True, extra: Sequence[str] = ()
) -> str:
    return "\n".join(
        [
            *extra,
            f"Port {port}",
            f"ListenAddress {address}",
            f"HostKey {host_key}",
            f"PidFile {pid_file}",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            f"UsePAM {'yes' if use_pam else 'no'}",
            "StrictModes no",
            "PermitRootLogin no",
            "MaxSessions 64",
            "MaxStartups 64:30:128",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def write_config(folder: Path, address: str, port: int = PORT, use_pam: bool = True, extra: Sequence[str] = ()) -> Path:
    """`folder/sshd_config`, with the host key `folder/ssh_host_ed25519_key` (made when missing); `extra`
    lines come first (sshd takes the first value of each keyword)."""
    host_key = keygen(folder / "ssh_host_ed25519_key")
    config = folder / "sshd_config"
    config.write_text(config_text(address, host_key, folder / "sshd.pid", port, use_pam, extra))
    return config


def pushed_keys_lines(pushed_keys: Path) -> list[str]:
    """The sshd lines that take keys pushed with SendSSHPublicKey (`sandbox/eice/authorized_keys.py`)."""
    script = Path(__file__).resolve().parent.parent / "eice" / "authorized_keys.py"
    python = "/usr/bin/python3"
    return [f"AuthorizedKeysCommand {python} -I {script} {pushed_keys} %u", "AuthorizedKeysCommandUser root"]


def command(config: Path) -> list[str]:
    return [tool("sshd"), "-D", "-e", "-f", str(config)]


def start(argv: Sequence[str], log: Path, new_session: bool = False) -> subprocess.Popen[bytes]:
    """Start `argv` (`command(config)`, or what enters a namespace around it), its output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=new_session
        )


def banner_seen(address: str, port: int = PORT) -> bool:
    """Whether an SSH banner comes from `address:port`, as seen from this machine."""
    try:
        with socket.create_connection((address, port), timeout=0.5) as sock:
            sock.settimeout(1.0)
            return sock.recv(4).startswith(b"SSH")
    except OSError:
        return False


def wait_ready(
    proc: subprocess.Popen[bytes],
    address: str,
    log: Path,
    timeout: float = READY_TIMEOUT_S,
    port: int = PORT,
    answers: Callable[[], bool] | None = None,
) -> None:
    """Until the server answers: `answers()` when given (a probe from inside a namespace), else its banner is
    seen from this machine (through a sandbox host's veth and route)."""
    probe = answers or (lambda: banner_seen(address, port))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise SandboxError(f"sshd for {address} exited ({proc.returncode}): {' | '.join(tail)}", hint=f"see {log}")
        if probe():
            return
        time.sleep(0.02)
    raise SandboxError(f"sshd on {address}:{port} did not answer within {timeout:.0f} s", hint=f"see {log}")
