"""The control plane as the aws provider sees it: one AWS session, who I am, the stack and its table.

Everything is read on first use and then kept for the rest of the command, so a warm `wb run` pays for
STS and DescribeStacks once. Supervision settings merge the project's config with the stack's defaults:
a key the user set wins, except `maxHours`, which never passes the stack's cap (the reaper enforces it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...aws_account.session import AwsSession, AwsSettings
from ...aws_account.stack import StackInfo, require_stack
from ...errors import ConfigError

if TYPE_CHECKING:
    from weatherballoon.lambdas.dynamo_store import DynamoStore

    from ...aws_account.session import CallerIdentity
    from ...config.loader import LoadedConfig
    from ...config.model import WbConfig
    from ...session.tunnel import TunnelEndpoint

RENEW_INTERVAL_S = 30.0


@dataclass(frozen=True)
class Supervision:
    """The lease arithmetic this provider launches and renews with."""

    lease_minutes: float
    idle_minutes: float
    max_hours: float
    team: str

    @property
    def renew_interval_s(self) -> float:
        """Every 30 s (DESIGN §5), or a third of the lease when leases are compressed below 90 s."""
        return max(0.5, min(RENEW_INTERVAL_S, self.lease_minutes * 60.0 / 3.0))


def aws_settings(config: WbConfig, loaded: LoadedConfig, region: str | None = None) -> AwsSettings:
    """The region and credentials of this project, the same way `session_for` reads them."""
    provisioner = config.provisioner
    cred_file: Path | None = None
    if provisioner.cred:
        cred_file = Path(provisioner.cred).expanduser()
        if not cred_file.is_absolute():
            cred_file = (loaded.path.parent if loaded.path else loaded.local_root) / cred_file
    return AwsSettings(region=region or provisioner.region, cred_file=cred_file)


def _set(loaded: LoadedConfig, key: str) -> bool:
    return loaded.sources.get(key, "default") != "default"


def supervision_settings(config: WbConfig, loaded: LoadedConfig, stack: StackInfo) -> Supervision:
    """Lease and idle minutes: the project's when it sets them, else the stack's defaults. Max hours: the
    smaller of the project's and the stack's cap. Team: the stack's (IAM requires it on every launch)."""
    wanted = config.supervision

    def pick(key: str, output: str, mine: float) -> float:
        theirs = None if _set(loaded, key) else stack.number_output(output)
        return mine if theirs is None else theirs

    lease = pick("supervision.leaseMinutes", "DefaultLeaseMinutes", wanted.lease_minutes)
    idle = pick("supervision.idleMinutes", "DefaultIdleMinutes", wanted.idle_minutes)
    cap = stack.number_output("InstanceMaxHours")
    hours = wanted.max_hours if cap is None else min(wanted.max_hours, cap)
    team = stack.outputs.get("WbTeam") or config.provisioner.team
    return Supervision(lease_minutes=lease, idle_minutes=idle, max_hours=hours, team=team)


class ControlPlane:
    """AWS clients, identity, stack outputs and the supervision table for one command."""

    def __init__(self, config: WbConfig, loaded: LoadedConfig, aws: AwsSession | None = None) -> None:
        self.config = config
        self.loaded = loaded
        self.aws = aws or AwsSession(aws_settings(config, loaded))

    @property
    def region(self) -> str:
        return self.aws.region

    @property
    def ec2(self) -> Any:
        return self.aws.client("ec2")

    @property
    def s3(self) -> Any:
        return self.aws.client("s3")

    @cached_property
    def me(self) -> CallerIdentity:
        return self.aws.identity()

    @cached_property
    def stack(self) -> StackInfo:
        return require_stack(self.aws.client("cloudformation"), self.region, self.config.provisioner.stack)

    @cached_property
    def tunnel_endpoint_id(self) -> str | None:
        """The stack's EC2 Instance Connect Endpoint (its own, or the one an admin gave it), if it has one."""
        outputs = self.stack.outputs
        return outputs.get("TunnelEndpointId") or outputs.get("GivenTunnelEndpointId") or None

    @cached_property
    def connect(self) -> str:
        """How this client reaches machines: `provisioner.connect`, else eice when the stack has an endpoint."""
        configured = self.config.provisioner.connect
        if configured:
            return configured
        return "eice" if self.tunnel_endpoint_id else "public-ip"

    @cached_property
    def tunnel_endpoint(self) -> TunnelEndpoint:
        """Where tunnels open: the endpoint's DnsName (DescribeInstanceConnectEndpoints)."""
        from ...aws_account.errors import translated
        from ...errors import ProvisionError
        from ...session.tunnel import TunnelEndpoint

        endpoint_id = self.tunnel_endpoint_id
        if endpoint_id is None:
            raise ConfigError(
                'provisioner.connect is "eice", and the supervision stack has no EC2 Instance Connect Endpoint',
                key="provisioner.connect",
                hint='an admin runs `wb bootstrap` (SshAccess eice, the default); or set "connect": "public-ip"',
            )
        with translated(denied_hint="you need ec2:DescribeInstanceConnectEndpoints"):
            found = self.ec2.describe_instance_connect_endpoints(InstanceConnectEndpointIds=[endpoint_id])
        endpoints = found.get("InstanceConnectEndpoints", [])
        if not endpoints or not endpoints[0].get("DnsName"):
            raise ProvisionError(
                f"the stack's EC2 Instance Connect Endpoint {endpoint_id} is gone",
                hint="an admin runs `wb bootstrap` to restore it",
            )
        return TunnelEndpoint.of(endpoint_id, self.region, str(endpoints[0]["DnsName"]))

    @cached_property
    def store(self) -> DynamoStore:
        from weatherballoon.lambdas.dynamo_store import DynamoStore

        return DynamoStore(self.stack.output("TableName"), client=self.aws.client("dynamodb"))

    @cached_property
    def supervision(self) -> Supervision:
        return supervision_settings(self.config, self.loaded, self.stack)

    @cached_property
    def bucket(self) -> str:
        """Where agents push outputs: `sync.dirStorage` (a bucket name) or the stack's bucket.

        Only a bucket the stack grants: its own, or the one bootstrap named with --extra-output-bucket
        (output GrantedExtraBucket). Any other would leave every push failing on AccessDenied.
        """
        storage = self.config.sync.dir_storage
        if not storage:
            return self.stack.output("BucketName")
        where = str(self.loaded.path) if self.loaded.path else None
        name = storage.removeprefix("s3://").rstrip("/")
        if "/" in name:
            raise ConfigError(
                f"{storage!r} has a prefix; the aws provider stores outputs under "
                "<bucket>/<owner>/<instance-arn>/ (the instance role may write only there)",
                path=where,
                key="sync.dirStorage",
                hint="give a bucket name only, or remove the key to use the stack's bucket",
            )
        granted = {self.stack.output("BucketName"), self.stack.outputs.get("GrantedExtraBucket", "")} - {""}
        if name not in granted:
            raise ConfigError(
                f"bucket {name!r} is not one the supervision stack grants: instances could not push outputs "
                f"there (the stack grants {', '.join(sorted(granted))})",
                path=where,
                key="sync.dirStorage",
                hint=f"an admin can grant it with `wb bootstrap --extra-output-bucket {name}`, "
                "or remove the key to use the stack's bucket",
            )
        return name

    def check_root_volume(self, gib: int) -> None:
        """Refuse a root volume above the stack's MaxVolumeGiB before EC2 answers UnauthorizedOperation."""
        cap = self.stack.number_output("MaxLaunchVolumeGiB")
        if cap is not None and gib > cap:
            raise ConfigError(
                f"a {gib} GiB root volume is above this stack's limit of {cap:g} GiB",
                path=str(self.loaded.path) if self.loaded.path else None,
                key="provisioner.rootVolumeGb",
                hint="ask for less, or an admin can raise it with `wb bootstrap --max-volume-gib N`",
            )

    def allowed_types(self) -> list[str]:
        """The stack's AllowedInstanceTypes (IAM StringLike patterns); empty when the stack does not say."""
        from ...aws_account.parameters import ALLOWED_TYPES, split_list

        return split_list(self.stack.parameters.get(ALLOWED_TYPES, ""))
