"""The security groups, enforced between the sandbox's hosts: an nftables table of the sandbox's own
(`ip wbsbx_<sandbox>`) on this machine's forward path, where every packet from one host to another passes.

    forward        (hook)  a packet that enters on one of the sandbox's veths and leaves on another: between_hosts
    between_hosts          replies of admitted connections pass (`ct state established,related`), as security
                           groups are stateful; then one rule per (destination, ingress rule) of
                           `security_groups.admissions`; everything else is dropped, silently, as EC2 drops it

Only traffic between two hosts is filtered. What this machine itself sends a host (the laptop's SSH, the
Instance Connect Endpoint's tunnels, the relay's answers) is not forwarded, so no rule here sees it: the
machine stands outside the VPC, as the endpoint or a VPN does for a real account. Other machines' traffic is
untouched: the chain matches the sandbox's own interface names only.

The host manager calls `sync` on each of its ticks (every 0.5 s), before it makes hosts for new instances: it
re-reads the groups of the live instances and replaces the table in one nftables transaction when the rules
differ. Polling, because anyone may change a group at any moment (`wb run --nodes` authorizes its gang's rule
after creating the group, a member revokes one) and moto tells no one; one DescribeSecurityGroups a tick is
cheap, and a new instance's rules are in place before its host exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import security_groups
from .security_groups import ICMP, PORTED, Admission
from .system import run, tool

log = logging.getLogger("wb.sandbox.firewall")
CHAIN = "between_hosts"
PROTOCOL_KEYWORDS = {"6": "tcp", "17": "udp"}


def table_name(sandbox_id: str) -> str:
    return f"wbsbx_{sandbox_id}"


def _match(admission: Admission) -> str:
    sources = admission.sources[0] if len(admission.sources) == 1 else "{ " + ", ".join(admission.sources) + " }"
    parts = [f"ip daddr {admission.destination}", f"ip saddr {sources}"]
    low, high = admission.low, admission.high
    if admission.protocol in PORTED:
        keyword = PROTOCOL_KEYWORDS[admission.protocol]
        if low is None:
            parts.append(f"meta l4proto {keyword}")
        else:
            parts.append(f"{keyword} dport {low}" if high in (None, low) else f"{keyword} dport {low}-{high}")
    elif admission.protocol == ICMP:
        parts.append("meta l4proto icmp")
        if low is not None:
            parts.append(f"icmp type {low}")
            if high is not None:
                parts.append(f"icmp code {high}")
    elif admission.protocol != security_groups.ALL:
        parts.append(f"meta l4proto {int(admission.protocol)}")
    return " ".join(parts)


def ruleset(sandbox_id: str, link_prefix: str, admissions: Sequence[Admission]) -> str:
    """The whole table as one `nft -f` script: made if missing, deleted, made again, so that it replaces
    whatever the table held in one transaction (no moment without rules)."""
    table = table_name(sandbox_id)
    lines = [
        f"table ip {table} {{}}",
        f"delete table ip {table}",
        f"table ip {table} {{",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        f'    iifname "{link_prefix}*" oifname "{link_prefix}*" jump {CHAIN}',
        "  }",
        f"  chain {CHAIN} {{",
        "    ct state established,related accept",
        *(f"    {_match(admission)} accept" for admission in admissions),
        "    counter drop",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def apply(script: str) -> None:
    run([tool("nft"), "-f", "-"], input=script)


def remove(sandbox_id: str) -> bool:
    """Idempotent: the sandbox's table, if it is there (True when it was)."""
    return run([tool("nft"), "delete", "table", "ip", table_name(sandbox_id)], check=False).returncode == 0


class Firewall:
    """The table of one sandbox, kept equal to what moto's groups admit."""

    def __init__(self, ec2: Any, sandbox_id: str, link_prefix: str) -> None:
        self.ec2 = ec2
        self.sandbox_id = sandbox_id
        self.link_prefix = link_prefix
        self.applied: str | None = None

    def start(self) -> Firewall:
        """Hosts reach one another only where a group says so, from the first host on."""
        self.sync({})
        return self

    def sync(self, instances: Mapping[str, Mapping[str, Any]]) -> bool:
        """Re-read the groups of `instances` (the live ones, by id) and replace the table when its rules
        change. True when it did."""
        alive: Iterable[Mapping[str, Any]] = instances.values()
        wanted = set().union(*(security_groups.instance_groups(i) for i in alive)) if instances else set()
        groups = security_groups.read_groups(self.ec2, wanted)
        script = ruleset(self.sandbox_id, self.link_prefix, security_groups.admissions(alive, groups))
        if script == self.applied:
            return False
        apply(script)
        self.applied = script
        log.info("firewall: %d rule(s) between hosts", script.count(" accept\n") - 1)
        return True

    def stop(self) -> None:
        remove(self.sandbox_id)
        self.applied = None
