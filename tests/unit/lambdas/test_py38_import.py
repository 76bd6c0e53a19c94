"""The agent imports the model on the instance's python3 (>= 3.8) with the standard library only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import weatherballoon.lambdas as package

from tests.support.requirements import require_python38

MODEL_MODULES = [
    "clock", "schema", "tags", "items", "errors", "records", "audit", "lease", "limits", "money", "budgets",
    "decision", "accrual", "prices", "config", "store", "in_memory_store", "fleet", "in_memory_fleet", "report",
    "recording", "engine", "aws", "lazy_client", "dynamo_codec", "dynamo_table", "dynamo_store", "ec2_fleet",
    "permissions", "meter", "metering", "offer_file", "prices_refresh", "retry", "gang",
]  # fmt: skip
ALL_BUT_HANDLER = {p.stem for p in Path(package.__file__).parent.glob("*.py")} - {"__init__", "reaper"}


def test_the_list_covers_every_module_but_the_handler() -> None:
    assert set(MODEL_MODULES) == ALL_BUT_HANDLER


def test_model_imports_and_works_on_python_3_8_without_boto3(tmp_path: Path) -> None:
    interpreter = require_python38()
    root = tmp_path / "site"
    (root / "weatherballoon").mkdir(parents=True)
    (root / "weatherballoon" / "lambdas").symlink_to(Path(package.__file__).parent)
    script = f"""
import importlib, sys
for name in {MODEL_MODULES!r}:
    importlib.import_module("weatherballoon.lambdas." + name)
assert "boto3" not in sys.modules and "botocore" not in sys.modules, "boto3 imported at import time"
from weatherballoon.lambdas import lease, schema
from weatherballoon.lambdas.prices import load_prices
assert lease.renew(100.0, 1) == 160.0
assert schema.instance_pk("o", schema.instance_arn("r", "1", "i-1")) == "OWNER#o#INSTANCE#arn:aws:ec2:r:1:instance/i-1"
assert load_prices().on_demand("us-east-1", "g5.xlarge") == 1.006
print("ok")
"""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root), "PYTHONNOUSERSITE": "1"}
    done = subprocess.run([interpreter, "-S", "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
