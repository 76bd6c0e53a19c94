"""The daemon's calls to the supervision table, and what each says about contact with the control plane.

A call answers, or is FAILED. No answer (a StoreError: refused, timed out) ends contact for the rest of the
pass: the pass's later calls are not even tried, since each would only add its timeout to the overspend,
until the next pass opens with a fresh read of the row. Any other answer counts as contact: a refused
lease is re-raised, a missing or malformed row is logged. `DaemonState.last_contact`, the last answer of
any kind, is what the control-plane limit (leaseMinutes of silence) runs from.

Runs on python3 >= 3.8 with boto3 (aws instances only).
"""

from __future__ import annotations

import enum

from ...lambdas.errors import LeaseRefusedError, StoreError, SupervisionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import ParamSpec, TypeVar

    from ...lambdas.store import SupervisionStore
    from .protocols import Clock
    from .state import DaemonLog, DaemonState

    Args = ParamSpec("Args")
    Answer = TypeVar("Answer")


class Failed(enum.Enum):
    """What a table call returns when it did not succeed."""

    FAILED = "failed"


FAILED = Failed.FAILED


class TableCalls:
    def __init__(self, store: SupervisionStore, state: DaemonState, log: DaemonLog, clock: Clock) -> None:
        self.store, self.state, self.log, self.clock = store, state, log, clock
        self.contact_ok = False  # the table answered this pass

    def open_pass(
        self, what: str, call: Callable[Args, Answer], *args: Args.args, **kwargs: Args.kwargs
    ) -> Answer | Failed:
        """The pass's first call: tried whatever the last pass saw."""
        return self._attempt(what, call, *args, **kwargs)

    def call(self, what: str, call: Callable[Args, Answer], *args: Args.args, **kwargs: Args.kwargs) -> Answer | Failed:
        """A later call of the pass: FAILED at once when the table has not answered this pass."""
        if not self.contact_ok:
            return FAILED
        return self._attempt(what, call, *args, **kwargs)

    def _attempt(
        self, what: str, call: Callable[Args, Answer], *args: Args.args, **kwargs: Args.kwargs
    ) -> Answer | Failed:
        try:
            result = call(*args, **kwargs)
        except StoreError as exc:
            if self.state.contact_ok:
                self.log.write("table-unreachable", call=what, error=str(exc)[:300],
                               silent_for=f"{self.clock() - self.state.last_contact:.1f}s")  # fmt: skip
            self.contact_ok = self.state.contact_ok = False
            return FAILED
        except LeaseRefusedError:
            self._contact(what)
            raise
        except SupervisionError as exc:
            self._contact(what)
            self.log.write("table-answer-unusable", call=what, error=str(exc)[:300])
            return FAILED
        self._contact(what)
        return result

    def _contact(self, what: str) -> None:
        if not self.state.contact_ok:
            self.log.write("table-reachable", call=what)
        self.contact_ok = self.state.contact_ok = True
        self.state.last_contact = self.clock()
