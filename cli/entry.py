"""The console script `wb`. For `wb run` it begins connecting to the project's last machine first (the
prefetch thread, cli/session/prefetch.py), so the SSH handshake overlaps the import of click and the rest
of the CLI; then it hands over to `cli.main`."""

from __future__ import annotations

import sys

from .shutdown import exit_now


def main() -> None:
    try:
        from .session import prefetch

        prefetch.start_for_command(sys.argv[1:])
        from .main import main as cli_main

        cli_main()  # ends the process itself
    except KeyboardInterrupt:
        # A Ctrl-C outside the command's own handling: while the CLI is still importing, or while it ends.
        try:
            sys.stderr.write("wb: interrupted\n")
        finally:
            exit_now(130)
