"""The session factory against moto: region and the legacy credentials file from the project's config,
one cached client per service with the shared retry config, and a template too big to send inline."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from weatherballoon.cli.app import App
from weatherballoon.cli.aws_account.deploy import apply, template_argument
from weatherballoon.cli.aws_account.plan import TEMPLATE_BODY_MAX, BootstrapRequest, prepare
from weatherballoon.cli.aws_account.progress import StackProgress
from weatherballoon.cli.aws_account.session import AwsSession, AwsSettings, session_for
from weatherballoon.cli.aws_account.stack import STACK_NAME, describe_stack
from weatherballoon.infra.shipped_template import load_shipped_template

from tests.integration.aws_account.conftest import InProcess


def project(folder: Path, provisioner: dict[str, object]) -> Path:
    (folder / ".weatherballoon.json").write_text(json.dumps({"provisioner": {"kind": "aws", **provisioner}}))
    return folder


def test_clients_are_cached_and_share_one_config(moto_endpoint: str) -> None:
    aws = AwsSession(AwsSettings(region="eu-west-1"))
    s3 = aws.client("s3")
    assert aws.client("s3") is s3
    assert s3.meta.region_name == "eu-west-1"
    assert s3.meta.config is not aws.client("ec2").meta.config  # botocore copies it per client...
    for client in (s3, aws.client("ec2")):  # ...but every client gets the same settings
        assert client.meta.config.retries["mode"] == "standard"
        assert client.meta.config.retries["total_max_attempts"] == 6  # the first attempt and 5 retries
        assert client.meta.config.connect_timeout == 5.0
    assert aws.identity() is aws.identity()
    assert aws.identity().account == "123456789012"


def test_region_and_legacy_credentials_from_the_project(moto_endpoint: str, tmp_path: Path) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="legacy")
    key = iam.create_access_key(UserName="legacy")["AccessKey"]
    cred = tmp_path / "cred.json"
    cred.write_text(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
    cred.chmod(0o600)
    folder = project(tmp_path, {"region": "eu-central-1", "cred": "cred.json"})

    aws = session_for(App(cwd=folder))
    assert aws.region == "eu-central-1"
    assert aws.identity().arn == "arn:aws:iam::123456789012:user/legacy"
    assert session_for(App(cwd=folder), region="ap-south-1").region == "ap-south-1"


def test_an_open_credentials_file_is_refused(
    wb_here: Callable[..., InProcess], workdir: Path, moto_endpoint: str
) -> None:
    cred = workdir / "cred.json"
    cred.write_text(json.dumps({"id": "AKIA", "secret": "x"}))
    cred.chmod(0o644)
    project(workdir, {"cred": "cred.json"})
    result = wb_here("doctor")
    assert result.code == 2
    assert "permissions 0644 are too open" in result.err and f"chmod 600 {cred}" in result.err


def test_without_a_project_the_aws_chain_decides(moto_endpoint: str, workdir: Path) -> None:
    aws = session_for(App(cwd=workdir))
    assert aws.settings == AwsSettings()
    assert aws.region == "us-west-2"  # AWS_DEFAULT_REGION


def test_a_template_too_big_to_inline_goes_through_the_staging_bucket(moto_endpoint: str) -> None:
    big = copy.deepcopy(load_shipped_template())
    big["Metadata"] = {"Padding": "x" * (TEMPLATE_BODY_MAX + 1)}
    aws = AwsSession()
    deployment = prepare(aws, BootstrapRequest(), template=big)
    assert deployment.needs_template_url
    outcome = apply(deployment, aws, StackProgress(quiet=True), lambda _: None)
    assert outcome.action == "created"
    argument = template_argument(deployment)
    assert argument["TemplateURL"].startswith(f"{moto_endpoint}/{deployment.staging.bucket}/templates/")
    cfn = boto3.client("cloudformation")
    assert cfn.get_template(StackName=STACK_NAME)["TemplateBody"]["Metadata"] == big["Metadata"]
    assert describe_stack(cfn).status == "CREATE_COMPLETE"


@pytest.mark.parametrize("command", ["bootstrap", "budget", "costs", "doctor"])
def test_help_of_aws_commands_imports_no_sdk(command: str) -> None:
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "from weatherballoon.cli.main import run_cli\n"
        f"run_cli([{command!r}, '--help'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == []
