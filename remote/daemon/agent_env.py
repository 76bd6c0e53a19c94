"""`~/.weatherballoon/agent.env`: the agent's configuration on an aws instance, written by `boot.py`.

KEY=VALUE lines; everything after the first `=` is the value, verbatim (no quoting); blank lines and lines
starting with `#` are skipped; a later line wins. The daemon reads it once, at start, into `AgentEnv`.
Where there is no agent.env the machine is not supervised by us (the ssh provider): no daemon runs.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ...lambdas import lease, limits, schema
from ..jobs.store import state_dir

FILE_NAME = "agent.env"
# Both through /opt/wb/bin/wb-power, which user-data installs and grants the login user in /etc/sudoers.d/wb
# (cli/providers/aws/userdata_power.py; a test holds these equal). Never `shutdown -h +N`: logind then writes
# /run/nologin five minutes before the deadline, and every login but root's is refused.
DEFAULT_POWEROFF_COMMAND = 'sudo -n /opt/wb/bin/wb-power off "$WB_POWEROFF_REASON"'
DEFAULT_ARM_SHUTDOWN_COMMAND = "sudo -n /opt/wb/bin/wb-power arm {seconds}"
DEFAULT_RENEW_SECONDS = lease.RENEW_INTERVAL_S
DEFAULT_PUSH_DEADLINE_S = 60.0  # within systemd's default 90 s stop timeout (the push on shutdown)
REQUIRED = ("WB_ROW_PK", "WB_TABLE", "WB_REGION")
# Read from the process environment when agent.env does not set them (botocore's own names).
INHERITED = ("AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT")


class AgentEnvError(ValueError):
    """agent.env is missing, unreadable, or lacks or garbles a key; `key` names it when there is one."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def env_path(environ: dict | None = None) -> str:
    return os.path.join(state_dir(environ), FILE_NAME)


def parse(text: str) -> dict:
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, has_value, value = stripped.partition("=")
        if has_value and key.strip():
            values[key.strip()] = value.strip()
    return values


def render(values: dict) -> str:
    lines = []
    for key, value in values.items():
        text = str(value)
        if "\n" in text or "\r" in text or "=" in key or not key:
            raise AgentEnvError(f"agent.env cannot hold {key!r}={text!r} (one line per key)", key)
        lines.append(f"{key}={text}")
    return "\n".join(lines) + "\n"


def _number(values: dict, key: str, default: float, positive: bool = False) -> float:
    text = values.get(key, "")
    if not text:
        return default
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not (number > 0 if positive else number >= 0) or number == float("inf"):
        raise AgentEnvError(f"agent.env: {key}={text!r} is not a {'positive ' if positive else ''}number", key)
    return number


def _limited(values: dict, key: str, default: float, limit: limits.Range) -> float:
    text = values.get(key, "")
    if not text:
        return default
    try:
        return limit.parse(text)
    except ValueError as exc:
        raise AgentEnvError(f"agent.env: {key}: {exc}", key) from None


@dataclass(frozen=True)
class AgentEnv:
    """What the daemon needs to supervise this instance (the keys are in docs/supervision.md)."""

    owner: str
    instance_arn: str
    instance_id: str
    table: str
    region: str
    bucket: str
    s3_prefix: str
    lease_minutes: float
    idle_minutes: float
    max_hours: float
    poweroff_command: str
    arm_shutdown_command: str
    renew_seconds: float
    push_deadline_s: float
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    imds_disabled: bool = False
    imds_endpoint: str | None = None

    @property
    def row_pk(self) -> str:
        return schema.instance_pk(self.owner, self.instance_arn)

    @classmethod
    def from_values(cls, values: dict, environ: dict | None = None) -> AgentEnv:
        source = os.environ if environ is None else environ
        for key in REQUIRED:
            if not values.get(key):
                raise AgentEnvError(f"agent.env has no {key}", key)
        try:
            owner, arn = schema.parse_instance_pk(values["WB_ROW_PK"])
        except ValueError as exc:
            raise AgentEnvError(f"agent.env: WB_ROW_PK: {exc}", "WB_ROW_PK") from None
        if values.get("WB_INSTANCE_ARN", arn) != arn:
            raise AgentEnvError("agent.env: WB_INSTANCE_ARN and WB_ROW_PK name different instances", "WB_INSTANCE_ARN")
        merged = {key: source[key] for key in INHERITED if key in source}
        merged.update(values)
        return cls(
            owner=owner,
            instance_arn=arn,
            instance_id=schema.parse_instance_arn(arn)[2],
            table=values["WB_TABLE"],
            region=values["WB_REGION"],
            bucket=values.get("WB_BUCKET", ""),
            s3_prefix=values.get("WB_S3_PREFIX") or f"{owner}/{arn}/",
            lease_minutes=_limited(values, "WB_LEASE_MINUTES", lease.DEFAULT_LEASE_MINUTES, limits.LEASE_MINUTES),
            idle_minutes=_limited(values, "WB_IDLE_MINUTES", lease.DEFAULT_IDLE_MINUTES, limits.IDLE_MINUTES),
            max_hours=_limited(values, "WB_MAX_HOURS", lease.DEFAULT_MAX_HOURS, limits.MAX_HOURS),
            poweroff_command=values.get("WB_POWEROFF_COMMAND") or DEFAULT_POWEROFF_COMMAND,
            arm_shutdown_command=values.get("WB_ARM_SHUTDOWN_COMMAND") or DEFAULT_ARM_SHUTDOWN_COMMAND,
            renew_seconds=_number(values, "WB_RENEW_SECONDS", DEFAULT_RENEW_SECONDS, positive=True),
            push_deadline_s=_number(values, "WB_PUSH_DEADLINE_S", DEFAULT_PUSH_DEADLINE_S),
            endpoint_url=values.get("AWS_ENDPOINT_URL") or None,
            access_key_id=values.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=values.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=values.get("AWS_SESSION_TOKEN") or None,
            imds_disabled=merged.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true",
            imds_endpoint=merged.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or None,
        )

    @classmethod
    def load(cls, path: str | None = None) -> AgentEnv:
        path = env_path() if path is None else path
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            raise AgentEnvError(f"no {path}: this machine is not supervised by wb (boot.py writes it)") from None
        except OSError as exc:
            raise AgentEnvError(f"cannot read {path}: {exc.strerror}") from None
        return cls.from_values(parse(text))
