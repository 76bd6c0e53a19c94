"""How a wb process ends: its shutdown hooks, then its standard streams, then `os._exit`.

wb skips the interpreter's teardown (module and thread cleanup), a measured part of every run's time
(docs/benchmarks.md, "Client start-up: imports and teardown"). That is safe only because everything wb owns
is closed by then: the command closes its connections, and whatever outlives the command (the prefetch
thread's early connection and claim) is given back by a hook registered here. A module that holds such a
thing registers its hook with `on_exit`; nothing else may end the process.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: a warm command's process imports this
if TYPE_CHECKING:  # not at run time: every command's process imports this module first
    from collections.abc import Callable
    from typing import NoReturn

_hooks: list[Callable[[], None]] = []
_final: list[Callable[[int], None]] = []


def on_exit(hook: Callable[[], None]) -> Callable[[], None]:
    """Run `hook` when wb exits (hooks run newest first); returns it, so it can decorate."""
    _hooks.append(hook)
    return hook


def on_final_exit(report: Callable[[int], None]) -> None:
    """Tell `report` the exit code once the streams are flushed, just before the process ends (a warm
    client's child reports its code to the command that handed it over)."""
    _final.append(report)


def exit_now(code: int) -> NoReturn:
    """Run the hooks, flush stdout and stderr, and end the process with `code`, without teardown."""
    for hook in reversed(_hooks):
        try:
            hook()
        except Exception:  # a hook gives back what it can; the exit code is the command's
            continue
        except KeyboardInterrupt:  # a Ctrl-C while a hook waits: stop waiting, and go
            break
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (contextlib: one import less in every command's process)
            stream.flush()
        except (OSError, ValueError):
            pass
    for report in _final:
        try:  # noqa: SIM105
            report(code)
        except Exception:  # the process ends with `code` whatever the report does
            pass
    os._exit(code)
