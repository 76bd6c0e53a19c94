"""The job commands' arguments, parsed by the agent's one parser (`agent_io`); the grammar is documented
in `jobs.commands`."""

from __future__ import annotations

import os

from ...lambdas import limits
from ..agent_io import UsageError, operands, split_args
from .store import JobIdError, validate_job_id


def job_id_arg(text: str) -> str:
    try:
        return validate_job_id(text)
    except JobIdError as exc:
        raise UsageError(str(exc)) from None


def env_pairs(items: list) -> dict:
    env = {}
    for item in items:
        key, has_value, value = item.partition("=")
        if not has_value or not key or "\0" in item:
            raise UsageError(f"--env wants KEY=VALUE, got {item!r}")
        env[key] = value
    return env


def limited_number(text: str, option: str, limit: limits.Range) -> float:
    """A number within `limit`: the client checked it already, and this agent checks it again (a value past
    the bound would overflow the supervisor's wait)."""
    try:
        return limit.parse(text)
    except ValueError as exc:
        raise UsageError(f"--{option}: {exc}") from None


def offset(text: str, option: str) -> int:
    if not text.isdigit():
        raise UsageError(f"--{option} wants a byte offset (0 or more), got {text!r}")
    return int(text)


class RunArgs:
    __slots__ = (
        "claim", "command", "cwd", "env", "follow", "gang", "job_id", "max_cost_usd", "max_output_bytes",
        "max_time_s", "outputs", "spec_stdin", "stdin",
    )  # fmt: skip

    def __init__(self, argv: list) -> None:
        options, positionals, command = split_args(
            argv,
            flags=("stdin", "follow", "spec-stdin"),
            valued=(
                "job-id",
                "cwd",
                "max-time",
                "max-cost",
                "max-output",
                "claim",
                "gang-rank",
                "gang-nodes",
                "gang-hub",
            ),
            repeated=("env", "outputs"),
        )
        if positionals:
            raise UsageError(f"unexpected argument {positionals[0]!r}: the command goes after --")
        self.spec_stdin = bool(options.get("spec-stdin"))
        if self.spec_stdin:
            for given in ("cwd", "env"):
                if given in options:
                    raise UsageError(f"--{given} comes in the job spec with --spec-stdin")
            if command:
                raise UsageError("the command comes in the job spec with --spec-stdin")
        elif not command:
            raise UsageError("no command: put it after --")
        required = ("job-id",) if self.spec_stdin else ("job-id", "cwd")
        for name in required:
            if name not in options:
                raise UsageError(f"--{name} is required")
        self.job_id = job_id_arg(options["job-id"])
        self.cwd = ""
        self.env: dict = {}
        self.command: list = []
        if not self.spec_stdin:
            self.take_spec(options["cwd"], command or [], env_pairs(options.get("env", [])))
        max_time = options.get("max-time")
        self.max_time_s = None if max_time is None else limited_number(max_time, "max-time", limits.JOB_MAX_TIME_S)
        max_cost = options.get("max-cost")
        self.max_cost_usd = None if max_cost is None else limited_number(max_cost, "max-cost", limits.JOB_MAX_COST_USD)
        max_output = options.get("max-output")
        self.max_output_bytes = (
            None if max_output is None else int(limited_number(max_output, "max-output", limits.MAX_OUTPUT_BYTES))
        )
        # The claim under which the client took this machine (aws): the daemon releases the machine to the
        # warm pool after the job only while the row is still under it.
        self.claim = options.get("claim") or None
        # Output globs, relative to the cwd: recorded in meta.json for the daemon's push to S3.
        self.outputs = [glob for glob in options.get("outputs", []) if glob.strip()]
        self.stdin = bool(options.get("stdin"))
        self.follow = bool(options.get("follow"))
        # One rank of a gang (`jobs.gang`): (rank, nodes, hub host, hub port); the token comes in the spec's env.
        self.gang = gang_options(options)

    def take_spec(self, cwd: str, command: list, env: dict) -> None:
        """The job's directory, argv and environment: from the options, or from the spec on stdin."""
        if not command:
            raise UsageError("no command: the job spec has no arguments")
        if not cwd:
            raise UsageError("no working directory")
        # Relative to the agent's cwd, which is the login home in an SSH session, like ssh's own.
        self.cwd = os.path.abspath(os.path.expanduser(cwd))
        self.env = env
        self.command = command


def gang_options(options: dict) -> tuple | None:
    given = [name for name in ("gang-rank", "gang-nodes", "gang-hub") if name in options]
    if not given:
        return None
    if len(given) != 3:
        raise UsageError("--gang-rank, --gang-nodes and --gang-hub go together")
    rank, nodes, hub = options["gang-rank"], options["gang-nodes"], options["gang-hub"]
    host, _, port = hub.rpartition(":")
    if not (rank.isdigit() and nodes.isdigit() and port.isdigit() and host) or not int(rank) < int(nodes):
        raise UsageError(f"--gang-rank {rank!r} --gang-nodes {nodes!r} --gang-hub {hub!r}: want K < N and HOST:PORT")
    return int(rank), int(nodes), host, int(port)


class FollowArgs:
    __slots__ = ("job_id", "stderr_offset", "stdout_offset", "wait")

    def __init__(self, argv: list) -> None:
        options, (job_id,) = operands(argv, ("ID",), flags=("no-wait",), valued=("stdout-offset", "stderr-offset"))
        self.job_id = job_id_arg(job_id)
        self.stdout_offset = offset(options.get("stdout-offset", "0"), "stdout-offset")
        self.stderr_offset = offset(options.get("stderr-offset", "0"), "stderr-offset")
        self.wait = not options.get("no-wait")


def job_and_rest(argv: list, names: tuple) -> list:
    """Plain positional commands (`status ID`, `signal ID SIGNAME`, `list`); a `--` is allowed."""
    _options, values = operands(argv, names)
    if values:
        values[0] = job_id_arg(values[0])
    return values
