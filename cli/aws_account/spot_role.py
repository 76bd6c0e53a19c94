"""The EC2 Spot service-linked role (AWSServiceRoleForEC2Spot), which EC2 needs before it launches any spot
instance in an account. EC2 creates it on the first spot launch, but only for a caller allowed
`iam:CreateServiceLinkedRole`; members are not, so in an account without the role their `--spot` runs fail
with AuthFailure.ServiceLinkedRoleCreationNotPermitted (and fall back to on-demand). An admin creates it
once: `wb bootstrap --create-spot-role`. An existing role is not an error.
"""

from __future__ import annotations

from typing import Any

from .errors import error_code, error_message, translated

SERVICE = "spot.amazonaws.com"
ROLE_NAME = "AWSServiceRoleForEC2Spot"
PATH = f"/aws-service-role/{SERVICE}/"
CREATE_HINT = (
    f"creating it needs iam:CreateServiceLinkedRole for {SERVICE} (an account admin has it); "
    f"or: aws iam create-service-linked-role --aws-service-name {SERVICE}"
)


def spot_role_exists(iam: Any) -> bool:
    """Whether the account has the role (looked up by its path, which holds only this role)."""
    with translated(denied_hint="listing IAM roles needs iam:ListRoles"):
        pages = iam.get_paginator("list_roles").paginate(PathPrefix=PATH)
        return any(page.get("Roles") for page in pages)


def ensure_spot_role(iam: Any) -> bool:
    """Create the role unless it exists; True when this call created it."""
    from botocore.exceptions import ClientError

    if spot_role_exists(iam):
        return False
    with translated(denied_hint=CREATE_HINT):
        try:
            iam.create_service_linked_role(AWSServiceName=SERVICE)
        except ClientError as exc:  # created by someone else meanwhile: "... has been taken in this account"
            if error_code(exc) == "InvalidInput" and "taken" in error_message(exc):
                return False
            raise
    return True
