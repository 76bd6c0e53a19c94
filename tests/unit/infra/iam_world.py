"""A small deployed world for the least-privilege proofs: who asks, what they ask, which policies answer.

Requests carry the context keys AWS puts on them (per the service authorization reference): RunInstances is
authorized once per resource it creates or references, plus iam:PassRole for the profile's role, plus
ec2:CreateTags (with ec2:CreateAction) for tags applied at launch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from weatherballoon.infra.policy_eval import Decision, PolicyDocument, Request, authorize
from weatherballoon.infra.policy_source import DeployedTemplate, Environment
from weatherballoon.lambdas import schema, tags

ENV = Environment()
ACCOUNT, REGION = ENV.account, ENV.region
TEAM = "ml"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/WbAdmin"
PARAMETERS = {
    "TeamName": TEAM,
    "AdminPrincipalArns": ADMIN_ROLE,
    "ReaperCodeBucket": "wb-bootstrap-123456789012-us-west-2",
    "ReaperCodeKey": "reaper/0123abcd.zip",
    "VpcId": "vpc-0123456789abcdef0",
}


@dataclass(frozen=True)
class Caller:
    """A person (IAM user or role session) or a machine, as IAM sees it."""

    userid: str
    principal_arn: str
    extra: Mapping[str, str] = field(default_factory=dict)

    def context(self, **keys: Any) -> dict[str, Any]:
        return {
            "aws:userid": self.userid,
            "aws:PrincipalArn": self.principal_arn,
            "aws:SecureTransport": "true",
            **self.extra,
            **keys,
        }


ALICE = Caller("AIDAALICE0000000000001", f"arn:aws:iam::{ACCOUNT}:user/alice")
# An IAM Identity Center user: a role session, whose aws:userid holds a colon.
BOB = Caller("AROABOB00000000000001:bob@example.com", f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Team_1")
ADMIN = Caller("AROAADMIN000000000001:carol", ADMIN_ROLE)


@dataclass(frozen=True)
class Instance:
    instance_id: str
    owner: Caller
    tags: Mapping[str, str]

    @property
    def arn(self) -> str:
        return schema.instance_arn(REGION, ACCOUNT, self.instance_id)

    @property
    def row_key(self) -> str:
        return schema.instance_pk(self.owner.userid, self.arn)

    def as_caller(self, instance_role_arn: str) -> Caller:
        """Requests signed with this instance's profile credentials."""
        return Caller(
            f"AROAINSTANCEROLE0001:{self.instance_id}", instance_role_arn, {"ec2:SourceInstanceARN": self.arn}
        )


def wb_instance(instance_id: str, owner: Caller, **overrides: str) -> Instance:
    return Instance(instance_id, owner, {**tags.wb_tags(owner.userid, TEAM, "proj", "wb"), **overrides})


ALICES = wb_instance("i-0a11ce00000000001", ALICE)
ALICES_OTHER = wb_instance("i-0a11ce00000000002", ALICE)
BOBS = wb_instance("i-0b0b0000000000001", BOB)
UNMANAGED = Instance("i-0ffff000000000001", ALICE, {"Name": "someone's own box", tags.OWNER: ALICE.userid})


class World:
    """The synthesized template, deployed with PARAMETERS into ENV."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, Any] = PARAMETERS) -> None:
        self.deployed = DeployedTemplate(template, parameters, ENV)
        self.table_arn = self.deployed.arn("SupervisionTable")
        self.bucket = self.deployed.physical_name("OutputsBucket")
        self.instance_role_arn = self.deployed.arn("InstanceRole")
        self.member = [self.deployed.managed_policy("MemberPolicy")]
        self.admin = [*self.member, self.deployed.managed_policy("AdminPolicy")]
        self.instance = self.deployed.role_policies("InstanceRole")
        self.reaper = self.deployed.role_policies("ReaperRole")
        self.bucket_policies = self.deployed.bucket_policies("OutputsBucket")

    # --- EC2 ---------------------------------------------------------------------------------------------

    def launch(
        self,
        policies: Sequence[PolicyDocument],
        caller: Caller,
        *,
        launch_tags: Mapping[str, str],
        instance_type: str = "g5.xlarge",
        role_arn: str | None = None,
        passed_to: str = "ec2.amazonaws.com",
        volumes: Sequence[Mapping[str, str]] = ({"ec2:VolumeSize": "100", "ec2:VolumeType": "gp3"},),
    ) -> Decision:
        """RunInstances as IAM authorizes it; each of `volumes` is one volume resource with its context keys
        (wb's own launch: a 100 GiB gp3 root volume)."""
        tagged = {f"aws:RequestTag/{key}": value for key, value in launch_tags.items()}
        tagging = {**tagged, "aws:TagKeys": list(launch_tags)}
        ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
        requests = [
            Request(
                "ec2:RunInstances",
                f"{ec2}:instance/*",
                caller.context(**tagging, **{"ec2:InstanceType": instance_type}),
            ),
            *(Request("ec2:RunInstances", f"{ec2}:volume/*", caller.context(**tagging, **keys)) for keys in volumes),
            Request("ec2:RunInstances", f"{ec2}:network-interface/*", caller.context()),
            Request("ec2:RunInstances", f"{ec2}:subnet/subnet-0123", caller.context()),
            Request("ec2:RunInstances", f"{ec2}:security-group/sg-0123", caller.context()),
            Request("ec2:RunInstances", f"arn:aws:ec2:{REGION}::image/ami-0123", caller.context()),
            Request(
                "iam:PassRole", role_arn or self.instance_role_arn, caller.context(**{"iam:PassedToService": passed_to})
            ),
        ]
        for kind in ("instance", "volume"):
            context = caller.context(**tagging, **{"ec2:CreateAction": "RunInstances"})
            requests.append(Request("ec2:CreateTags", f"{ec2}:{kind}/*", context))
        return authorize(policies, requests)

    def on_instance(
        self, policies: Sequence[PolicyDocument], caller: Caller, action: str, instance: Instance
    ) -> Decision:
        resource_tags = {f"ec2:ResourceTag/{key}": value for key, value in instance.tags.items()}
        resource_tags.update({f"aws:ResourceTag/{key}": value for key, value in instance.tags.items()})
        return authorize(policies, [Request(action, instance.arn, caller.context(**resource_tags))])

    def tag_later(
        self, policies: Sequence[PolicyDocument], caller: Caller, instance: Instance, **new_tags: str
    ) -> Decision:
        context = caller.context(
            **{f"aws:RequestTag/{k}": v for k, v in new_tags.items()}, **{"aws:TagKeys": list(new_tags)}
        )
        return authorize(policies, [Request("ec2:CreateTags", instance.arn, context)])

    # --- DynamoDB ----------------------------------------------------------------------------------------

    def table(self, policies: Sequence[PolicyDocument], caller: Caller, action: str, *partition_keys: str) -> Decision:
        keys = {"dynamodb:LeadingKeys": list(partition_keys)} if partition_keys else {}
        return authorize(policies, [Request(action, self.table_arn, caller.context(**keys))])

    # --- S3 ----------------------------------------------------------------------------------------------

    def s3(
        self,
        policies: Sequence[PolicyDocument],
        caller: Caller,
        action: str,
        key: str,
        *,
        tls: bool = True,
        bucket: str | None = None,
    ) -> Decision:
        """An object request in the stack's bucket, or in `bucket` (another one: no bucket policy of ours)."""
        context = caller.context(**{"aws:SecureTransport": "true" if tls else "false"})
        request = Request(action, f"arn:aws:s3:::{bucket or self.bucket}/{key}", context)
        return authorize(policies, [request], self.bucket_policies if bucket is None else [])

    def list_prefix(
        self, policies: Sequence[PolicyDocument], caller: Caller, prefix: str, *, bucket: str | None = None
    ) -> Decision:
        context = caller.context(**{"s3:prefix": prefix})
        request = Request("s3:ListBucket", f"arn:aws:s3:::{bucket or self.bucket}", context)
        return authorize(policies, [request], self.bucket_policies if bucket is None else [])

    def any_action(
        self, policies: Sequence[PolicyDocument], caller: Caller, action: str, resource: str, **context: Any
    ) -> Decision:
        return authorize(policies, [Request(action, resource, caller.context(**context))])
