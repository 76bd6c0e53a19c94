"""A host's filesystem: what differs from the machine's, and how a command enters the host.

A host shares the machine's filesystem except for these mounts, made in a private mount namespace that
every process of the host inherits (its sshd, the user-data's root setup, boot, the sessions and jobs the
client starts, the units its emulated systemd runs):

    <host dir>/opt        ->  /opt/wb           boot.py, wb-power, the emulated systemd's requests
    <sandbox>/venv        ->  /opt/wb/venv      the python the aws provider runs (`/opt/wb/venv/bin/python`)
    <host dir>/home       ->  /home/<account>   the login account's home, one per host
    <host dir>/run        ->  /run              the host's own /run: /run/nologin, /run/sshd, /run/wb-power
    <host dir>/sbin       ->  /usr/local/sbin   the emulated `systemctl` and `shutdown` (systemd_emulation.py)
    <host dir>/etc/merged ->  /etc              an overlay of the machine's /etc, whose writes land in
                                                <host dir>/etc/upper (the host's /etc/sudoers.d, systemd units)

Each host also has its own hostname, as an EC2 instance does: `ip-10-0-1-23` for the private IP 10.0.1.23, set
in a UTS namespace of each process tree that enters the host, and resolving to that address through the host's
own /etc/hosts and /etc/hostname (in the overlay's upper folder). On EC2 the VPC's DNS resolves it; here the
hosts file does, so a program that finds its own address from its hostname (gloo, Open MPI) finds the private
IP, not the machine's loopback. Its /etc/ssh/ssh_host_ed25519_key(.pub) is the key its sshd serves, as on an
instance.

/usr/local/sbin comes first on every PATH (sudo's secure_path, systemd's), so the user-data and the agent
run their real commands (`sudo -n /opt/wb/bin/wb-power ...`, `systemctl ...`) against the emulated systemd,
whose requests the host manager acts on (power.py). sshd runs with PAM, so the host's /run/nologin refuses
every login but root's, as on Ubuntu.

The overlay is mounted once per host, in the machine's mount namespace, and bound into each of the host's
processes: one overlay instance, so every process of the host sees the same /etc (two overlays over one
upper folder would see each other's writes only by chance). It is unmounted when the host goes.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import systemd_emulation
from .account import Account
from .launchers import sshd
from .system import run, tool

OPT = "/opt/wb"
VENV_PYTHON = f"{OPT}/venv/bin/python"
SKEL = Path("/etc/skel")
EMULATED = ("systemctl", "shutdown")
HOST_KEY = "ssh_host_ed25519_key"


def ec2_hostname(address: str) -> str:
    """The hostname EC2 gives an instance named by its private IPv4 address ("IP name"): ip-10-0-1-23."""
    return "ip-" + address.replace(".", "-")


def hosts_file(hostname: str, address: str) -> str:
    return f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{address}\t{hostname}\n"


class HostFs:
    """The per-host folders under `<sandbox>/hosts/<instance id>/`; `address` is the host's private IP, which
    names it (ec2_hostname)."""

    def __init__(self, root: Path, venv: Path, account: Account, address: str) -> None:
        self.root = root
        self.venv = venv
        self.account = account
        self.address = address
        self.hostname = ec2_hostname(address)

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
        """Where the emulated systemd leaves its requests (the host's /opt/wb/sandbox/run)."""
        return self.opt / "sandbox" / "run"

    @property
    def host_run(self) -> Path:
        """The host's own /run."""
        return self.root / "run"

    @property
    def sbin(self) -> Path:
        return self.root / "sbin"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    def create(self) -> None:
        for folder in (self.home, self.opt, self.opt / "venv", self.run_dir, self.host_run / "sshd", self.sbin,
                       self.etc / "upper" / "systemd" / "system", self.etc / "work", self.etc / "merged"):  # fmt: skip
            folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.ssh.mkdir(mode=0o700, exist_ok=True)
        if not os.path.ismount(self.etc / "merged"):  # the upper folder is written before the overlay is made
            (self.etc / "upper" / "hostname").write_text(self.hostname + "\n")
            (self.etc / "upper" / "hosts").write_text(hosts_file(self.hostname, self.address))
            self._place_host_key()
            upper, work = self.etc / "upper", self.etc / "work"
            run([tool("mount"), "-t", "overlay", "overlay", "-o", f"lowerdir=/etc,upperdir={upper},workdir={work}",
                 str(self.etc / "merged")])  # fmt: skip
        if SKEL.is_dir():
            shutil.copytree(SKEL, self.home, dirs_exist_ok=True, symlinks=True)
        source = Path(systemd_emulation.__file__).read_text()
        for name in EMULATED:
            script = self.sbin / name
            script.write_text(source)
            script.chmod(0o755)
        self.chown_tree(self.home)

    def _place_host_key(self) -> None:
        """The host's sshd key (made here, before sshd's config) is also its /etc/ssh key, where a program on the
        host reads its own host key, as on an instance (`wb-agent gang-probe --host-key`)."""
        key = sshd.keygen(self.ssh / HOST_KEY)
        folder = self.etc / "upper" / "ssh"
        folder.mkdir(mode=0o755, exist_ok=True)
        shutil.copy2(key, folder / HOST_KEY)
        shutil.copy2(key.with_name(HOST_KEY + ".pub"), folder / (HOST_KEY + ".pub"))

    def chown_tree(self, path: Path) -> None:
        os.chown(path, self.account.uid, self.account.gid, follow_symlinks=False)
        for folder, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                os.chown(os.path.join(folder, name), self.account.uid, self.account.gid, follow_symlinks=False)

    def mounts(self) -> list[tuple[Path, str]]:
        return [(self.opt, OPT), (self.venv, f"{OPT}/venv"), (self.home, str(self.account.home)),
                (self.host_run, "/run"), (self.sbin, "/usr/local/sbin"), (self.etc / "merged", "/etc")]  # fmt: skip

    def unmount_etc(self) -> None:
        """Idempotent: the host's /etc overlay goes (lazily: a process of the host may still be exiting)."""
        merged = self.etc / "merged"
        if os.path.ismount(merged):
            run([tool("umount"), "-l", str(merged)], check=False)

    def enter(self, namespace: str, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the host: its network namespace, a private mount namespace with its mounts, and a
        UTS namespace with its hostname."""
        binds = [f"mount --bind {shlex.quote(str(src))} {shlex.quote(dst)}" for src, dst in self.mounts()]
        name = f"echo {shlex.quote(self.hostname)} > /proc/sys/kernel/hostname"
        script = f'{" && ".join([*binds, name])} && exec "$@"'
        return [
            tool("ip"), "netns", "exec", namespace,
            tool("unshare"), "--mount", "--uts", "--propagation", "private", "--",
            "/bin/sh", "-c", script, "sh", *argv,
        ]  # fmt: skip

    # what the host's emulated systemd and logind left
    def poweroff_request(self) -> str | None:
        """The reason the host powered itself off (the `poweroff` line is `<epoch> <reason>`), or None."""
        try:
            text = (self.run_dir / "poweroff").read_text().strip()
        except FileNotFoundError:
            return None
        _, _, reason = text.partition(" ")
        return reason.strip() or "no reason given"

    def nologin(self) -> Path:
        return self.host_run / "nologin"

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
