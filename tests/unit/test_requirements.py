"""A test whose machine lacks something it needs skips on a developer's machine and fails under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NEEDY_TEST = """
from tests.support.requirements import unavailable

def test_needs_something_missing():
    unavailable("no frobnicator on this machine")
"""


def outcome(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_needy.py").write_text(NEEDY_TEST)
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", "-p", "no:xdist", "test_needy.py"]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_outside_ci_a_missing_piece_skips_saying_why(tmp_path: Path, ci: str | None) -> None:
    done = outcome(tmp_path, ci)
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout and "no frobnicator on this machine" in done.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_missing_piece_fails_saying_why(tmp_path: Path, ci: str) -> None:
    done = outcome(tmp_path, ci)
    assert done.returncode == 1, done.stdout
    assert "1 failed" in done.stdout and "no frobnicator on this machine" in done.stdout
    assert "CI=true" in done.stdout


def test_no_test_skips_on_its_own() -> None:
    """Every skip goes through `unavailable`, so CI=true turns it into a failure."""
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        if path.name not in ("requirements.py", "test_requirements.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "pytest.skip(" in line or "mark.skipif" in line or "pytest.importorskip" in line
        if not line.lstrip().startswith("#")
    ]
    assert offenders == [], "use tests.support.requirements.unavailable instead: " + ", ".join(offenders)
