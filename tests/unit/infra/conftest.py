"""One synthesis of the stack per test session: the first costs ~13 s while jsii fills its cache, later ~5 s."""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def synthesis() -> Any:
    from weatherballoon.infra.build import synthesize

    return synthesize()


@pytest.fixture(scope="session")
def template_json(synthesis: Any) -> dict[str, Any]:
    template: dict[str, Any] = synthesis.template
    return template


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(template_json)


@pytest.fixture(scope="session")
def world(template_json: dict[str, Any]) -> Any:
    from tests.unit.infra.iam_world import World

    return World(template_json)
