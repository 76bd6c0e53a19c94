"""The console script `wb`. With a warm client listening (keeper/fork_server.py), an eligible command is
handed to it whole and this process imports nothing more (keeper/thin_client.py). Otherwise the command
runs here: for `wb run` it begins connecting to the project's last machine first (the prefetch thread,
cli/session/prefetch.py), so the SSH handshake overlaps the import of click and the rest of the CLI; then
it hands over to `cli.main`."""

from __future__ import annotations

import os
import sys

from .shutdown import exit_now


def main() -> None:
    try:
        os.getcwd()
    except OSError as exc:  # run from a folder that was deleted (or that this user may no longer enter)
        from .errors import UsageError

        error = UsageError(f"the current folder is gone or unreadable ({exc.strerror})",
                           hint="cd into the project folder and run the command again")  # fmt: skip
        sys.stderr.write(error.render() + "\n")
        exit_now(error.exit_code)
    if os.name == "posix":
        from .keeper.thin_client import run_warm

        code = run_warm(sys.argv[1:])
        if code is not None:
            exit_now(code)
    run_here(sys.argv[1:])


def run_here(argv: list[str]) -> None:
    """Run the command in this process (a warm client's child runs commands through here too)."""
    try:
        from .session import prefetch

        prefetch.start_for_command(argv)
        from .main import main as cli_main

        cli_main(argv)  # ends the process itself
    except KeyboardInterrupt:
        # A Ctrl-C outside the command's own handling: while the CLI is still importing, or while it ends.
        try:
            sys.stderr.write("wb: interrupted\n")
        finally:
            exit_now(130)
