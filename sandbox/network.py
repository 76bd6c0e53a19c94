"""Host networking: one network namespace per instance, joined to this machine by a veth pair.

    machine                                   namespace wbsbx-<sandbox>-<instance>
    wb<sb><h>h  169.254.213.1/32  <--veth-->  wb<sb><h>n  <private ip>/32
    route <private ip>/32 dev wb<sb><h>h      route 169.254.213.1/32 dev wb<sb><h>n   (and nothing else)

The namespace end holds the instance's private IP, so a client on this machine reaches its sshd at exactly
the address EC2 reports (`provisioner.connect = private-ip`). The machine end holds the gateway address,
where a relay forwards to the moto server (`relay.py`). A host also reaches the other hosts of its sandbox,
as instances of one VPC reach one another (a gang's ranks: `wb run --nodes`): its namespace routes the
sandbox's range through the gateway, and the machine forwards packets arriving on the sandbox's own veths
only (their per-interface `forwarding`, never the machine-wide switch), where the hosts' security groups
are enforced (`firewall.py`). There is no default route, so a host's traffic never leaves the machine (the
sandbox's range ends in an unreachable route, `fence`). An address that this machine already uses (an
address or a route of its own covers it) is refused, never shadowed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import random
import re
from dataclasses import dataclass

from .errors import SandboxError
from .system import run, stop_processes, tool

log = logging.getLogger("wb.sandbox.network")

GATEWAY = "169.254.213.1"
SANDBOX_LINK = re.compile(r"^wb[0-9a-f]{6}[0-9a-f]{5}[hn]$")
# A host that is shut down (terminated, stopped, powered off) gets this long between SIGTERM and SIGKILL, as a
# real instance's shutdown gives its processes some seconds: a job can write its outputs and the agent push them.
SHUTDOWN_GRACE_S = 2.0
NAMESPACE_POLL_S = 0.1  # each look is an `ip netns pids`
ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole", "nat"}


@dataclass(frozen=True)
class HostLink:
    namespace: str
    address: str
    near_if: str
    far_if: str


def _ip(*args: str, check: bool = True) -> str:
    return run([tool("ip"), *args], check=check).stdout


def names_for(namespace_prefix: str, link_prefix: str, instance_id: str) -> tuple[str, str, str]:
    """(namespace, machine end, namespace end); interface names fit Linux's 15 characters."""
    digest = hashlib.sha256(instance_id.encode()).hexdigest()[:5]
    return f"{namespace_prefix}{instance_id}", f"{link_prefix}{digest}h", f"{link_prefix}{digest}n"


def conflict(address: str, *, ignore_sandbox_links: bool = False, fence: str | None = None) -> str | None:
    """What on this machine already covers `address` (an address or network: one of its addresses or
    routes overlaps it), or None. `fence` is the sandbox's own unreachable route, which does not count."""
    target = ipaddress.IPv4Network(address, strict=False)
    for line in _ip("-o", "-4", "addr", "show").splitlines():
        parts = line.split()
        if "inet" not in parts:
            continue
        device = parts[1]
        interface = ipaddress.IPv4Interface(parts[parts.index("inet") + 1])
        if ignore_sandbox_links and SANDBOX_LINK.match(device):
            continue
        if target.overlaps(interface.network):
            return f"this machine's address {interface} on {device}"
    for line in _ip("-o", "-4", "route", "show", "table", "all").splitlines():
        parts = line.split()
        kind = parts[0] if parts and parts[0] in ROUTE_TYPES else "unicast"
        if kind != "unicast":
            parts = parts[1:]
        if kind == "unreachable" and fence is not None and parts and parts[0] == fence:
            continue
        if not parts or parts[0] == "default":
            continue
        device = parts[parts.index("dev") + 1] if "dev" in parts else ""
        if ignore_sandbox_links and SANDBOX_LINK.match(device):
            continue
        try:
            network = ipaddress.IPv4Network(parts[0], strict=False)
        except ValueError:
            continue
        if network.prefixlen > 0 and target.overlaps(network):
            return f"this machine's route {' '.join(parts)}"
    return None


def free_network(prefix: int = 16, within: str = "10.0.0.0/8") -> ipaddress.IPv4Network:
    """A random block no address or route of this machine touches: the sandbox VPC's range, so instances
    get private IPs no real network uses (and two sandboxes on one machine rarely share one)."""
    blocks = list(ipaddress.IPv4Network(within).subnets(new_prefix=prefix))
    for block in random.sample(blocks, len(blocks)):
        if conflict(str(block)) is None:
            return block
    raise SandboxError(f"every /{prefix} of {within} is in use on this machine; the sandbox needs one")


def fence(network: str) -> None:
    """An unreachable route over the sandbox's whole range: a packet for an instance whose host is gone
    (or not made yet) is refused here instead of following the default route off the machine."""
    _ip("route", "replace", "unreachable", network)


def remove_fence(network: str) -> None:
    _ip("route", "del", "unreachable", network, check=False)


def create(
    namespace: str, address: str, near_if: str, far_if: str, gateway: str = GATEWAY, fence: str | None = None
) -> HostLink:
    """The namespace and its veth link; on any failure, whatever was made is removed again."""
    found = conflict(address, fence=fence)
    if found is not None:
        raise SandboxError(
            f"the instance's private IP {address} is already in use here: {found}",
            hint="the sandbox never shadows a real network; terminate this instance and launch another",
        )
    link = HostLink(namespace, address, near_if, far_if)
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", near_if, "type", "veth", "peer", "name", far_if, "netns", namespace)
        _ip("addr", "add", f"{gateway}/32", "dev", near_if)
        _ip("link", "set", near_if, "up")
        _ip("route", "add", f"{address}/32", "dev", near_if, "src", gateway)
        _ip("-n", namespace, "addr", "add", f"{address}/32", "dev", far_if)
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", namespace, "link", "set", far_if, "up")
        _ip("-n", namespace, "route", "add", f"{gateway}/32", "dev", far_if)
        if fence is not None:  # the other hosts of this sandbox, through the machine
            _ip("-n", namespace, "route", "add", fence, "via", gateway, "dev", far_if, "onlink")
            _forward_from(near_if)
    except Exception:
        remove(link)
        raise
    return link


def _forward_from(interface: str) -> None:
    """Let the machine route packets that arrive on this veth (to another host's veth); the per-interface
    switch, so nothing else on the machine starts forwarding."""
    with open(f"/proc/sys/net/ipv4/conf/{interface}/forwarding", "w") as switch:
        switch.write("1\n")


def namespace_pids(namespace: str) -> list[int]:
    return [int(pid) for pid in _ip("netns", "pids", namespace, check=False).split() if pid.isdigit()]


def kill_namespace_processes(namespace: str, grace_s: float = SHUTDOWN_GRACE_S) -> None:
    """Halt the host as a machine shuts down: SIGTERM to everything inside the namespace, up to `grace_s`
    for it to exit (a job writes its outputs, the agent pushes them), then SIGKILL until nothing is left."""
    left = stop_processes(lambda: namespace_pids(namespace), grace_s=grace_s, poll_s=NAMESPACE_POLL_S)
    if left:
        log.warning("namespace %s: processes %s survived SIGKILL", namespace, left)


def remove(link: HostLink) -> None:
    """Idempotent: processes, the veth pair (and its routes with it), the namespace."""
    kill_namespace_processes(link.namespace)
    _ip("link", "del", link.near_if, check=False)
    _ip("netns", "del", link.namespace, check=False)


def leftover_namespaces(prefix: str) -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list", check=False).splitlines() if line.startswith(prefix)]


def leftover_links(prefix: str) -> list[str]:
    names = []
    for line in _ip("-o", "link", "show", check=False).splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(prefix):
                names.append(name)
    return names


def delete_link(name: str) -> None:
    _ip("link", "del", name, check=False)


def delete_namespace(namespace: str) -> None:
    kill_namespace_processes(namespace)
    _ip("netns", "del", namespace, check=False)
