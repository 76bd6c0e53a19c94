"""Walking a template against the rules of `template_rules`: every value each rule selects, resolved with the
deployment's parameters, and what is wrong with it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from weatherballoon.infra.policy_source import DeployedTemplate, Environment
from weatherballoon.infra.template_rules import RULES, Rule


@dataclass(frozen=True)
class Violation:
    rule_id: str
    where: str
    problem: str
    source: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem} [{self.rule_id}; {self.source}]"


def select(node: Any, path: Sequence[str], where: str) -> Iterator[tuple[str, Any]]:
    """(location, value) for every value at `path` below `node`; absent keys select nothing."""
    if not path:
        yield where, node
        return
    head, rest = path[0], path[1:]
    if head == "*":
        items = node.items() if isinstance(node, Mapping) else enumerate(node) if isinstance(node, list) else []
        for key, child in items:
            yield from select(child, rest, f"{where}/{key}")
    elif isinstance(node, Mapping) and head in node:
        yield from select(node[head], rest, f"{where}/{head}")


def violations(
    template: Mapping[str, Any],
    parameters: Mapping[str, Any],
    environment: Environment | None = None,
    rules: Sequence[Rule] = RULES,
) -> list[Violation]:
    """Every value of `template`, resolved with `parameters`, that breaks one of `rules`."""
    deployed = DeployedTemplate(template, parameters, environment or Environment())
    resolved_resources = {name: deployed.resolve(body) for name, body in template.get("Resources", {}).items()}
    found: list[Violation] = []
    for rule in rules:
        if rule.resource_type is None:
            targets = [("template", template)]
        else:
            targets = [
                (f"Resources/{name}/Properties", body.get("Properties", {}))
                for name, body in resolved_resources.items()
                if body["Type"] == rule.resource_type
            ]
        for prefix, root in targets:
            for where, value in select(root, rule.path, prefix):
                problem = rule.check(value)
                if problem:
                    found.append(Violation(rule.rule_id, where, problem, rule.source))
    return found
