"""Stack events as progress on stderr: colored lines and a spinner on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from .events import StackEvent


def _style(status: str) -> str:
    if status.endswith("_FAILED") or "ROLLBACK" in status:
        return "red"
    if status.endswith("_COMPLETE"):
        return "green"
    return "yellow"


def event_line(event: StackEvent) -> str:
    stamp = event.timestamp.strftime("%H:%M:%S")
    line = f"{stamp}  {event.status:<22}  {event.logical_id}  ({event.resource_type})"
    return line + (f"  {event.reason}" if event.reason else "")


class StackProgress:
    """An `EventSink`: prints each event once, keeps a spinner with the stack's status on a terminal."""

    def __init__(self, *, quiet: bool = False, tty: bool | None = None) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty() if tty is None else tty
        self._console: Any = None
        self._status: Any = None

    def _rich(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False)
        return self._console

    def events(self, events: Sequence[StackEvent]) -> None:
        if self.quiet:
            return
        for event in events:
            if self.tty:
                from rich.text import Text

                text = Text(event.timestamp.strftime("%H:%M:%S") + "  ", style="dim")
                text.append(f"{event.status:<22}", style=_style(event.status))
                text.append(f"  {event.logical_id}  ", style="bold")
                text.append(f"({event.resource_type})", style="dim")
                if event.reason:
                    text.append(f"  {event.reason}")
                self._rich().print(text)
            else:
                sys.stderr.write(f"wb: {event_line(event)}\n")
        if not self.tty:
            sys.stderr.flush()

    def waiting(self, status: str) -> None:
        if self.quiet or not self.tty:
            return
        message = f"stack is {status}"
        if self._status is None:
            self._status = self._rich().status(message)
            self._status.start()
        else:
            self._status.update(message)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
