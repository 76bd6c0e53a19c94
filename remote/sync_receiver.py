"""Agent commands for the receiving end of a sync.

    agent sync-scan ROOT                      manifest in on stdin, differences out on stdout (sync_scan)
    agent sync-apply ROOT [--protect GLOB]... sync stream in on stdin, JSON summary out (sync_apply)

A leading `~` in ROOT is expanded here, on the machine, not by a shell. Either command given an empty
stdin does nothing and exits 0: the client starts both at once and cancels `sync-apply` when there is
nothing to change.

Exit codes of `sync-apply`: 0 done; 1 some paths failed (listed on stderr, the rest applied);
3 the disk refused (full, quota, read-only), with the old file intact; 4 the stream was corrupt or cut
short; 2 usage. Python >= 3.8, stdlib only.
"""

from __future__ import annotations

import json
import sys

from weatherballoon.remote.sync_state import load_record, resolve_root

EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_DISK = 3
EXIT_STREAM = 4


def _usage(text: str) -> int:
    sys.stderr.write(f"usage: agent {text}\n")
    return EXIT_USAGE


def scan_main(argv: list) -> int:
    if len(argv) != 1:
        return _usage("sync-scan ROOT < manifest")
    from weatherballoon.remote import sync_scan

    root = resolve_root(argv[0])
    blob = sys.stdin.buffer.read()
    if not blob:
        return 0
    try:
        entries = sync_scan.decode_request(blob)
    except (ValueError, KeyError) as exc:
        sys.stderr.write(f"sync-scan: bad request: {exc}\n")
        return EXIT_STREAM
    response = sync_scan.compare(root, entries, load_record(root))
    sys.stdout.buffer.write(sync_scan.encode_response(response))
    sys.stdout.buffer.flush()
    return 0


def _parse_apply_args(argv: list) -> tuple:
    root = None
    protect = []
    args = iter(argv)
    for arg in args:
        if arg == "--protect":
            value = next(args, None)
            if value is None:
                return None, []
            protect.append(value)
        elif arg.startswith("--protect="):
            protect.append(arg[len("--protect=") :])
        elif root is None:
            root = arg
        else:
            return None, []
    return root, protect


def apply_main(argv: list) -> int:
    root_arg, protect = _parse_apply_args(argv)
    if root_arg is None:
        return _usage("sync-apply ROOT [--protect GLOB]... < stream")
    from weatherballoon.remote import sync_apply, sync_wire, sync_writer

    root = resolve_root(root_arg)
    stdin = sys.stdin.buffer
    try:
        if not sync_wire.read_magic(stdin):
            return 0
    except sync_wire.StreamError as exc:
        sys.stderr.write(f"sync-apply: {exc}\n")
        return EXIT_STREAM
    writer, failure = sync_apply.apply_stream(stdin, root, protect)
    code = 0
    if isinstance(failure, sync_writer.FatalWriteError):
        sys.stderr.write(f"sync-apply: {failure.path}: {failure.reason} (the old file is left intact)\n")
        code = EXIT_DISK
    elif failure is not None:
        sys.stderr.write(f"sync-apply: {failure}\n")
        code = EXIT_STREAM
    for error in writer.summary.errors[:50]:
        sys.stderr.write(f"sync-apply: {error}\n")
    if writer.summary.errors and not code:
        code = EXIT_PARTIAL
    summary = {"root": root}
    summary.update(writer.summary.as_dict())
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    return code
