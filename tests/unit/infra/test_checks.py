"""cdk-nag (AwsSolutions) and cfn-lint are clean, every acknowledgment is reasoned, the shipped file is fresh."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from weatherballoon.infra.shipped_template import load_shipped_template, render_template, shipped_template_path


def test_cdk_nag_and_cloudformation_validation_report_no_finding(synthesis: Any) -> None:
    # Synthesis itself fails on any unacknowledged finding; the report says so explicitly.
    assert synthesis.validation_report["pluginReports"] == []


def test_every_acknowledgment_carries_a_written_reason(synthesis: Any) -> None:
    acknowledged = {rule: reason for rules in synthesis.acknowledgments.values() for rule, reason in rules.items()}
    assert acknowledged, "the stack acknowledges nothing: the metadata walk is broken"
    for rule, reason in acknowledged.items():
        assert len(reason.split()) >= 8, f"{rule}: {reason!r} is not a reason"


def test_acknowledgments_are_scoped_to_findings_not_whole_rules(synthesis: Any) -> None:
    # A bare "AwsSolutions-IAM5" would hide every future wildcard; only named findings are acknowledged.
    for path, rules in synthesis.acknowledgments.items():
        for rule in rules:
            assert not rule.endswith("AwsSolutions-IAM5"), (path, rule)


def test_cdk_nag_actually_fails_an_unacknowledged_finding() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App()
    stack = cdk.Stack(app, "Careless", synthesizer=cdk.CliCredentialsStackSynthesizer())
    s3.Bucket(stack, "Open")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match=r"AwsSolutions-S10"):
        app.synth()


def test_cfn_lint_finds_nothing_in_the_shipped_template() -> None:
    from cfnlint.api import lint

    text = shipped_template_path().read_text(encoding="utf-8")
    matches = lint(text, regions=["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"])
    assert [str(match) for match in matches] == []


def test_a_fresh_synth_equals_the_shipped_template_byte_for_byte(synthesis: Any) -> None:
    fresh = render_template(synthesis.template)
    shipped = shipped_template_path().read_text(encoding="utf-8")
    assert fresh == shipped, "stale: run python -m weatherballoon.infra.build"
    assert json.loads(shipped) == load_shipped_template()


def test_the_shipped_template_reads_without_cdk() -> None:
    code = (
        "import sys; from weatherballoon.infra.shipped_template import load_shipped_template;"
        "import weatherballoon.infra; t = load_shipped_template();"
        "assert 'aws_cdk' not in sys.modules and 'constructs' not in sys.modules, sorted(sys.modules);"
        "print(len(t['Resources']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(result.stdout) > 10


def test_the_shipped_template_fits_a_template_body(synthesis: Any) -> None:
    # CloudFormation takes a TemplateBody up to 51,200 bytes; beyond it bootstrap would need a template URL.
    compact = json.dumps(synthesis.template, separators=(",", ":"))
    assert len(compact.encode()) < 51_200
