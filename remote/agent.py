"""Entry point of the agent shipped to each machine: `python3 <agent folder> COMMAND ...`.

The agent, grouped by job:

    agent.py       this entry point and its command table. The bundle's `__main__.py`, the client's
                   `python3 -c` start line and the daemon's systemd unit (`agent/current daemon`) reach it
                   by this name.
    agent_io.py    how every command talks: its argv parser; `wb-agent:` messages, exit codes, the job
                   stream header
    procinfo.py    process identity that survives pid reuse (for jobs and the daemon alike)
    serve.py       `serve`: agent commands without a remote shell each, for the client's connection keeper
    boot.py        the aws instance's boot program: user-data ships it verbatim, so it is one
                   self-contained file that imports nothing of the agent
    jobs/          run, follow, signal, list, status: job records, the supervisor, following output
    sync/          sync-scan, sync-apply, outputs-pack: the receiving end of a sync, outputs sent back
    daemon/        daemon, claim: the aws dead-man switch (lease, job rows, caps, outputs to S3,
                   power-off) and claims through it

Imports go one way: daemon/ may use jobs/ and sync/, jobs/ may use sync/ (the spec's codec), and all
three use the top-level modules, which use none of them (tests/unit/remote/test_agent_layers.py).

Runs on python3 >= 3.8 with the stdlib only (boto3 only in the aws daemon). Each command lives in its
own module and is imported only when called, so a warm `wb run` pays for nothing it does not use.
"""

from __future__ import annotations

import importlib
import sys

# An argument that is not text (a path with bytes that are not UTF-8) travels as HEX_PREFIX + its bytes in
# hex, since the command line is text; the client escapes every argument that starts with the prefix too.
HEX_PREFIX = "wb-hex:"

# command -> "module:function"; each function takes argv (list of str) and returns an exit code.
COMMANDS = {
    "run": "weatherballoon.remote.jobs.commands:run_main",
    "follow": "weatherballoon.remote.jobs.commands:follow_main",
    "signal": "weatherballoon.remote.jobs.commands:signal_main",
    "list": "weatherballoon.remote.jobs.commands:list_main",
    "status": "weatherballoon.remote.jobs.commands:status_main",
    "sync-scan": "weatherballoon.remote.sync.commands:scan_main",
    "sync-run": "weatherballoon.remote.jobs.sync_run:sync_run_main",
    "sync-apply": "weatherballoon.remote.sync.commands:apply_main",
    "outputs-pack": "weatherballoon.remote.sync.outputs:pack_main",
    "fanout-serve": "weatherballoon.remote.sync.fanout:serve_main",
    "fanout-fetch": "weatherballoon.remote.sync.fanout:fetch_main",
    "gang-probe": "weatherballoon.remote.jobs.gang_probe:main",
    "daemon": "weatherballoon.remote.daemon.commands:main",
    "claim": "weatherballoon.remote.daemon.claim_command:main",
    "version": "weatherballoon.remote.agent:version_main",
    "serve": "weatherballoon.remote.serve:serve_main",
}


def version_main(argv: list) -> int:
    if argv:  # the parser only when there is something to refuse: `version` is the bare start-cost probe
        from .agent_io import UsageError, operands, usage_error

        try:
            operands(argv, ())
        except UsageError as exc:
            return usage_error("version", exc, "version")
    sys.stdout.write("weatherballoon-agent python {}.{}\n".format(*sys.version_info[:2]))
    return 0


def decode_arg(arg: str) -> str:
    if not arg.startswith(HEX_PREFIX):
        return arg
    import os

    return os.fsdecode(bytes.fromhex(arg[len(HEX_PREFIX) :]))


def main(argv: list | None = None) -> int:
    args = [decode_arg(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    if not args or args[0] not in COMMANDS:
        from .agent_io import usage_error

        problem = f"unknown command {args[0]!r}" if args else "no command"
        return usage_error("agent", problem, "{" + ",".join(sorted(COMMANDS)) + "} ...")
    module_name, func_name = COMMANDS[args[0]].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
