"""The host manager: the sandbox's hypervisor. Every half second it compares moto's wb instances with the
hosts it runs, and makes them agree:

- the security groups between hosts are brought up to date (firewall.py);
- an instance that is pending or running gets a host (made and booted in a thread of its own);
- a host whose instance is gone (terminated, stopped) is removed;
- a host that powered itself off (its emulated `systemctl poweroff` ran: the agent, or its dead-man timer)
  or whose scheduled shutdown came is halted, and its instance is terminated in moto, or stopped, as its
  InstanceInitiatedShutdownBehavior says (wb launches with `terminate`), exactly as EC2 treats an instance
  that shuts itself down; meanwhile each host's timers run and logind's /run/nologin appears (power.py).

Its table is `hosts.json`, rewritten on every change, which `wb sandbox status` shows.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from weatherballoon.lambdas.tags import MANAGED_FILTER

from . import network
from .errors import SandboxError
from .firewall import Firewall
from .host import Host, HostContext, Launch
from .records import HostRecord, HostTable, write_json
from .userdata import decode, parse

log = logging.getLogger("wb.sandbox.hosts")
POLL_S = 0.5
KEEP_ENDED = 20
ALIVE = ["pending", "running"]


class HostManager:
    def __init__(
        self, context: HostContext, ec2: Any, *, poll_s: float = POLL_S, firewall: Firewall | None = None
    ) -> None:
        self.context = context
        self.ec2 = ec2
        self.firewall = firewall
        self.poll_s = poll_s
        self.hosts: dict[str, Host] = {}
        self.refused: dict[str, HostRecord] = {}  # instances that get no host, and why
        self.ended: list[HostRecord] = []
        self.busy: set[str] = set()  # hosts being made (not yet safe to remove)
        self.releasing: set[str] = set()  # private IPs of hosts being shut down (their routes still exist)
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._written: HostTable | None = None

    # the loop
    def start(self) -> HostManager:
        self.publish()
        self._thread = threading.Thread(target=self._loop, name="host-manager", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and remove every host (the sandbox is going down)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        deadline = time.monotonic() + 15
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.lock:
            hosts = list(self.hosts.values())
        run_side_by_side([functools.partial(self.end, host, "terminated", "the sandbox went down") for host in hosts])

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # moto busy or restarting: try again next tick, never die
                log.warning("host manager: %s: %s", type(exc).__name__, exc)
            self._stop.wait(self.poll_s)

    def poll_once(self) -> None:
        instances = self.describe()
        if self.firewall is not None:
            self.sync_firewall(instances)
        with self.lock:
            known = set(self.hosts) | set(self.refused)
            gone = [h for i, h in self.hosts.items() if i not in instances and i not in self.busy]
            for instance_id in [i for i in self.refused if i not in instances]:
                del self.refused[instance_id]
        with self.lock:
            # EC2 (moto) hands a freed private IP to the next launch at once, while the host that had it may
            # still be shutting down (its grace): that instance gets its host on a later tick.
            taken = self.releasing | {host.link.address for host in self.hosts.values()}
        for instance_id in sorted(set(instances) - known):
            if instances[instance_id].get("PrivateIpAddress") not in taken:
                self.adopt(instance_id, instances[instance_id])
        # Hosts shut down side by side: each gives its processes a grace between SIGTERM and SIGKILL.
        halts: list[Callable[[], None]] = [
            functools.partial(self.end, host, "terminated", "its instance was terminated or stopped in EC2")
            for host in gone
        ]
        now = time.time()
        with self.lock:
            alive = [h for i, h in self.hosts.items() if i not in self.busy]
        for host in alive:
            reason = self.check_power(host, now)
            if reason is not None:
                halts.append(functools.partial(self.power_off, host, reason))
        run_side_by_side(halts)
        self.publish()

    def sync_firewall(self, instances: dict[str, dict[str, Any]]) -> None:
        """The security groups between hosts, before a new instance gets its host. A failure keeps the rules
        in place and is tried again next tick; it never stops hosts from being made or ended."""
        assert self.firewall is not None
        try:
            self.firewall.sync(instances)
        except Exception as exc:
            log.warning("firewall: %s: %s", type(exc).__name__, exc)

    def describe(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        filters = [MANAGED_FILTER, {"Name": "instance-state-name", "Values": ALIVE}]
        for page in self.ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    found[instance["InstanceId"]] = instance
        return found

    # making a host
    def adopt(self, instance_id: str, instance: dict[str, Any]) -> None:
        address = instance.get("PrivateIpAddress")
        if not address:
            return  # not placed yet; next tick
        answer = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        launch = Launch(
            instance_id, address, parse(decode(answer.get("UserData", {}).get("Value"))),
            self.key_pair_public_key(instance.get("KeyName")),
        )  # fmt: skip
        host = Host(self.context, launch)
        with self.lock:
            self.hosts[instance_id] = host
            self.busy.add(instance_id)
        threading.Thread(target=self._make, args=(host,), name=f"host-{instance_id}", daemon=True).start()

    def key_pair_public_key(self, name: str | None) -> str | None:
        if not name:
            return None
        try:
            pairs = self.ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True).get("KeyPairs", [])
        except Exception:  # an unknown pair, or a moto without public keys: the user-data must carry the key
            return None
        return pairs[0].get("PublicKey") if pairs else None

    def _make(self, host: Host) -> None:
        try:
            host.create()
        except Exception as exc:
            reason = exc.message if isinstance(exc, SandboxError) else f"{type(exc).__name__}: {exc}"
            log.warning("no host for %s: %s", host.instance_id, reason)
            host.remove()
            with self.lock:
                self.hosts.pop(host.instance_id, None)
                self.refused[host.instance_id] = host.record.replace(state="failed", reason=reason, namespace=None)
                self.busy.discard(host.instance_id)
            self.publish()
            return
        with self.lock:
            self.busy.discard(host.instance_id)
        log.info("host for %s at %s is up, booting", host.instance_id, host.link.address)
        self.publish()
        try:
            host.boot()
            log.info("host for %s booted", host.instance_id)
        except SandboxError as exc:
            with self.lock:
                if host.instance_id in self.hosts:  # still ours (not ended while booting)
                    host.record = host.record.replace(state="failed", reason=exc.message)
                    log.warning("host for %s: %s", host.instance_id, exc.message)
        self.publish()

    # power
    def check_power(self, host: Host, now: float) -> str | None:
        """Why the host must power off now (it asked, its dead-man timer or a scheduled shutdown fired), or
        None; runs what its emulated systemd has due meanwhile (power.py)."""
        reason = host.power.tick(now)
        if reason is not None:
            return reason
        deadline = host.power.deadline(now)
        if deadline is None or host.record.deadline is None or abs(deadline - host.record.deadline) >= 1.0:
            host.record = host.record.replace(deadline=deadline)
        return None

    def power_off(self, host: Host, reason: str) -> None:
        """The machine halts; then EC2 applies the instance's shutdown behaviour."""
        network.kill_namespace_processes(host.link.namespace)
        instance_id = host.instance_id
        try:
            attribute = self.ec2.describe_instance_attribute(
                InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
            )
            behaviour = attribute.get("InstanceInitiatedShutdownBehavior", {}).get("Value") or "stop"
            if behaviour == "terminate":
                self.ec2.terminate_instances(InstanceIds=[instance_id])
            else:
                self.ec2.stop_instances(InstanceIds=[instance_id])
            ended = power_off_reason(reason, behaviour)
        except Exception as exc:
            log.warning("power-off of %s: EC2 said %s", instance_id, exc)
            ended = power_off_reason(reason, None, exc)
        log.info("host for %s %s", instance_id, ended)
        self.end(host, "powered-off", ended)

    def end(self, host: Host, state: str, reason: str) -> None:
        with self.lock:
            if self.hosts.get(host.instance_id) is not host:
                return
            del self.hosts[host.instance_id]
            self.releasing.add(host.link.address)
        try:
            host.remove()
        finally:
            with self.lock:
                self.releasing.discard(host.link.address)
        record = host.record.replace(state=state, reason=reason, ended_at=time.time())
        with self.lock:
            self.ended = [*self.ended, record][-KEEP_ENDED:]
        log.info("host for %s removed: %s", host.instance_id, reason)
        self.publish()

    def table(self) -> HostTable:
        with self.lock:
            live = [h.record for h in self.hosts.values()] + list(self.refused.values())
            return HostTable(sorted(live, key=lambda r: r.created_at), list(self.ended))

    def publish(self) -> None:
        table = self.table()
        with self.lock:
            if table == self._written:
                return
            self._written = table
            write_json(self.context.layout.hosts_file, table)


def power_off_reason(reason: str, behaviour: str | None, error: Exception | None = None) -> str:
    """Why a host powered off and what EC2 then did with its instance, for `status`: its shutdown behaviour
    (`terminate` or `stop`, EC2's default) applied, or the error that kept EC2 from applying it."""
    if error is not None or behaviour is None:
        detail = f"{type(error).__name__}: {error}" if error is not None else "no shutdown behaviour"
        return f"{reason}; the instance's state is unknown: EC2 did not apply its shutdown behaviour ({detail})"
    return f"{reason}; instance {'terminated' if behaviour == 'terminate' else 'stopped'}"


def run_side_by_side(calls: list[Callable[[], None]]) -> None:
    """Each call in a thread of its own (one runs here); the first error is raised once all have finished."""
    if len(calls) <= 1:
        for call in calls:
            call()
        return
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="host-halt") as pool:
        futures = [pool.submit(call) for call in calls]
    for future in futures:
        future.result()
