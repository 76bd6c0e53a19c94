"""Agent commands for the receiving end of a sync.

    agent sync-scan ROOT [--apply] [--protect GLOB]...
        manifest in, differences out (`sync_scan`); with --apply, the same stdin then carries the
        sync stream, applied as `sync-apply` would: one process and one channel for a whole sync
    agent sync-apply ROOT [--protect GLOB]...
        sync stream in on stdin (`sync_wire`), JSON summary out (`sync_apply`)

A leading `~` in ROOT is expanded here, on the machine, not by a shell. Stdin closed where a request or
a stream would start means "nothing to do": the command exits 0 and touches nothing.

Exit codes: 0 done; 1 some paths failed (listed on stderr, the rest applied); 2 usage; 3 the disk
refused (full, quota, read-only), with the old file intact; 4 the request or stream was corrupt or cut
short; 5 ROOT exists and is not a directory. Python >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import sys

from weatherballoon.remote.sync_state import load_record, resolve_root

TYPE_CHECKING = False  # typing is not imported at run time: it costs the agent's start-up
if TYPE_CHECKING:
    from weatherballoon.remote.sync_wire import ByteSource

EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_DISK = 3
EXIT_STREAM = 4
EXIT_ROOT = 5


def _root_problem(root: str) -> str | None:
    if os.path.lexists(root) and not os.path.isdir(root):
        return f"{root} exists and is not a directory"
    return None


def _parse(argv: list, flags: tuple) -> tuple:
    """(root, protect globs, set of flags given), or root None on a usage error."""
    root = None
    protect = []
    given: set[str] = set()
    args = iter(argv)
    for arg in args:
        if arg == "--protect":
            value = next(args, None)
            if value is None:
                return None, [], given
            protect.append(value)
        elif arg.startswith("--protect="):
            protect.append(arg[len("--protect=") :])
        elif arg in flags:
            given.add(arg)
        elif root is None and not arg.startswith("--"):
            root = arg
        else:
            return None, [], given
    return root, protect, given


def _usage(text: str) -> int:
    sys.stderr.write(f"usage: agent {text}\n")
    return EXIT_USAGE


def scan_main(argv: list) -> int:
    root_arg, protect, flags = _parse(argv, ("--apply",))
    if root_arg is None:
        return _usage("sync-scan ROOT [--apply] [--protect GLOB]... < request")
    from weatherballoon.remote import sync_scan

    root = resolve_root(root_arg)
    problem = _root_problem(root)
    if problem:
        sys.stderr.write(f"sync-scan: {problem}\n")
        return EXIT_ROOT
    view = sync_scan.RemoteView(root, load_record(root))
    view.prestat()
    stdin = sync_scan.FdReader(sys.stdin.fileno())
    try:
        request = sync_scan.read_request(stdin)
    except (ValueError, KeyError) as exc:
        sys.stderr.write(f"sync-scan: bad request: {exc}\n")
        return EXIT_STREAM
    if request is None:
        return 0
    sync_scan.write_response(sys.stdout.buffer, view.compare(request))
    if "--apply" not in flags:
        return 0
    return _apply(root, protect, stdin)


def apply_main(argv: list) -> int:
    root_arg, protect, _ = _parse(argv, ())
    if root_arg is None:
        return _usage("sync-apply ROOT [--protect GLOB]... < stream")
    from weatherballoon.remote.sync_wire import FdReader

    return _apply(resolve_root(root_arg), protect, FdReader(sys.stdin.fileno()))


def _apply(root: str, protect: list, stdin: ByteSource) -> int:
    from weatherballoon.remote import sync_apply, sync_wire, sync_writer
    from weatherballoon.remote.sync_codec import json_line

    try:
        if not sync_wire.read_magic(stdin):
            return 0
    except sync_wire.StreamError as exc:
        sys.stderr.write(f"sync-apply: {exc}\n")
        return EXIT_STREAM
    problem = _root_problem(root)
    if problem:
        sys.stderr.write(f"sync-apply: {problem}\n")
        return EXIT_ROOT
    writer, failure = sync_apply.apply_stream(stdin, root, protect)
    code = 0
    if isinstance(failure, sync_writer.FatalWriteError):
        where = os.path.join(root, failure.path)
        note = "nothing was replaced: any earlier version is intact"
        sys.stderr.write(f"sync-apply: {where}: {failure.reason} ({note})\n")
        code = EXIT_DISK
    elif failure is not None:
        sys.stderr.write(f"sync-apply: {failure}\n")
        code = EXIT_STREAM
    for error in writer.summary.errors[:50]:
        sys.stderr.write(f"sync-apply: {error}\n")
    if writer.summary.errors and not code:
        code = EXIT_PARTIAL
    summary = {"root": root, "status": code}
    summary.update(writer.summary.as_dict())
    sys.stdout.write(json_line(summary) + "\n")
    sys.stdout.flush()
    return code
