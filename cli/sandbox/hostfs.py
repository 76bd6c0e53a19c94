"""A host's filesystem: what differs from the machine's, and how a command enters the host.

A host shares the machine's filesystem except for three mounts, made in a private mount namespace that
every process of the host inherits (its sshd, boot, the sessions and jobs the client starts):

    <host dir>/opt   ->  /opt/wb           boot.py, the emulated shutdown commands, their requests
    <sandbox>/venv   ->  /opt/wb/venv      the python the aws provider runs (`/opt/wb/venv/bin/python`)
    <host dir>/home  ->  /home/<account>   the login account's home, one per host

Power is emulated with two commands installed in every host, the agent's `WB_POWEROFF_COMMAND` and
`WB_ARM_SHUTDOWN_COMMAND`. They only write a request under `/opt/wb/sandbox/run/`; the host manager, playing
the hypervisor, acts on it: `poweroff` ends the host at once, `shutdown -h +N` sets a deadline it enforces
like the kernel's timer (`shutdown -c` cancels it).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from .account import Account
from .system import tool

OPT = "/opt/wb"
VENV_PYTHON = f"{OPT}/venv/bin/python"
POWEROFF_COMMAND = f"{OPT}/sandbox/bin/poweroff"
ARM_SHUTDOWN_COMMAND = f"{OPT}/sandbox/bin/shutdown -h +{{minutes}}"
SKEL = Path("/etc/skel")

POWEROFF = """#!/bin/sh
# wb sandbox: this host's power switch (stands in for `shutdown -h now`). The host manager sees the request,
# ends every process of the host and terminates the instance, as EC2 does when an instance powers itself off.
run=/opt/wb/sandbox/run
printf '%s %s\\n' "$(date +%s)" "${WB_POWEROFF_REASON:-$*}" > "$run/.poweroff.$$"
mv -f "$run/.poweroff.$$" "$run/poweroff"
"""

SHUTDOWN = """#!/bin/sh
# wb sandbox: this host's kernel timer. `shutdown -h +MINUTES` (fractions allowed) or `now` arms it, again and
# again; `shutdown -c` cancels it. The host manager powers the host off when the deadline passes.
run=/opt/wb/sandbox/run
minutes=
for arg in "$@"; do
  case "$arg" in
    -c) rm -f "$run/deadline"; exit 0 ;;
    -h|-H|-P|--poweroff|--halt|--no-wall) ;;
    now) minutes=0 ;;
    +*) minutes="${arg#+}" ;;
    -*) echo "shutdown: unsupported option $arg" >&2; exit 2 ;;
    *) minutes="$arg" ;;
  esac
done
deadline=$(awk -v now="$(date +%s)" -v m="$minutes" \\
  'BEGIN { if (m !~ /^[0-9]+([.][0-9]+)?$/) exit 1; printf "%.3f", now + m * 60 }') || {
  echo "usage: shutdown -h +MINUTES | shutdown -h now | shutdown -c" >&2; exit 2; }
printf '%s\\n' "$deadline" > "$run/.deadline.$$" && mv -f "$run/.deadline.$$" "$run/deadline"
echo "sandbox: power-off at $(date -d "@${deadline%.*}" 2>/dev/null || echo "$deadline")" >&2
"""


class HostFs:
    """The per-host folders under `<sandbox>/hosts/<instance id>/`."""

    def __init__(self, root: Path, venv: Path, account: Account) -> None:
        self.root = root
        self.venv = venv
        self.account = account

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def opt(self) -> Path:
        return self.root / "opt"

    @property
    def ssh(self) -> Path:
        return self.root / "ssh"

    @property
    def run_dir(self) -> Path:
        return self.opt / "sandbox" / "run"

    def create(self) -> None:
        for folder in (self.home, self.opt, self.opt / "venv", self.run_dir.parent / "bin", self.run_dir):
            folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.ssh.mkdir(mode=0o700, exist_ok=True)
        if SKEL.is_dir():
            shutil.copytree(SKEL, self.home, dirs_exist_ok=True, symlinks=True)
        for name, text in (("poweroff", POWEROFF), ("shutdown", SHUTDOWN)):
            script = self.run_dir.parent / "bin" / name
            script.write_text(text)
            script.chmod(0o755)
        self.chown_tree(self.home)
        os.chown(self.run_dir, self.account.uid, self.account.gid)

    def chown_tree(self, path: Path) -> None:
        os.chown(path, self.account.uid, self.account.gid, follow_symlinks=False)
        for folder, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                os.chown(os.path.join(folder, name), self.account.uid, self.account.gid, follow_symlinks=False)

    def mounts(self) -> list[tuple[Path, str]]:
        return [(self.opt, OPT), (self.venv, f"{OPT}/venv"), (self.home, str(self.account.home))]

    def enter(self, namespace: str, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the host: its network namespace, and a private mount namespace with its mounts."""
        binds = " && ".join(f"mount --bind {shlex.quote(str(src))} {shlex.quote(dst)}" for src, dst in self.mounts())
        script = f'{binds} && exec "$@"'
        return [
            tool("ip"), "netns", "exec", namespace,
            tool("unshare"), "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", script, "sh", *argv,
        ]  # fmt: skip

    # power requests, written by the host's own commands
    def poweroff_request(self) -> str | None:
        """The reason the host powered itself off (the `poweroff` line is `<epoch> <reason>`), or None."""
        try:
            text = (self.run_dir / "poweroff").read_text().strip()
        except FileNotFoundError:
            return None
        _, _, reason = text.partition(" ")
        return reason.strip() or "no reason given"

    def deadline(self) -> float | None:
        try:
            return float((self.run_dir / "deadline").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def arm(self, minutes: float, now: float) -> None:
        """What the user-data's `shutdown -h +N` does at boot."""
        path = self.run_dir / "deadline"
        path.write_text(f"{now + minutes * 60:.3f}\n")
        os.chown(path, self.account.uid, self.account.gid)

    def merge_agent_env(self, values: Mapping[str, str]) -> Path:
        """Set `values` in `~/.weatherballoon/agent.env`, keeping what boot wrote for every other key."""
        folder = self.home / ".weatherballoon"
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / "agent.env"
        lines: list[str] = []
        seen: set[str] = set()
        if path.exists():
            for line in path.read_text().splitlines():
                key = line.split("=", 1)[0].strip()
                if key in values:
                    lines.append(f"{key}={values[key]}")
                    seen.add(key)
                else:
                    lines.append(line)
        lines += [f"{key}={value}" for key, value in values.items() if key not in seen]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        for item in (folder, path):
            os.chown(item, self.account.uid, self.account.gid)
        return path
