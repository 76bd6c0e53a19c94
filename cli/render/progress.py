"""Progress on stderr: a spinner while connecting and a bar while syncing, only when stderr is a terminal.

Nothing here ever writes to stdout, and nothing is shown with --quiet or when stderr is a file or pipe.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..sync.records import SyncProgress


def enabled(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


@contextlib.contextmanager
def spinner(text: str, *, quiet: bool) -> Iterator[None]:
    if not enabled(quiet):
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text, spinner="dots"):
        yield


@contextlib.contextmanager
def sync_bar(*, quiet: bool) -> Iterator[Callable[[SyncProgress], None] | None]:
    """Yields a callback for `sync_up(progress=...)`, or None when no bar should show."""
    if not enabled(quiet):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns: list[Any] = [TextColumn("syncing {task.fields[files]}"), BarColumn(), DownloadColumn()]
    columns.append(TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sync", total=None, files="")

        def update(step: SyncProgress) -> None:
            bar.update(
                task,
                completed=step.bytes_done,
                total=step.bytes_total or None,
                files=f"{step.files_done}/{step.files_total} files",
            )

        yield update
