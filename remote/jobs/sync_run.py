"""`agent sync-run`: a sync and the job after it, in one agent process, with no round trip between them.

    agent sync-run SYNC-SCAN-ARGS... --then-run run RUN-ARGS...   < request, job spec, [stream], [job stdin]

The first half is `sync-scan ... --apply` (ROOT must be given --apply); the job spec (`jobs/spec.py`, as
`run --spec-stdin` reads it) follows the request on stdin. When the remote copy already matches (the answer
lists nothing), the job starts at once: the client sends no stream. Otherwise the client always sends one,
empty if nothing needs to travel, and the job starts once it is applied whole. The root's lock is released
before the job starts. A sync that fails, or that the client cancels (stdin closed), starts no job: the exit
status is the sync's (`agent_io`'s SYNC codes) and nothing more comes.

Before the job's own output, `HANDOVER_LINE` goes to stderr: the client stops reading the sync's messages
there, and everything after it is the job's `run` (its stream header first, on stdout, as `run --follow`).
"""

from __future__ import annotations

import sys

from weatherballoon.remote.agent_io import HANDOVER_LINE, SYNC_STREAM_EXIT, say

THEN_RUN = "--then-run"


def sync_run_main(argv: list) -> int:
    at = argv.index(THEN_RUN) if THEN_RUN in argv else len(argv)
    if argv[at + 1 : at + 2] != ["run"]:
        from weatherballoon.remote.agent_io import usage_error

        problem = f"{THEN_RUN} run RUN-ARGS... is missing"
        return usage_error("sync-run", problem, "sync-run ROOT --apply ... --then-run run --spec-stdin ...")
    from weatherballoon.remote.sync.commands import Synced, scan_apply

    from .spec import read_spec

    spec: list = []
    synced = Synced()
    code = scan_apply(argv[:at], "sync-run", after_request=lambda: spec.append(read_spec(0)), synced=synced)
    if code != 0 or not synced.complete:
        return code
    if not spec:
        say("no job spec after the request", "sync-run")
        return SYNC_STREAM_EXIT
    sys.stdout.flush()
    sys.stderr.write(HANDOVER_LINE)
    sys.stderr.flush()
    from .commands import run_with_spec

    return run_with_spec(argv[at + 2 :], spec[0])
