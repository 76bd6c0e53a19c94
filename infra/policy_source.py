"""The policy documents a deployed copy of a template would hold, for the offline evaluator.

`DeployedTemplate` resolves CloudFormation intrinsics (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::If with the
template's Conditions, Fn::Select, Fn::Split, Fn::FindInMap, AWS::NoValue) against concrete parameter values and an
environment, naming each resource the way CloudFormation would name it in that account. IAM policy variables
such as `${aws:userid}` pass through untouched, as CloudFormation leaves them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from weatherballoon.infra.policy_patterns import UnsupportedPolicy

ParameterValue = str | Sequence[str]
_NO_VALUE = object()
_SUB_REFERENCE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Environment:
    account: str = "123456789012"
    region: str = "us-west-2"
    partition: str = "aws"
    stack_name: str = "weatherballoon"
    stack_id_suffix: str = "0f1e2d3c-0000-4000-8000-00000000abcd"


@dataclass
class DeployedTemplate:
    template: Mapping[str, Any]
    parameters: Mapping[str, ParameterValue] = field(default_factory=dict)
    environment: Environment = field(default_factory=Environment)

    # --- what tests ask for ----------------------------------------------------------------------------

    def resource(self, logical_id: str) -> Mapping[str, Any]:
        resource: Mapping[str, Any] = self.template["Resources"][logical_id]
        return resource

    def physical_name(self, logical_id: str) -> str:
        return f"{self.environment.stack_name}-{logical_id}"

    def arn(self, logical_id: str) -> str:
        return str(self._attribute(logical_id, "Arn"))

    def role_policies(self, role_logical_id: str) -> list[Mapping[str, Any]]:
        """Every identity policy a role holds: inline, attached AWS::IAM::Policy and template managed policies."""
        role = self.resource(role_logical_id)
        role_name = self.physical_name(role_logical_id)
        documents = [self.resolve(policy["PolicyDocument"]) for policy in role["Properties"].get("Policies", [])]
        if role["Properties"].get("ManagedPolicyArns"):
            raise UnsupportedPolicy(f"{role_logical_id} has managed policy ARNs the evaluator cannot see")
        for resource in self.template["Resources"].values():
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                attached_roles = self.resolve(resource["Properties"].get("Roles", []))
                if role_name in attached_roles:
                    documents.append(self.resolve(resource["Properties"]["PolicyDocument"]))
        return documents

    def managed_policy(self, logical_id: str) -> Mapping[str, Any]:
        resource = self.resource(logical_id)
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            raise ValueError(f"{logical_id} is a {resource['Type']}, not a managed policy")
        document: Mapping[str, Any] = self.resolve(resource["Properties"]["PolicyDocument"])
        return document

    def bucket_policies(self, bucket_logical_id: str) -> list[Mapping[str, Any]]:
        bucket_name = self.physical_name(bucket_logical_id)
        policies = [
            resource["Properties"]
            for resource in self.template["Resources"].values()
            if resource["Type"] == "AWS::S3::BucketPolicy"
        ]
        return [self.resolve(policy["PolicyDocument"]) for policy in policies if self._names(policy, bucket_name)]

    def _names(self, bucket_policy: Mapping[str, Any], bucket_name: str) -> bool:
        return bool(self.resolve(bucket_policy["Bucket"]) == bucket_name)

    # --- intrinsics ------------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        resolved = self._resolve(value)
        if resolved is _NO_VALUE:
            raise ValueError("a whole value resolved to AWS::NoValue")
        return resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self._resolve(item) for item in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            handler = _INTRINSICS.get(name)
            if handler is not None:
                return handler(self, argument)
            if name.startswith("Fn::"):
                raise UnsupportedPolicy(f"intrinsic {name}")
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.environment.account,
            "AWS::Region": self.environment.region,
            "AWS::Partition": self.environment.partition,
            "AWS::StackName": self.environment.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:{self.environment.partition}:cloudformation:{self.environment.region}:"
            f"{self.environment.account}:stack/{self.environment.stack_name}/{self.environment.stack_id_suffix}",
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return self._parameter(name)
        return self._attribute(name, "Ref")

    def _parameter(self, name: str) -> ParameterValue:
        declaration = self.template["Parameters"][name]
        value = self.parameters.get(name, declaration.get("Default"))
        if value is None:
            raise KeyError(f"parameter {name} has no default: give it a value")
        if declaration["Type"] == "CommaDelimitedList" and isinstance(value, str):
            return value.split(",")
        return value if isinstance(value, str | list | tuple) else str(value)

    def _attribute(self, logical_id: str, attribute: str) -> str:
        kind = self.resource(logical_id)["Type"]
        name = self.physical_name(logical_id)
        env = self.environment
        regional = f"arn:{env.partition}:{{service}}:{env.region}:{env.account}"
        global_ = f"arn:{env.partition}:iam::{env.account}"
        arns = {
            "AWS::DynamoDB::Table": f"{regional.format(service='dynamodb')}:table/{name}",
            "AWS::S3::Bucket": f"arn:{env.partition}:s3:::{name}",
            "AWS::IAM::Role": f"{global_}:role/{name}",
            "AWS::IAM::InstanceProfile": f"{global_}:instance-profile/{name}",
            "AWS::IAM::ManagedPolicy": f"{global_}:policy/{name}",
            "AWS::Logs::LogGroup": f"{regional.format(service='logs')}:log-group:{name}:*",
            "AWS::Lambda::Function": f"{regional.format(service='lambda')}:function:{name}",
            "AWS::Events::Rule": f"{regional.format(service='events')}:rule/{name}",
        }
        if kind == "AWS::EC2::SecurityGroup" and attribute in ("Ref", "GroupId"):
            return "sg-0123456789abcdef0"
        if attribute == "Ref":
            return arns[kind] if kind == "AWS::IAM::ManagedPolicy" else name
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        raise UnsupportedPolicy(f"Fn::GetAtt {logical_id}.{attribute} ({kind})")

    def _get_att(self, argument: Any) -> str:
        logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
        return self._attribute(logical_id, attribute)

    def _join(self, argument: list[Any]) -> str:
        separator, items = argument
        return str(separator).join(str(item) for item in self._resolve(items))

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {key: self._resolve(item) for key, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            reference = match.group(1)
            if reference.startswith("!"):
                return "${" + reference[1:] + "}"
            if reference in variables:
                return str(variables[reference])
            if ":" in reference and not reference.startswith("AWS::"):
                return match.group(0)  # an IAM policy variable such as ${aws:userid}
            if "." in reference:
                return self._get_att(reference)
            return str(self._ref(reference))

        return _SUB_REFERENCE.sub(replace, text)

    def _if(self, argument: list[Any]) -> Any:
        condition, when_true, when_false = argument
        return self._resolve(when_true if self._condition(condition) else when_false)

    def _condition(self, name: str) -> bool:
        return bool(self._resolve(self.template["Conditions"][name]))

    def _equals(self, argument: list[Any]) -> bool:
        left, right = (self._resolve(item) for item in argument)
        return str(left) == str(right)

    def _select(self, argument: list[Any]) -> Any:
        index, items = argument
        return self._resolve(items)[int(self._resolve(index))]

    def _find_in_map(self, argument: list[Any]) -> Any:
        name, top, second = (self._resolve(item) for item in argument)
        return self.template["Mappings"][name][top][second]

    def _split(self, argument: list[Any]) -> list[str]:
        separator, text = argument
        return str(self._resolve(text)).split(separator)


_INTRINSICS: dict[str, Any] = {
    "Ref": DeployedTemplate._ref,
    "Fn::GetAtt": DeployedTemplate._get_att,
    "Fn::Join": DeployedTemplate._join,
    "Fn::Sub": DeployedTemplate._sub,
    "Fn::If": DeployedTemplate._if,
    "Fn::Equals": DeployedTemplate._equals,
    "Fn::Not": lambda self, argument: not self._resolve(argument[0]),
    "Fn::And": lambda self, argument: all(self._resolve(argument)),
    "Fn::Or": lambda self, argument: any(self._resolve(argument)),
    "Condition": DeployedTemplate._condition,
    "Fn::Select": DeployedTemplate._select,
    "Fn::Split": DeployedTemplate._split,
    "Fn::FindInMap": DeployedTemplate._find_in_map,
}
