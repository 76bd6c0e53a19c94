"""Removing a sandbox, whether its daemon went down cleanly, crashed, or was killed with -9.

Everything it can leave is named in `sandbox.json` or follows from it: the daemon and moto (by pid, checked
against their command lines), the namespaces and links (by the sandbox's name prefixes), the nftables table
between hosts (named for the sandbox), the login account (and its processes), its claim on the shared /opt/wb
mount point, the hosts' /etc overlays, and the sandbox folder's own files. Each step is idempotent.
"""

from __future__ import annotations

import os
import shutil

from . import account, firewall, network, opt_dir
from .launchers import moto
from .layout import Layout
from .records import SandboxState, read_json
from .system import run, stop_process, tool

DAEMON_MARKER = "weatherballoon.sandbox.daemon"
MOTO_MARKER = moto.SERVER_MODULE


def load_state(layout: Layout) -> SandboxState | None:
    data = read_json(layout.state_file)
    if data is None:
        return None
    try:
        return SandboxState.from_dict(data)
    except TypeError:
        return None


def remove_everything(layout: Layout, state: SandboxState | None) -> list[str]:
    """What was found and removed, for the user's information."""
    removed: list[str] = []
    if state is not None:
        stop_process(state.daemon_pid, grace_s=30, marker=DAEMON_MARKER)
        stop_process(state.moto_pid, marker=MOTO_MARKER)
        for namespace in network.leftover_namespaces(state.namespace_prefix):
            network.delete_namespace(namespace)
            removed.append(f"namespace {namespace}")
        for link in network.leftover_links(state.link_prefix):
            network.delete_link(link)
            removed.append(f"link {link}")
        if state.network:
            network.remove_fence(state.network)
        if firewall.remove(state.sandbox_id):
            removed.append(f"nftables table {firewall.table_name(state.sandbox_id)}")
        if state.account and state.account.startswith("wbsbx-") and account.lookup(state.account):
            account.delete(state.account)
            removed.append(f"account {state.account}")
        if state.opt_claimed:
            opt_dir.release(state.sandbox_id)
    for path in (layout.state_file, layout.options_file, layout.hosts_file, layout.reaper_file, layout.config_file):
        path.unlink(missing_ok=True)
    for merged in layout.hosts_dir.glob("*/etc/merged"):  # a host's /etc overlay, left by a crashed daemon
        if os.path.ismount(merged):
            run([tool("umount"), "-l", str(merged)], check=False)
            removed.append(f"mount {merged}")
    for folder in (layout.hosts_dir, layout.venv, layout.eice_dir):
        shutil.rmtree(folder, ignore_errors=True)
    return removed
