"""The agent's job commands. This docstring is the contract the client relies on.

State lives in `$WB_AGENT_HOME`, else `~/.weatherballoon` (mode 0700); each job in `<state>/jobs/<ID>/`:

    meta.json    written once the job runs: id, command (list, as given), cwd, pid, pgid (= pid),
                 proc_start (/proc/<pid>/stat field 22; guards against pid reuse), started_at (epoch s),
                 max_time_s, max_output_bytes, stdin (bool), outputs (the --outputs globs, relative to cwd),
                 supervisor_pid, supervisor_start, boot_id (with proc_start, tells a live job from a pid
                 reused after a reboot). Never the --env values.
                 pid, pgid and proc_start are null when the command could not be started.
    stdout       the command's raw bytes, appended by the command itself (a file, not a pipe through
    stderr       the agent, so nothing is lost when the agent or the connection dies)
    stdin        a FIFO, only with --stdin
    stop.json    only when the daemon stopped the job (max-cost): {"reason": ..., "at": ...}, written before
                 it signals the job's group; the supervisor records that reason (exit 124)
    status.json  written when the job ends: exit_code, signal (N or null), stop_reason ("max-time",
                 "output-cap", "disk-full", "gang", later "max-cost" | "budget" | "lease", or null), ended_at,
                 started_at; for a rank of a gang ended by another rank's failure, gang: {rank, code,
                 reason} (`jobs.gang`; exit_code is then that rank's code). Written into
                 status.json.spare, a block set aside when the job started, so a disk the job filled
                 still gets it.

Records are JSON and replaced atomically (tmp + rename). Job ids: 1-64 of [A-Za-z0-9._-], not . or ..

Exit codes of a job, as a shell reports them: its own code; 128+N when signal N killed it; 124 when
supervision stopped it (then `signal` is the signal that did, or null); 125 when the agent could not
start it (e.g. the cwd cannot be created; reason on the job's stderr); 126/127 when the program cannot
be executed / is not found (reason on the job's stderr).

Commands (`agent COMMAND ...`, see `remote/agent.py`). Options take `--opt VALUE` or `--opt=VALUE`
(`agent_io`); an argument that is not text travels as `wb-hex:<hex of its bytes>`. Every message of the
agent's own goes to stderr and starts with `wb-agent:` (`agent_io`). Usage errors (bad option, malformed
id, id already used) exit 2; a job id that does not exist exits 3. `follow` and `run --follow` write a
stream header first on stdout once the job's output is about to flow (`agent_io.STREAM_HEADER`): only
after it is the exit status the job's own, so no code of the agent's can be mistaken for a job's.

run --job-id ID --cwd DIR [--env KEY=VALUE]... [--max-time SECONDS] [--max-output BYTES] [--outputs GLOB]...
    [--stdin] [--follow] -- CMD [ARG...]
run --job-id ID --spec-stdin [the same options, less --cwd and --env]
    With --spec-stdin the working directory, argv and environment come as bytes in a frame at the head of
    stdin (`jobs.spec`), with no length limit; what follows the frame is the job's stdin (--stdin).
    Starts CMD detached: its supervisor is in a session of its own (setsid), holds none of the caller's
    fds (the SSH channel closes when the caller exits), ignores SIGHUP, and reaps the job. The job runs
    in its own process group, in DIR (created if missing; `~` expanded, relative to the agent's cwd),
    with the agent's environment plus each --env pair plus WB_JOB_ID=ID; stdin is /dev/null, or with
    --stdin the FIFO. One CMD argument runs as `/bin/sh -c CMD` (like ssh); several are exec'd as argv,
    the program looked up on the job's PATH (an --env PATH=... counts).
    --max-time: after SECONDS the group gets SIGTERM, 5 s later SIGKILL; the job ends with 124,
    stop_reason "max-time". --max-output: when its stdout and stderr files together pass BYTES (default
    4 GiB), the same, stop_reason "output-cap". When the filesystem of the job's files has less than 1 MiB
    free, the same, stop_reason "disk-full" (also when the job ended by itself on a full disk). A
    SIGINT/SIGTERM sent to the supervisor itself is passed on to the group.
    --gang-rank K --gang-nodes N --gang-hub HOST:PORT (all three, WB_GANG_TOKEN in the spec's env): the
    job is rank K of a gang of N (`jobs.gang`): its supervisor joins the gang link (rank 0 listens on
    PORT), the job gets WB_HOSTFILE (an MPI hostfile in the job's dir, from WB_NODE_IPS and GPUS_PER_NODE)
    and never sees WB_GANG_TOKEN; when another rank fails it is stopped like --max-time (stop_reason
    "gang", the failing rank's exit code, a `wb-agent: gang: ...` line on its stderr).
    --outputs: a glob (`sync.globs` syntax) of the job's outputs, relative to DIR; repeatable. Only
    recorded (meta.json): on aws the daemon pushes them to S3 when the job ends (`daemon`).
    Without --follow: prints `ID\\n` on stdout and exits 0 once the job runs and meta.json exists.
    With --follow: does what `follow ID` does from offset 0 and exits with the job's code; SIGINT and
    SIGTERM received by this process are passed on to the job's group. With --stdin too, copies this
    process's stdin into the job's stdin until EOF, then closes it (the job sees EOF); stops quietly if
    the job stops reading. Without --follow the job's stdin is at EOF at once.
    Exits 125 with a `wb-agent:` message when the agent cannot create the job (state dir, fork), and 7
    when the argv and environment are over the machine's exec limit (E2BIG; the job is recorded as ended
    with 126), in both cases without the stream header.

follow ID [--stdout-offset N] [--stderr-offset N] [--no-wait]
    Writes the stream header, then copies the job's stdout file (from byte N) to stdout and its stderr
    file to stderr, byte-exact, until the job has ended and both are drained; exits with the job's exit
    code. When supervision
    stopped the job, one line `wb-agent: job ID stopped by supervision: REASON ...` follows on stderr.
    --no-wait: copies what is there and exits: 0 while the job runs, else as above.
    A job whose supervisor and process are both gone with no status.json (reboot, kill -9 of both, or
    of the supervisor before the job ended) is "lost": exits 255 with a `wb-agent:` line.
    If our own stdout's reader goes away, exits 255 quietly; the job runs on. SIGINT ends following with
    130; the job runs on.

signal ID SIGNAME [--then-term-after SECONDS]
    Sends SIGNAME (INT, SIGINT, int, 2; TERM, KILL, HUP, USR1...) to the job's process group, after
    checking that pid and proc_start still match. Exits 0; 1 if the job already ended; 3 if unknown;
    2 for an unknown signal name. --then-term-after: waits up to SECONDS for every process of the group
    to end, then sends SIGTERM to what is left (a process that ignores SIGNAME, as Python does SIGPIPE).

list
    Prints a JSON array on stdout, newest first, one object per job: id, command, cwd, state, exit_code,
    signal, stop_reason, started_at, ended_at, pid, push, gang. state: running | exited (own exit) |
    killed (by a signal) | stopped (by supervision) | lost. A job dir whose meta.json is not written yet is skipped.

status ID
    Prints that object for one job. Exits 0, or 3 if unknown.
"""

from __future__ import annotations

import os

from ..agent_io import ALREADY_ENDED_EXIT, INTERRUPTED_EXIT, UNKNOWN_JOB_EXIT, UsageError, say, usage_error
from .args import FollowArgs, RunArgs, job_and_rest
from .store import JobPaths

SYNOPSES = {
    "run": "run --job-id ID (--cwd DIR [--env KEY=VALUE]... | --spec-stdin) [OPTION]... [-- CMD [ARG...]]",
    "follow": "follow ID [--stdout-offset N] [--stderr-offset N] [--no-wait]",
    "signal": "signal ID SIGNAME [--then-term-after SECONDS]",
    "list": "list",
    "status": "status ID",
}


def _emit(text: str) -> None:
    data = text.encode("ascii")  # dumps() escapes everything else
    try:
        while data:
            data = data[os.write(1, data) :]
    except OSError:
        pass  # nobody reading: nothing to report to


def _usage(exc: Exception, command: str) -> int:
    return usage_error(command, exc, SYNOPSES[command])


def _unknown(job_id: str) -> int:
    say(f"no job {job_id} on this machine")
    return UNKNOWN_JOB_EXIT


def run_main(argv: list) -> int:
    try:
        args = RunArgs(argv)
        if args.spec_stdin:
            _take_spec_from_stdin(args)
    except UsageError as exc:
        return _usage(exc, "run")
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT
    from .run import run

    try:
        return run(args)
    except KeyboardInterrupt:  # before the job's pid is known there is nothing to forward it to
        return INTERRUPTED_EXIT


def run_with_spec(argv: list, spec: tuple) -> int:
    """`run` with its job spec already read (`sync-run` reads it right after the sync's request)."""
    try:
        args = RunArgs(argv)
        args.take_spec(*spec)
    except UsageError as exc:
        return _usage(exc, "run")
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT
    from .run import run

    try:
        return run(args)
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT


def _take_spec_from_stdin(args: RunArgs) -> None:
    from .spec import SpecError, read_spec

    try:
        args.take_spec(*read_spec(0))
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def follow_main(argv: list) -> int:
    try:
        args = FollowArgs(argv)
    except UsageError as exc:
        return _usage(exc, "follow")
    paths = JobPaths(args.job_id)
    if not paths.exists():
        return _unknown(args.job_id)
    from .follow import follow_to_end

    try:
        return follow_to_end(paths, args.stdout_offset, args.stderr_offset, args.wait)
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT


def signal_main(argv: list) -> int:
    from ...lambdas import limits
    from ..agent_io import operands
    from . import signals
    from .args import job_id_arg, limited_number
    from .store import read_json

    try:
        options, (job_id, name) = operands(argv, ("ID", "SIGNAME"), valued=("then-term-after",))
        job_id = job_id_arg(job_id)
        signo = signals.parse_signal(name)
        grace = options.get("then-term-after")
        grace_s = None if grace is None else limited_number(grace, "then-term-after", limits.GRACE_S)
    except (UsageError, signals.UnknownSignal) as exc:
        return _usage(exc, "signal")
    paths = JobPaths(job_id)
    if not paths.exists():
        return _unknown(job_id)
    meta = read_json(paths.meta)
    if paths.has_ended() or meta is None or not signals.send_to_job(meta, signo):
        say(f"job {job_id} has already ended")
        return ALREADY_ENDED_EXIT
    if grace_s is not None:
        signals.terminate_leftovers(meta, grace_s)
    return 0


def list_main(argv: list) -> int:
    from .listing import all_jobs
    from .store import dumps

    try:
        job_and_rest(argv, ())
    except UsageError as exc:
        return _usage(exc, "list")
    _emit(dumps(all_jobs()) + "\n")
    return 0


def status_main(argv: list) -> int:
    from .listing import describe
    from .store import dumps

    try:
        (job_id,) = job_and_rest(argv, ("ID",))
    except UsageError as exc:
        return _usage(exc, "status")
    paths = JobPaths(job_id)
    if not paths.exists():
        return _unknown(job_id)
    _emit(dumps(describe(paths)) + "\n")
    return 0
