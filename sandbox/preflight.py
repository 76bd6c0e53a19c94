"""Can this machine host a sandbox? Checked by `up` before anything is started, with what to do if not."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

from . import network
from .errors import SandboxError, SandboxUnavailable
from .system import run, tool

TOOLS = ("ip", "sshd", "ssh-keygen", "unshare", "mount", "umount", "useradd", "usermod", "userdel", "pkill", "runuser",
         "sudo", "visudo", "nft")  # fmt: skip
PACKAGES = {"sudo": "sudo", "visudo": "sudo", "sshd": "openssh-server", "ip": "iproute2", "nft": "nftables"}
MODULES = {"moto": "moto[server]", "flask": "moto[server]", "aws_lambda_powertools": "aws-lambda-powertools"}
INSTALL_HINT = "install the sandbox extra: pip install 'weatherballoon[sandbox]'"


def check() -> None:
    """The sandbox extra first (the one thing every machine can fix), then root, tools, PAM, netns, addresses."""
    missing = [name for name, package in MODULES.items() if find_spec(name) is None]
    if missing:
        packages = sorted({MODULES[name] for name in missing})
        raise SandboxUnavailable(f"python packages missing: {', '.join(packages)}", hint=INSTALL_HINT)
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "wb sandbox needs root: it makes network namespaces, a login account and sshd servers",
            hint="run the sandbox and `wb run` as root in a VM or a privileged container (docs/sandbox.md)",
        )
    for name in TOOLS:
        try:
            tool(name)
        except SandboxError:
            raise SandboxUnavailable(
                f"{name} is not installed; sandbox hosts need it (their login user gets root only through sudo)"
                if name in ("sudo", "visudo")
                else f"{name} is not installed",
                hint=f"install it (Debian/Ubuntu: apt-get install {PACKAGES.get(name, name)})",
            ) from None
    if not Path("/etc/pam.d/sshd").is_file():
        raise SandboxUnavailable(
            "/etc/pam.d/sshd is missing: sandbox hosts run sshd with PAM and the stock stack",
            hint="reinstall openssh-server (apt-get install --reinstall openssh-server)",
        )
    probe = f"wbsbx-probe-{os.getpid()}"
    added = run([tool("ip"), "netns", "add", probe], check=False)
    if added.returncode != 0:
        raise SandboxUnavailable(
            f"this machine refuses network namespaces: {added.stderr.strip() or added.returncode}",
            hint="run the sandbox where `ip netns add` works (a VM, or a container started with --privileged)",
        )
    run([tool("ip"), "netns", "del", probe], check=False)
    found = network.conflict(network.GATEWAY, ignore_sandbox_links=True)
    if found is not None:
        raise SandboxUnavailable(
            f"the sandbox's gateway address {network.GATEWAY} is already in use here: {found}",
            hint="the sandbox never shadows a real network; free that address or run the sandbox elsewhere",
        )
