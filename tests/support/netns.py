"""A network namespace joined to this one by a veth pair, so tests can cut a live link.

    with network_namespace() as ns:
        host = SshdHost(workdir, user, identity, address=ns.address, netns=ns.name).start()
        ...
        ns.cut()      # every packet in or out of the namespace is dropped (nftables)
        ns.restore()

Addresses come from 10.213.0.0/16, one /30 per namespace: the near end (this namespace) takes .1 and the
far end takes .2. Traffic never leaves the machine. The namespace and both veth ends are always removed,
even when the test fails. The namespace shares the filesystem and the process table's users, so a server
started inside it writes where the test can read.
"""

from __future__ import annotations

import ipaddress
import random
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.requirements import unavailable

NETWORK = ipaddress.IPv4Network("10.213.0.0/16")
CUT_TABLE = "wb_test_cut"


class NetnsUnavailable(RuntimeError):
    """The kernel (or the lack of privilege) refused `ip netns add`: tests that need a namespace skip."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


@dataclass
class NetNamespace:
    name: str
    address: str  # the far end, inside the namespace: where a server listens
    near_address: str  # this namespace's end of the veth pair
    near_if: str
    far_if: str
    cut_how: str | None = None

    def exec_argv(self, argv: list[str]) -> list[str]:
        """`argv` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.exec_argv(argv), capture_output=True, text=True, check=check)

    def cut(self, how: str = "drop") -> None:
        """Cut the link without telling either end: `drop` (nftables, silent) or `down` (the far veth end)."""
        if self.cut_how is not None:
            return
        if how == "drop":
            rules = (
                f"table inet {CUT_TABLE} {{\n"
                '  chain input { type filter hook input priority -300; policy accept; iifname != "lo" drop; }\n'
                '  chain output { type filter hook output priority -300; policy accept; oifname != "lo" drop; }\n'
                "}\n"
            )
            result = subprocess.run(
                self.exec_argv(["nft", "-f", "-"]), input=rules, capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise RuntimeError(f"nft could not install the drop rules: {result.stderr.strip()}")
        elif how == "down":
            _ip("-n", self.name, "link", "set", self.far_if, "down")
        else:
            raise ValueError(f"unknown cut {how!r}: use 'drop' or 'down'")
        self.cut_how = how

    def restore(self) -> None:
        """Undo `cut`. Connections whose peers have not given up yet carry on."""
        if self.cut_how == "drop":
            self.run(["nft", "delete", "table", "inet", CUT_TABLE])
        elif self.cut_how == "down":
            _ip("-n", self.name, "link", "set", self.far_if, "up")
        self.cut_how = None


def _used_networks() -> set[ipaddress.IPv4Network]:
    out = _ip("-o", "-4", "addr", "show").stdout
    used: set[ipaddress.IPv4Network] = set()
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.add(ipaddress.IPv4Interface(parts[parts.index("inet") + 1]).network)
    return used


def _pick_subnet() -> ipaddress.IPv4Network:
    used = _used_networks()
    blocks = list(NETWORK.subnets(new_prefix=30))
    for _ in range(64):
        block = random.choice(blocks)
        if not any(block.overlaps(other) for other in used):
            return block
    raise RuntimeError(f"no free /30 in {NETWORK}")


@contextmanager
def network_namespace() -> Iterator[NetNamespace]:
    """A fresh namespace with a veth link to this one; raises NetnsUnavailable where the kernel refuses."""
    if shutil.which("ip") is None:
        raise RuntimeError("the `ip` command (iproute2) is missing; install iproute2")
    tag = uuid.uuid4().hex[:8]
    name = f"wbtest-{tag}"
    near_if, far_if = f"wb{tag}a", f"wb{tag}b"
    added = _ip("netns", "add", name, check=False)
    if added.returncode != 0:
        raise NetnsUnavailable(f"`ip netns add` refused: {added.stderr.strip() or added.returncode}")
    try:
        subnet = _pick_subnet()
        near, far = (str(host) for host in list(subnet.hosts())[:2])
        prefix = subnet.prefixlen
        _ip("link", "add", near_if, "type", "veth", "peer", "name", far_if)
        _ip("link", "set", far_if, "netns", name)
        _ip("addr", "add", f"{near}/{prefix}", "dev", near_if)
        _ip("link", "set", near_if, "up")
        _ip("-n", name, "addr", "add", f"{far}/{prefix}", "dev", far_if)
        _ip("-n", name, "link", "set", far_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield NetNamespace(name=name, address=far, near_address=near, near_if=near_if, far_if=far_if)
    finally:
        _teardown(name, near_if)


@contextmanager
def network_namespace_or_skip() -> Iterator[NetNamespace]:
    """`network_namespace()`, or the test skips (fails under CI=true), saying why, where the kernel refuses one."""
    try:
        with network_namespace() as ns:
            yield ns
    except NetnsUnavailable as exc:
        unavailable(f"network namespaces unavailable here: {exc}")


def _teardown(name: str, near_if: str) -> None:
    # Killing what still runs inside lets the namespace go at once; deleting the near end takes the far end.
    pids = _ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        subprocess.run(["kill", "-KILL", pid], check=False, capture_output=True)
    _ip("link", "del", near_if, check=False)
    _ip("netns", "del", name, check=False)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _ip("link", "show", near_if, check=False).returncode == 0:
        time.sleep(0.05)
