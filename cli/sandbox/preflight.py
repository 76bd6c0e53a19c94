"""Can this machine host a sandbox? Checked by `up` before anything is started, with what to do if not."""

from __future__ import annotations

import os
from importlib.util import find_spec

from . import network
from .errors import SandboxUnavailable
from .system import run, tool

TOOLS = ("ip", "sshd", "ssh-keygen", "unshare", "mount", "useradd", "usermod", "userdel", "pkill", "runuser")
MODULES = {"moto": "moto[server]", "flask": "moto[server]", "aws_lambda_powertools": "aws-lambda-powertools"}
INSTALL_HINT = "install the sandbox extra: pip install 'weatherballoon[sandbox]'"


def check() -> None:
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "wb sandbox needs root: it makes network namespaces, a login account and sshd servers",
            hint="run the sandbox and `wb run` as root in a VM or a privileged container (docs/sandbox.md)",
        )
    missing = [name for name, package in MODULES.items() if find_spec(name) is None]
    if missing:
        packages = sorted({MODULES[name] for name in missing})
        raise SandboxUnavailable(f"python packages missing: {', '.join(packages)}", hint=INSTALL_HINT)
    for name in TOOLS:
        tool(name)
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
