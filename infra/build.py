"""Build step: regenerate the shipped template from the CDK app.

    python -m weatherballoon.infra.build            # rewrite infra/template/weatherballoon.template.json
    python -m weatherballoon.infra.build --check    # exit 1 if the shipped file is stale

Synthesis runs cdk-nag (AwsSolutions) and CloudFormation's default rules; any finding fails the build.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Node 20 works for synthesis; jsii's end-of-life banner would only bury the build's own messages.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from weatherballoon.infra.app import make_app
from weatherballoon.infra.shipped_template import render_template, shipped_template_path


@dataclass(frozen=True)
class Synthesis:
    template: dict[str, Any]
    validation_report: dict[str, Any]
    # construct path -> {acknowledged rule id: written reason}
    acknowledgments: dict[str, dict[str, str]]


def synthesize() -> Synthesis:
    """Synthesize into a throwaway directory; raises if cdk-nag or CloudFormation validation finds anything."""
    with tempfile.TemporaryDirectory(prefix="wb-synth-") as outdir:
        app, stack = make_app(outdir=outdir)
        assembly = app.synth()
        template_file = Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path)
        template = json.loads(template_file.read_text(encoding="utf-8"))
        report = json.loads((Path(outdir) / "validation-report.json").read_text(encoding="utf-8"))
    acknowledgments: dict[str, dict[str, str]] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledgments.setdefault(construct.node.path, {}).update(entry.data)
    return Synthesis(template=template, validation_report=report, acknowledgments=acknowledgments)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m weatherballoon.infra.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)

    rendered = render_template(synthesize().template)
    target = shipped_template_path()
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != rendered:
            print(f"{target} is stale: run python -m weatherballoon.infra.build", file=sys.stderr)
            return 1
        print(f"{target} is up to date", file=sys.stderr)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(rendered, encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
