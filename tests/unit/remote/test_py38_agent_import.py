"""Every module of the agent as shipped (the bundle, unpacked as on a machine) imports on python 3.8 with
the standard library only, started the way the client starts it (`-I -S -c`, the bundle on sys.path)."""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from pathlib import Path

from weatherballoon.cli.session.agent import RemoteAgent
from weatherballoon.cli.session.bundle import agent_bundle

from tests.support.requirements import require_python38

SCRIPT = """
import importlib, sys
names = sys.argv[1:]
for name in names:
    importlib.import_module(name)
assert "boto3" not in sys.modules and "botocore" not in sys.modules, "boto3 imported at import time"
print(len(names))
"""


def test_the_shipped_agent_imports_on_python_3_8(tmp_path: Path) -> None:
    interpreter = require_python38()
    bundle = agent_bundle()
    zipfile.ZipFile(io.BytesIO(bundle.data)).extractall(tmp_path)
    modules = sorted(
        name[: -len(".py")].removesuffix("/__init__").replace("/", ".")
        for name, _ in bundle.entries
        if name.startswith("weatherballoon/remote/") and name.endswith(".py")
    )
    assert {"weatherballoon.remote.jobs", "weatherballoon.remote.sync", "weatherballoon.remote.daemon"} <= set(modules)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    done = subprocess.run([interpreter, "-I", "-S", "-c", f"import sys; sys.path[:0] = [{str(tmp_path)!r}]\n" + SCRIPT,
                           *modules], capture_output=True, text=True, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(modules))


def test_the_entry_point_runs_a_command_in_a_subpackage_on_python_3_8(tmp_path: Path) -> None:
    """`wb`'s own start line, on 3.8: the bundle's entry point dispatches into jobs/."""
    interpreter = require_python38()
    bundle = agent_bundle()
    folder = tmp_path / bundle.name
    zipfile.ZipFile(io.BytesIO(bundle.data)).extractall(folder)
    line = RemoteAgent(None, python=interpreter, bundle=bundle).command_line(["list"])  # type: ignore[arg-type]
    line = line.replace(f'"{RemoteAgent(None, bundle=bundle).path}"', str(folder))  # type: ignore[arg-type]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "WB_AGENT_HOME": str(tmp_path / "state")}
    done = subprocess.run(["sh", "-c", line], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")
