"""The sandbox's one error type: a WbError, so the CLI entry point turns it into a message and exit code."""

from __future__ import annotations

from weatherballoon.cli.errors import WbError


class SandboxError(WbError):
    exit_code = 1


class SandboxUnavailable(SandboxError):
    """This machine (or this user) cannot host a sandbox: not root, no netns, a tool missing."""

    exit_code = 2
