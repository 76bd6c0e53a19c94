"""The console script `wb`. For `wb run` it begins connecting to the project's last machine first (the
prefetch thread, cli/session/prefetch.py), so the SSH handshake overlaps the import of click and the rest
of the CLI; then it hands over to `cli.main`."""

from __future__ import annotations

import sys


def main() -> None:
    from .session import prefetch

    prefetch.start_for_command(sys.argv[1:])
    from .main import main as cli_main

    cli_main()
