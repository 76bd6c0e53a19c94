"""CDK entry point: `cdk synth` / `cdk deploy` from a checkout (cdk.json), and the build step's synthesis.

The stack synthesizes without any bootstrap resource (BootstraplessSynthesizer): no assets (the reaper code
comes in through parameters), no bootstrap-version rule, no deploy roles. `cdk deploy` then sends the
template inline with the caller's credentials, so it needs no CDKToolkit stack, as long as the template stays
under CloudFormation's 51,200-byte TemplateBody limit (tests/unit/infra/test_checks.py holds it there):

    npx aws-cdk@2.1148 deploy --parameters ReaperCodeBucket=B --parameters ReaperCodeKey=K --parameters VpcId=V
"""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from weatherballoon.infra.stack import STACK_NAME, SupervisionStack

# Fixed here rather than in cdk.json, so `cdk synth` and `python -m weatherballoon.infra.build` agree.
CONTEXT = {
    "aws:cdk:enable-path-metadata": False,
    "aws:cdk:version-reporting": False,
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/core:validateAgainstDefaultRules": True,
}


def make_app(*, outdir: str | None = None) -> tuple[cdk.App, SupervisionStack]:
    """The app with its one stack, and cdk-nag's AwsSolutions pack, which fails synthesis on any finding."""
    app = cdk.App(outdir=outdir, analytics_reporting=False, context=CONTEXT)
    stack = SupervisionStack(
        app,
        STACK_NAME,
        synthesizer=cdk.BootstraplessSynthesizer(),
        analytics_reporting=False,
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> None:
    app, _ = make_app()
    app.synth()


if __name__ == "__main__":
    main()
