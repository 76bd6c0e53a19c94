"""An offline IAM policy evaluator for exactly the policy language wb's stack uses.

moto checks actions but ignores conditions and resources, so least privilege is proven here instead
(tests/unit/infra/test_least_privilege.py). Semantics follow IAM's evaluation logic within one account:

- an explicit Deny in any policy wins; otherwise an Allow in any identity or resource policy allows;
  otherwise the request is implicitly denied;
- Action/NotAction match case-insensitively with `*` and `?`;
- Resource/NotResource and the Arn* operators match each of the six colon-separated ARN parts on its own;
- condition-key names are case-insensitive (so are IAM's), values compare as the operator says
  (`policy_conditions`);
- policy variables `${key}` (and `${key, 'default'}`, `${*}`, `${?}`, `${$}`) are substituted from the request
  as literal text, never as wildcards; a variable with no value makes its element match nothing
  (`policy_patterns`).

Elements and operators outside that set raise `UnsupportedPolicy`: a policy never passes by being misread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from weatherballoon.infra.policy_conditions import conditions_hold
from weatherballoon.infra.policy_patterns import ContextValue, UnsupportedPolicy, arn_matches, glob

__all__ = ["Decision", "PolicyDocument", "Request", "UnsupportedPolicy", "authorize", "evaluate"]

PolicyDocument = Mapping[str, Any]
_STATEMENT_ELEMENTS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal"}


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


@dataclass(frozen=True)
class Request:
    """One authorization: an action on one resource ARN, with the request's context keys."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def value(self, key: str) -> ContextValue | None:
        wanted = key.lower()
        for name, value in self.context.items():
            if name.lower() == wanted:
                return value
        return None


def evaluate(
    identity_policies: Iterable[PolicyDocument],
    request: Request,
    resource_policies: Iterable[PolicyDocument] = (),
) -> Decision:
    allowed = False
    for document in [*identity_policies, *resource_policies]:
        for statement in _statements(document):
            if not _statement_applies(statement, request):
                continue
            effect = statement.get("Effect")
            if effect == "Deny":
                return Decision.EXPLICIT_DENY
            if effect != "Allow":
                raise UnsupportedPolicy(f"Effect {effect!r}")
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def authorize(
    identity_policies: Sequence[PolicyDocument],
    requests: Iterable[Request],
    resource_policies: Sequence[PolicyDocument] = (),
) -> Decision:
    """One API call that IAM authorizes as several requests (RunInstances: instance, volume, image, and
    iam:PassRole) is allowed only when every one of them is; the first refusal is the answer."""
    for request in requests:
        decision = evaluate(identity_policies, request, resource_policies)
        if decision is not Decision.ALLOW:
            return decision
    return Decision.ALLOW


def _statements(document: PolicyDocument) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    unknown = set(statement) - _STATEMENT_ELEMENTS
    if unknown:
        raise UnsupportedPolicy(f"statement elements {sorted(unknown)}")
    if "Principal" in statement and not _principal_matches(statement["Principal"], request):
        return False
    if not _element_matches(statement, "Action", lambda pattern: _action_matches(pattern, request)):
        return False
    if not _element_matches(statement, "Resource", lambda pattern: _resource_matches(pattern, request)):
        return False
    return conditions_hold(statement.get("Condition", {}), request.value)


def _element_matches(statement: Mapping[str, Any], name: str, matches: Any) -> bool:
    if name in statement:
        return any(matches(pattern) for pattern in _as_list(statement[name]))
    if f"Not{name}" in statement:
        return not any(matches(pattern) for pattern in _as_list(statement[f"Not{name}"]))
    raise UnsupportedPolicy(f"statement without {name} or Not{name}")


def _principal_matches(principal: Any, request: Request) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise UnsupportedPolicy(f"Principal {principal!r}")
    for kind, values in principal.items():
        if kind not in ("AWS", "Service"):
            raise UnsupportedPolicy(f"Principal kind {kind}")
        caller = request.value("aws:PrincipalArn" if kind == "AWS" else "aws:PrincipalServiceName")
        if any(value == caller or (kind == "AWS" and value == "*") for value in _as_list(values)):
            return True
    return False


def _resource_matches(pattern: str, request: Request) -> bool:
    return arn_matches(pattern, request.resource, request.value)


def _action_matches(pattern: str, request: Request) -> bool:
    return glob(pattern, ignore_case=True).fullmatch(request.action) is not None
