"""How every agent command talks to whoever started it: its command line in; its messages, its exit codes
and the job stream header out.

The command line: `--name`, `--name VALUE`, `--name=VALUE`, operands, and `--`, parsed by `split_args` (or
`operands`, for commands that run no `-- COMMAND`), the one parser of every command. Hand-rolled rather
than argparse: argparse and the `re` it imports cost more startup than the whole `run --follow -- true`
path is allowed. A malformed command line raises UsageError, which the command turns into its message.

Messages: each line the agent writes for itself on stderr starts with PREFIX, `wb-agent: `, most then
with the command that writes it (`wb-agent: sync-apply: ...`, `wb-agent: no job ID on this machine`).
The client shows these lines without the prefix (cli/jobs/agent_status.py, cli/sync/agent_call.py,
cli/session/claims.py). `wb-agent: note: ...` is for the user, shown as it comes, never a failure. Lines
are written straight to fd 2, unbuffered, so none is lost when the agent exits on a signal or `os._exit`.

Usage errors (a malformed command line: a client bug, never the user's) exit USAGE_EXIT with one line,
`wb-agent: COMMAND: PROBLEM; usage: agent SYNOPSIS` (`usage_error`).

Exit codes of the agent's own, by command (0 is success everywhere):

- A job may exit with any status from 0 to 255, so no exit status of `follow` or `run --follow` can mean
  "unknown job" or "could not start" once a job's output is flowing. The first bytes those two write on
  stdout are STREAM_HEADER, once the job exists and its output is about to flow; everything after it is
  the job's stdout, byte-exact, and the exit status is then the job's own (or LOST_EXIT with a message
  when the job was lost). Without the header the command never reached the job: its exit status is one
  of the JOB codes below. The client reads these only when no header came.
- The sync commands (`sync-scan`, `sync-apply`, `outputs-pack`): the SYNC codes.
- `claim`: the CLAIM codes. `daemon`: DAEMON_FAILED_EXIT when it could not start.

Runs on python3 >= 3.8, stdlib only; imported by every command, so it imports nothing but `os`.
"""

from __future__ import annotations

import os

PREFIX = "wb-agent: "
NOTE_PREFIX = PREFIX + "note: "
# `sync-run`: after this line on stderr, what follows is the job's (the sync's messages end with it).
HANDOVER_LINE = PREFIX + "handover: the job follows\n"
STREAM_HEADER = b"wb-stream 1\n"

USAGE_EXIT = 2  # any command: a malformed command line (option, id, spec)
INTERRUPTED_EXIT = 130  # SIGINT before the command's work began (or while following, which leaves the job be)

# run, follow, signal, list, status
ALREADY_ENDED_EXIT = 1  # `signal`: the job has ended
UNKNOWN_JOB_EXIT = 3  # no job by that id on this machine
TOO_LONG_EXIT = 7  # the job's argv and environment are over the machine's exec limit (E2BIG)
JOB_STATE_EXIT = 125  # the agent could not create the job's files (state dir: full disk, read-only home)
LOST_EXIT = 255  # after the header: the job's process and supervisor are gone with no exit status
READER_GONE_EXIT = 255  # `follow`: whoever read our stdout went away (the job runs on)

# sync-scan, sync-apply, outputs-pack
SYNC_PARTIAL_EXIT = 1  # some paths failed (listed on stderr), the rest applied
SYNC_DISK_EXIT = 3  # the disk refused (full, quota, read-only); the old file is intact
SYNC_STREAM_EXIT = 4  # the request or stream was corrupt or cut short
SYNC_NOT_A_DIR_EXIT = 5  # ROOT exists and is not a directory
SYNC_REFUSED_ROOT_EXIT = 6  # ROOT may never be a sync root (`/`, the home folder or above, wb's state)
SYNC_FOREIGN_ROOT_EXIT = 7  # ROOT belongs to another project

# claim
CLAIM_REFUSED_EXIT = 3  # the daemon said no (a job runs, the row is not idle, too little lease left)
NO_DAEMON_EXIT = 4  # no daemon to ask, or the table did not answer: the client claims by itself

# daemon
DAEMON_FAILED_EXIT = 1  # `--ensure`: it did not start; `--foreground`: it cannot work (no boto3)


def line(message: str, command: str | None = None) -> bytes:
    """One message line as the agent writes it."""
    text = f"{PREFIX}{command}: {message}\n" if command else f"{PREFIX}{message}\n"
    return text.encode("utf-8", "replace")


def say(message: str, command: str | None = None, fd: int = 2) -> None:
    """Write one message line on stderr (or on `fd`: a job's own stderr file); quiet when nobody reads it."""
    try:  # noqa: SIM105 (contextlib would be the only reason for some commands to import it)
        os.write(fd, line(message, command))
    except OSError:
        pass  # the reader is gone: there is nobody left to tell


def note(message: str) -> None:
    """A line for the user (the client shows it as it comes)."""
    say("note: " + message)


def usage_error(command: str, problem: object, synopsis: str) -> int:
    """Say what is wrong with the command line, and how it goes; the exit code."""
    say(f"{problem}; usage: agent {synopsis}", command)
    return USAGE_EXIT


class UsageError(ValueError):
    pass


def split_args(argv: list, flags: tuple = (), valued: tuple = (), repeated: tuple = ()) -> tuple:
    """(options, positionals, command): --name, --name VALUE, --name=VALUE; all after `--` is command.

    A flag maps to True, a valued option to its last value, a repeated one to the list of its values (names
    without their dashes). A valued option's value is the next argument, whatever it looks like. The
    command is None when there is no `--`.
    """
    options: dict = {}
    positionals: list = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            return options, positionals, list(argv[index:])
        if not arg.startswith("--"):
            positionals.append(arg)
            continue
        name, has_value, value = arg[2:].partition("=")
        if name in flags:
            if has_value:
                raise UsageError(f"--{name} takes no value")
            options[name] = True
            continue
        if name not in valued and name not in repeated:
            raise UsageError(f"unknown option --{name}")
        if not has_value:
            if index >= len(argv):
                raise UsageError(f"--{name} needs a value")
            value = argv[index]
            index += 1
        if name in repeated:
            options.setdefault(name, []).append(value)
        else:
            options[name] = value
    return options, positionals, None


def operands(
    argv: list, names: tuple, flags: tuple = (), valued: tuple = (), repeated: tuple = (), variadic: bool = False
) -> tuple:
    """(options, operands) for a command that runs no `-- COMMAND`: there `--` only marks where the options
    end, so an operand may start with `-`. Exactly one operand per name in `names`; with `variadic`, the last
    name takes one or more."""
    options, positionals, rest = split_args(argv, flags, valued, repeated)
    values = positionals + (rest or [])
    if len(values) < len(names) or (len(values) > len(names) and not variadic):
        raise UsageError(("expected " + " ".join(names)) if names else "expected no arguments")
    return options, values
