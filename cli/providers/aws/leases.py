"""The attached client's lease renewal: a background thread that extends the row's lease to
now + leaseMinutes every renewal interval, until the command detaches or supervision refuses.

A failed call (network, throttling) is tried again at the next tick: the lease has several ticks of slack.
A refusal (the row is marked, terminating or closed) ends the thread: supervision is taking the machine
away, and `on_refused` says so once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from weatherballoon.lambdas import lease
from weatherballoon.lambdas.errors import LeaseRefusedError, SupervisionError

from ...errors import WbError

if TYPE_CHECKING:
    from weatherballoon.lambdas.dynamo_store import DynamoStore
    from weatherballoon.lambdas.records import InstanceRecord


class LeaseKeeper:
    def __init__(
        self,
        renew: Callable[[], object],
        interval_s: float,
        *,
        on_refused: Callable[[str], None] = lambda reason: None,
        name: str = "wb-lease",
    ) -> None:
        self._renew = renew
        self.interval_s = interval_s
        self._on_refused = on_refused
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.renewals = 0
        self.failures = 0
        self.refused: str | None = None

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        from ...trace import mark

        while not self._stop.wait(self.interval_s):
            try:
                self._renew()
                self.renewals += 1
                mark("lease renewed by the client")
            except LeaseRefusedError as exc:
                self.refused = exc.reason
                self._on_refused(exc.reason)
                return
            except (SupervisionError, WbError, OSError) as exc:
                self.failures += 1
                mark(f"lease renewal failed: {exc}")
            except Exception as exc:  # botocore's own errors: try again next tick
                from ...aws_account.errors import is_aws_exception

                if not is_aws_exception(exc):
                    raise
                self.failures += 1
                mark(f"lease renewal failed: {exc}")


def release_to_idle(store: DynamoStore, row: InstanceRecord, idle_minutes: float, clock: Callable[[], float]) -> bool:
    """State idle with the warm window (never shortening the lease), so another run may claim it, only while
    the row is still under this command's claim (`row.claim`; None for a machine it launched); best effort:
    False when the row refused, was claimed again meanwhile, or could not be written (its lease then simply
    runs out, or its new claimant releases it)."""
    now = clock()
    until = lease.idle_lease(now, idle_minutes, None, row.max_until)
    try:
        return store.release_instance(row.owner, row.instance_arn, row.claim, until, now)
    except SupervisionError:
        return False


def row_renewer(
    store: Callable[[], DynamoStore],
    row: InstanceRecord | tuple[str, str, float],
    lease_minutes: float,
    clock: Callable[[], float],
) -> Callable[[], object]:
    """renew(): the row's lease to now + lease_minutes (never shortened, never past max_until). `row` is the
    row, or its (owner, instance arn, max_until); `store()` is called at each renewal, so a command that ends
    before the first one never builds a table client."""
    owner, arn, max_until = (row.owner, row.instance_arn, row.max_until) if not isinstance(row, tuple) else row

    def renew() -> object:
        now = clock()
        until = lease.renew(now, lease_minutes, None, max_until)
        return store().renew_lease(owner, arn, until, now)

    return renew


def keep_lease(
    store: Callable[[], DynamoStore],
    row: tuple[str, str, float],
    lease_minutes: float,
    interval_s: float,
    clock: Callable[[], float],
    say: Callable[[str], None],
    instance_id: str,
) -> LeaseKeeper:
    """A started keeper of one machine's lease (`row`: owner, instance arn, max_until) that says when
    supervision refuses the renewal."""

    def refused(reason: str) -> None:
        say(f"supervision is ending {instance_id}: {reason}")

    renew = row_renewer(store, row, lease_minutes, clock)
    return LeaseKeeper(renew, interval_s, on_refused=refused, name=f"wb-lease-{instance_id}").start()
