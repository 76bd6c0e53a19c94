"""The one exception tree of the client. Each error carries fields and a hint; `cli.main` maps them to exit codes."""

from __future__ import annotations

EXIT_USAGE = 2
EXIT_SUPERVISION = 124
EXIT_CONNECT = 255


class WbError(Exception):
    """Root of every error wb reports. `hint` says what to do next."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"wb: error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UsageError(WbError):
    exit_code = EXIT_USAGE


class ConfigError(WbError):
    """A configuration problem, located by file, key path and position where known."""

    exit_code = EXIT_USAGE

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = path or "<config>"
        if line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        prefix = f"{where}: " if path else ""
        keypart = f"{key}: " if key else ""
        super().__init__(f"{prefix}{keypart}{message}", hint=hint)
        self.path = path
        self.key = key
        self.line = line
        self.column = column


class ProviderError(WbError):
    """A provider is unknown or misconfigured."""

    exit_code = EXIT_USAGE


class ConnectError(WbError):
    """Could not provision or connect: ssh's convention, exit 255."""

    exit_code = EXIT_CONNECT

    def __init__(self, message: str, *, host: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{host}: {message}" if host else message, hint=hint)
        self.host = host


class HostKeyError(ConnectError):
    """The server's host key is unknown (strict policy) or changed."""


class AuthError(ConnectError):
    pass


class ConnectionLost(ConnectError):
    """The connection dropped while a job was attached (the job itself keeps running), or during a sync."""

    def __init__(
        self, message: str, *, host: str | None = None, job_id: str | None = None, hint: str | None = None
    ) -> None:
        if job_id and hint is None:
            hint = f"the job keeps running; reattach with: wb logs -f {job_id}"
        super().__init__(message, host=host, hint=hint)
        self.job_id = job_id


class ProvisionError(ConnectError):
    """No instance could be launched (capacity, quota, bad type)."""


class SupervisionStop(WbError):
    """Supervision stopped a job (max-time, max-cost, budget, lease): exit 124."""

    exit_code = EXIT_SUPERVISION

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class JobNotFound(WbError):
    exit_code = 1

    def __init__(self, job_id: str, *, hint: str | None = None) -> None:
        super().__init__(f"no job {job_id!r}", hint=hint or "list jobs with: wb jobs")
        self.job_id = job_id


class AmbiguousJob(UsageError):
    """A job id prefix that fits more than one job."""

    SHOWN = 10

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        shown = ", ".join(candidates[: self.SHOWN])
        more = f" and {len(candidates) - self.SHOWN} more" if len(candidates) > self.SHOWN else ""
        super().__init__(
            f"job id {prefix!r} is ambiguous: {len(candidates)} jobs start with it ({shown}{more})",
            hint="give more of the id; wb jobs lists them",
        )
        self.prefix = prefix
        self.candidates = candidates


class SyncError(WbError):
    exit_code = 1


class SyncRefused(WbError):
    """The configured remote root cannot be used: it is `/`, the home folder or above it, another project's, or
    the sync would replace files no sync of this project put there. A configuration problem: exit 2."""

    exit_code = EXIT_USAGE


class AwsError(WbError):
    """An AWS call failed in a way the user can act on (credentials, permissions, stack state)."""

    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
