"""The CloudFormation template shipped in the wheel (no CDK needed to read it: `wb bootstrap` uses this)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEMPLATE_FILE = "weatherballoon.template.json"


def shipped_template_path() -> Path:
    return Path(__file__).resolve().parent / "template" / TEMPLATE_FILE


def load_shipped_template() -> dict[str, Any]:
    with shipped_template_path().open(encoding="utf-8") as handle:
        template: dict[str, Any] = json.load(handle)
    return template


def render_template(template: dict[str, Any]) -> str:
    """The one serialization of a template: stable key order, so a fresh synth compares byte for byte."""
    return json.dumps(template, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
