"""The entry point: help is instant (no heavy imports) and errors map to the documented exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.project import WB

HEAVY = ("boto3", "botocore", "paramiko", "aws_cdk", "pydantic", "rich")


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys, json\n"
        "from weatherballoon.cli.main import run_cli\n"
        f"run_cli({args!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_help_imports_nothing_heavy() -> None:
    loaded = _modules_after(["--help"])
    assert not {name for name in loaded if name.split(".")[0] in HEAVY}


def test_run_help_imports_nothing_heavy() -> None:
    loaded = _modules_after(["run", "--help"])
    assert not {name for name in loaded if name.split(".")[0] in HEAVY}


def test_version() -> None:
    result = subprocess.run([WB, "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("wb ")


def test_unknown_command_is_a_usage_error() -> None:
    result = subprocess.run([WB, "nosuch"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_config_error_exits_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / ".weatherballoon.json").write_text('{"provisioner": {"kind": "ssh", "hosts": 5}}')
    result = subprocess.run([WB, "run", "--", "true"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert "provisioner.hosts: expected a list" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_provider_lists_valid_names(tmp_path: Path) -> None:
    (tmp_path / ".weatherballoon.json").write_text('{"provisioner": {"kind": "shh"}}')
    result = subprocess.run([WB, "config", "validate"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown provider 'shh'" in result.stderr
    assert "ssh" in result.stderr and "did you mean 'ssh'" in result.stderr


def test_ssh_provider_without_hosts(tmp_path: Path) -> None:
    (tmp_path / ".weatherballoon.json").write_text('{"provisioner": {"kind": "ssh"}}')
    result = subprocess.run([WB, "run", "--", "true"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert "provisioner.hosts" in result.stderr
