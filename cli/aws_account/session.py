"""The one AWS session factory of the client.

    aws = AwsSession(AwsSettings(region="us-west-2"))
    cfn = aws.client("cloudformation")      # cached per service, one shared botocore Config
    who = aws.identity()                     # STS GetCallerIdentity, cached

Credentials come from the standard chain (profiles, SSO, environment, instance role), or from the legacy
`provisioner.cred` file when the config names one. `AWS_ENDPOINT_URL` (the moto server in tests) is honored
by botocore itself. Nothing is imported from boto3 until the first client is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import translated

if TYPE_CHECKING:
    from ..app import App

MAX_ATTEMPTS = 5
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class AwsSettings:
    """Where and as whom to talk to AWS. None everywhere means: the standard AWS chain decides."""

    region: str | None = None
    profile: str | None = None
    cred_file: Path | None = None  # legacy `{id, secret}` file, read only when mode is 0600 or stricter
    max_attempts: int = MAX_ATTEMPTS
    connect_timeout: float = CONNECT_TIMEOUT_S
    read_timeout: float = READ_TIMEOUT_S


@dataclass(frozen=True)
class CallerIdentity:
    """STS GetCallerIdentity: `user_id` is `aws:userid`, the value of the `wb:owner` tag."""

    account: str
    arn: str
    user_id: str


class AwsSession:
    """A boto3 Session plus clients built from it with one `botocore.config.Config`, cached per service.

    Pass `boto_session` to reuse one you already have (tests, the aws provider); otherwise one is built from
    `settings` on first use.
    """

    def __init__(self, settings: AwsSettings | None = None, *, boto_session: Any | None = None) -> None:
        self.settings = settings or AwsSettings()
        self._boto = boto_session
        self._clients: dict[str, Any] = {}
        self._identity: CallerIdentity | None = None

    @property
    def boto(self) -> Any:
        if self._boto is None:
            import boto3

            from .credentials import read_legacy_credentials

            kwargs: dict[str, Any] = {}
            if self.settings.cred_file is not None:
                creds = read_legacy_credentials(self.settings.cred_file)
                kwargs.update(aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key)
            elif self.settings.profile:
                kwargs["profile_name"] = self.settings.profile
            with translated():
                self._boto = boto3.session.Session(region_name=self.settings.region, **kwargs)
        return self._boto

    @cached_property
    def client_config(self) -> Any:
        """The shared botocore Config: standard retries (backoff with jitter, throttling aware) and timeouts."""
        from botocore.config import Config

        return Config(
            retries={"mode": "standard", "max_attempts": self.settings.max_attempts},
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
        )

    @property
    def region(self) -> str:
        region = self.boto.region_name
        if not region:
            from ..errors import AwsError

            raise AwsError(
                "no AWS region is set",
                code="NoRegion",
                hint="pass --region, set provisioner.region in .weatherballoon.json, or export AWS_REGION",
            )
        return str(region)

    def client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            with translated():
                client = self.boto.client(service, region_name=self.region, config=self.client_config)
            self._clients[service] = client
        return client

    def identity(self) -> CallerIdentity:
        if self._identity is None:
            with translated(denied_hint="every AWS identity may call sts:GetCallerIdentity; check an SCP"):
                answer = self.client("sts").get_caller_identity()
            self._identity = CallerIdentity(answer["Account"], answer["Arn"], answer["UserId"])
        return self._identity


def stack_name_for(app: App) -> str:
    """The stack a command works with: `provisioner.stack` (or `WB_STACK`) when a project is in reach."""
    from ..config.loader import find_config_file
    from .stack import STACK_NAME

    if find_config_file(app.cwd or Path.cwd(), os.environ) is not None or os.environ.get("WB_KIND"):
        return app.config().config.provisioner.stack
    return STACK_NAME


def session_for(app: App, *, region: str | None = None) -> AwsSession:
    """The session a command uses: `--region`, then the project's `provisioner.region` and `provisioner.cred`
    (when a `.weatherballoon.json` is in reach), then the AWS chain. Admin commands work without a project."""
    from ..config.loader import find_config_file

    cwd = app.cwd or Path.cwd()
    cred_file: Path | None = None
    if find_config_file(cwd, os.environ) is not None or os.environ.get("WB_KIND"):
        loaded = app.config()
        provisioner = loaded.config.provisioner
        region = region or provisioner.region
        if provisioner.cred:
            cred_file = Path(provisioner.cred).expanduser()
            if not cred_file.is_absolute():
                cred_file = (loaded.path.parent if loaded.path else cwd) / cred_file
    return AwsSession(AwsSettings(region=region, cred_file=cred_file))
