"""Fixtures for the control-plane tests: the real `wb` binary (or `run_cli` in process) against the moto
server, the public Powertools layer as it exists in AWS, and a bootstrapped stack."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from weatherballoon.cli.aws_account.stack import STACK_NAME, StackInfo, describe_stack
from weatherballoon.cli.main import run_cli
from weatherballoon.infra.shipped_template import load_shipped_template

from tests.support.moto_server import aws_env, free_port
from tests.support.project import WB

Run = Callable[..., subprocess.CompletedProcess[str]]


def clean_env(extra: dict[str, str], data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WB_", "AWS_"))}
    env.update({"WB_DATA_DIR": str(data_dir), "AWS_EC2_METADATA_DISABLED": "true", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with no .weatherballoon.json: admins bootstrap from anywhere."""
    folder = tmp_path / "anywhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "data"))
    return folder


@pytest.fixture
def wb(moto_endpoint: str, workdir: Path, tmp_path: Path) -> Run:
    """The installed `wb` binary, talking only to the moto server."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        full_env = clean_env(aws_env(moto_endpoint) if env is None else env, tmp_path / "data")
        return subprocess.run(
            [WB, *args],
            cwd=workdir,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run


@dataclass
class InProcess:
    code: int
    out: str
    err: str


@pytest.fixture
def wb_here(moto_endpoint: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., InProcess]:
    """`wb` through `run_cli` in this process (faster; the same code path after argument parsing)."""

    def run(*args: str) -> InProcess:
        capsys.readouterr()
        code = run_cli(list(args))
        captured = capsys.readouterr()
        return InProcess(code, captured.out, captured.err)

    return run


@pytest.fixture
def public_layer(moto_endpoint: str) -> str:
    """The public Powertools layer the template names, published in moto as AWS publishes it (moto checks
    that a function's layers exist when CloudFormation updates the function)."""
    template = load_shipped_template()
    text = json.dumps(template["Resources"]["ReaperFunction"]["Properties"].get("Layers", ""))
    found = re.search(r"layer:([A-Za-z0-9_-]+):\$\{PowertoolsLayerVersion\}", text)
    if not found:
        return ""
    version = int(template["Parameters"]["PowertoolsLayerVersion"]["Default"])
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as archive:
        archive.writestr("python/aws_lambda_powertools/__init__.py", "")
    client = boto3.client("lambda")
    for _ in range(version):
        client.publish_layer_version(LayerName=found.group(1), Content={"ZipFile": content.getvalue()})
    return found.group(1)


@pytest.fixture
def cfn(moto_endpoint: str) -> Any:
    return boto3.client("cloudformation")


@pytest.fixture
def deployed(wb_here: Callable[..., InProcess], cfn: Any) -> StackInfo:
    """A freshly bootstrapped stack with default settings."""
    result = wb_here("-q", "bootstrap")
    assert result.code == 0, result.err
    stack = describe_stack(cfn, STACK_NAME)
    assert stack is not None
    return stack


def parameters(cfn: Any) -> dict[str, str]:
    stack = describe_stack(cfn, STACK_NAME)
    assert stack is not None
    return stack.parameters


@pytest.fixture
def inprocess_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server in this process, so a test can put a stack in a state moto never reaches by itself."""
    from moto.server import ThreadedMotoServer

    from tests.support.moto_server import reset

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://localhost:{port}"
    reset(url)
    for key, value in aws_env(url).items():
        monkeypatch.setenv(key, value)
    try:
        yield url
    finally:
        server.stop()


def enforce_iam(moto_endpoint: str, on: bool) -> None:
    """From now on moto checks every request's IAM actions (conditions and resources it ignores); or stops."""
    request = urllib.request.Request(
        f"{moto_endpoint}/moto-api/reset-auth",
        data=b"0" if on else b"inf",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10).close()
