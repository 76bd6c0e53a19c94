"""N ssh hosts that reach one another, as the machines of a gang: each an sshd in its own network namespace,
with its own login user (so its own `~/.weatherballoon` and remote root), at its own address.

The namespaces are the ones `netns` makes (a veth pair each to this namespace); for them to reach one
another, each gets a route to the others' /16 through its near end, and the near ends alone forward
(`net.ipv4.conf.<veth>.forwarding`): the machine's global ip_forward is left as it is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.netns import NETWORK, NetNamespace, network_namespace_or_skip
from tests.support.project import Project, make_project
from tests.support.sshd import SshdHost, TestUser


@dataclass
class GangHost:
    host: SshdHost
    ns: NetNamespace

    @property
    def address(self) -> str:
        return self.ns.address

    def job_dir(self, job_id: str) -> Path:
        return self.host.user.home / ".weatherballoon" / "jobs" / job_id

    def status(self, job_id: str) -> dict[str, object] | None:
        try:
            return dict(json.loads((self.job_dir(job_id) / "status.json").read_text()))
        except (OSError, ValueError):
            return None

    def kill_machine(self) -> None:
        """The machine vanishes: its link drops every packet, then every process in it dies (sshd, the agent's
        supervisors, the job)."""
        self.ns.cut("drop")
        pids = subprocess.run(["ip", "netns", "pids", self.ns.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            subprocess.run(["kill", "-KILL", pid], check=False)


@contextmanager
def gang_hosts(workdir: Path, identity: Path, count: int) -> Iterator[list[GangHost]]:
    with ExitStack() as stack:
        homes = Path(tempfile.mkdtemp(prefix="wb-gang-homes-"))
        stack.callback(shutil.rmtree, homes, ignore_errors=True)
        hosts = []
        for rank in range(count):
            ns = stack.enter_context(network_namespace_or_skip())
            subprocess.run(["sysctl", "-qw", f"net.ipv4.conf.{ns.near_if}.forwarding=1"], check=True)
            ns.run(["ip", "route", "add", str(NETWORK), "via", ns.near_address])
            user = TestUser.create(homes)
            stack.callback(user.delete)
            host = SshdHost(workdir / f"sshd-{rank}", user, identity, address=ns.address, netns=ns.name).start()
            stack.callback(host.stop)
            hosts.append(GangHost(host, ns))
        yield hosts


def gang_project(tmp_path: Path, hosts: list[GangHost], outputs: list[str] | None = None) -> Project:
    """A project whose provisioner.hosts lists every host, rank 0 first."""
    project = make_project(tmp_path, None)
    project.host = hosts[0].host
    known = tmp_path / "gang_known_hosts"
    known.write_text("".join(item.host.known_hosts.read_text() for item in hosts))
    config = {
        "provisioner": {
            "kind": "ssh",
            "hosts": [item.host.spec for item in hosts],
            "identityFile": str(hosts[0].host.identity),
            "knownHostsFile": str(known),
        },
        "sync": {"outputs": outputs if outputs is not None else ["out/**"]},
    }
    (project.root / ".weatherballoon.json").write_text(json.dumps(config, indent=2))
    return project
