"""The CloudFormation template that ships in the wheel, read as package data.

The cli never imports infra code (DESIGN §2); the template is a data file that `infra/build.py` writes and
the wheel carries, so `wb bootstrap` needs neither CDK nor Node.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

TEMPLATE_RESOURCE = ("template", "weatherballoon.template.json")


def shipped_template() -> dict[str, Any]:
    resource = files("weatherballoon.infra").joinpath(*TEMPLATE_RESOURCE)
    template: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return template
