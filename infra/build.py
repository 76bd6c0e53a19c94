"""Build step: regenerate the shipped template from the CDK app.

    python -m weatherballoon.infra.build            # rewrite infra/template/weatherballoon.template.json
    python -m weatherballoon.infra.build --check    # exit 1 if the shipped file is stale

Synthesis runs cdk-nag (AwsSolutions) and CloudFormation's default rules; any finding fails the build.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from weatherballoon.infra.app import make_app
from weatherballoon.infra.template import render_template, shipped_template_path


def synthesize_template() -> dict[str, Any]:
    """Synthesize into a throwaway directory and return the stack's template."""
    with tempfile.TemporaryDirectory(prefix="wb-synth-") as outdir:
        app, stack = make_app(outdir=outdir)
        assembly = app.synth()
        template_file = Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path)
        template: dict[str, Any] = json.loads(template_file.read_text(encoding="utf-8"))
    return template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m weatherballoon.infra.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)

    rendered = render_template(synthesize_template())
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
