"""Who an ARN is, in IAM's terms: the user or role whose policies apply, and the `aws:userid` it runs as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .errors import translated


@dataclass(frozen=True)
class Principal:
    kind: str  # user, role, root or other
    name: str  # IAM user or role name ("" for root)
    session: str | None = None  # the session name of an assumed role


def parse_principal(arn: str) -> Principal:
    """`arn:aws:iam::1:user/path/alice` -> user alice; `arn:aws:sts::1:assumed-role/Dev/bob` -> role Dev."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return Principal("other", arn)
    resource = parts[5]
    if resource == "root":
        return Principal("root", "")
    kind, _, rest = resource.partition("/")
    if kind == "user" and rest:
        return Principal("user", rest.rsplit("/", 1)[-1])
    if kind == "assumed-role" and rest:
        role, _, session = rest.partition("/")
        return Principal("role", role, session or None)
    if kind == "role" and rest:
        return Principal("role", rest.rsplit("/", 1)[-1])
    return Principal("other", resource)


def attached_policies(iam: Any, principal: Principal) -> set[str]:
    """ARNs of the managed policies that apply to a user (directly or through groups) or a role."""
    found: set[str] = set()
    hint = "reading IAM needs iam:ListAttached*Policies and iam:ListGroupsForUser"
    with translated(denied_hint=hint):
        if principal.kind == "user":
            pages = iam.get_paginator("list_attached_user_policies").paginate(UserName=principal.name)
            found |= {p["PolicyArn"] for page in pages for p in page.get("AttachedPolicies", [])}
            groups = iam.get_paginator("list_groups_for_user").paginate(UserName=principal.name)
            for group in (g["GroupName"] for page in groups for g in page.get("Groups", [])):
                pages = iam.get_paginator("list_attached_group_policies").paginate(GroupName=group)
                found |= {p["PolicyArn"] for page in pages for p in page.get("AttachedPolicies", [])}
        elif principal.kind == "role":
            pages = iam.get_paginator("list_attached_role_policies").paginate(RoleName=principal.name)
            found |= {p["PolicyArn"] for page in pages for p in page.get("AttachedPolicies", [])}
    return found


def owner_id(iam: Any, text: str) -> str:
    """`wb budget set` accepts an `aws:userid` as is, or the ARN of an IAM user or an assumed-role session."""
    if not text.startswith("arn:"):
        return text
    principal = parse_principal(text)
    with translated(denied_hint="resolving an ARN needs iam:GetUser or iam:GetRole; or pass the aws:userid"):
        if principal.kind == "user":
            return str(iam.get_user(UserName=principal.name)["User"]["UserId"])
        if principal.kind == "role" and principal.session:
            return f"{iam.get_role(RoleName=principal.name)['Role']['RoleId']}:{principal.session}"
    raise UsageError(
        f"{text} names no single owner",
        hint="pass a user ARN, an assumed-role session ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION), "
        "or the aws:userid that `wb costs --all` lists",
    )
