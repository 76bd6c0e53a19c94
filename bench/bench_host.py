"""A benchmark host: a real sshd on loopback, logged into as a clean unprivileged user.

Root's `~/.bashrc` on these machines runs `pyenv init` (about +100 ms per SSH command), so benchmarks log in
as a fresh account with a plain shell. Everything (user, keys, sshd, project, wb's data dir) is made here and
removed on exit. Both `wb` and OpenSSH's `ssh` get the same key, the same known_hosts and the same server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.sshd import SshdHost, TestUser, keygen

# The console script next to this interpreter, never the pyenv shim (the shim adds about 50 ms a call).
WB = str(Path(sys.executable).parent / "wb")


@dataclass
class BenchHost:
    workdir: Path
    host: SshdHost
    project: Path
    data_dir: Path

    @property
    def user(self) -> str:
        return self.host.user.name

    def known_hosts_for(self, port: int) -> Path:
        """A known_hosts file naming this server's key at 127.0.0.1:port (the sshd's, or a relay's)."""
        path = self.workdir / f"known_hosts.{port}"
        if not path.exists():
            kind, key = Path(f"{self.host.host_key}.pub").read_text().split()[:2]
            path.write_text(f"[127.0.0.1]:{port} {kind} {key}\n")
        return path

    def write_config(self, port: int | None = None, **extra: object) -> None:
        """Point the project at the sshd, or at a relay listening on `port` in front of it."""
        port = port or self.host.port
        config = {
            "provisioner": {
                "kind": "ssh",
                "hosts": [f"{self.user}@127.0.0.1:{port}"],
                "identityFile": str(self.host.identity),
                "knownHostsFile": str(self.known_hosts_for(port)),
                **extra,
            }
        }
        (self.project / ".weatherballoon.json").write_text(json.dumps(config, indent=2))

    def wb_env(self) -> dict[str, str]:
        from .bytecode import with_bytecode_cache

        env = {key: value for key, value in os.environ.items() if not key.startswith(("WB_", "AWS_"))}
        env.update({"WB_DATA_DIR": str(self.data_dir), "SSH_AUTH_SOCK": ""})
        return with_bytecode_cache(env, self.data_dir.parent / "pycache")

    def wb_argv(self, *args: str) -> list[str]:
        return [WB, *args]

    def ssh_argv(self, *command: str, port: int | None = None, options: tuple[str, ...] = ()) -> list[str]:
        """OpenSSH with no shared connection and no user config: a fresh connection every time."""
        port = port or self.host.port
        return [
            "ssh", *options, "-F", "/dev/null",
            "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts_for(port)}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-i", str(self.host.identity),
            "-p", str(port), f"{self.user}@127.0.0.1", *command,
        ]  # fmt: skip


def _tiny_project(root: Path, files: int = 8) -> Path:
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("*.log\n")
    for index in range(files):
        (root / f"module{index}.py").write_text(f"VALUE = {index}\n" * 20)
    return root


# A login shell's rc file as pyenv or conda leave it: a program runs on every SSH command (here python, busy
# for about 80 ms on top of its own start-up), and its output is eval'ed. It stands before any "interactive
# only" guard, as those installers' lines often do, so non-interactive `ssh host CMD` pays it too.
HEAVY_RC = """# wb bench: a pyenv/conda-like init
eval "$(python3 -c 'import time
end = time.perf_counter() + 0.08
while time.perf_counter() < end: pass
print("export WB_BENCH_RC=1")')"
"""


def add_heavy_rc(user: TestUser) -> None:
    """Give the login user a ~100 ms shell init (HEAVY_RC) in ~/.bashrc, which bash reads for sshd commands."""
    rc = user.home / ".bashrc"
    rc.write_text(HEAVY_RC + (rc.read_text() if rc.exists() else ""))
    user.chown(rc)


@contextmanager
def bench_host(*, heavy_rc: bool = False) -> Iterator[BenchHost]:
    if os.geteuid() != 0:
        sys.exit("bench: run as root (it creates a throwaway login user and starts sshd)")
    workdir = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    homes = Path(tempfile.mkdtemp(prefix="wb-bench-homes-"))
    user = TestUser.create(homes)
    host: SshdHost | None = None
    try:
        key = keygen(workdir / "id_ed25519")
        host = SshdHost(workdir / "sshd", user, key).start()
        if heavy_rc:
            add_heavy_rc(user)
        bench = BenchHost(workdir=workdir, host=host, project=_tiny_project(workdir / "proj"), data_dir=workdir / "wb")
        bench.write_config()
        yield bench
    finally:
        if host is not None:
            host.stop()
        user.delete()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(homes, ignore_errors=True)
