"""The one distribution: every code folder is a `weatherballoon.*` subpackage, data files ship (DESIGN §2), and
the plain install runs without the sandbox's extra."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
FOLDERS = {
    "cli": "weatherballoon.cli",
    "infra": "weatherballoon.infra",
    "lambdas": "weatherballoon.lambdas",
    "remote": "weatherballoon.remote",
    "sandbox": "weatherballoon.sandbox",
}
INSTALL = "pip install 'weatherballoon[sandbox]'"


def plain_dependencies() -> list[str]:
    """The names of the plain install's requirements (`boto3>=1.34` is `boto3`)."""
    return [
        re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0] for requirement in PYPROJECT["project"]["dependencies"]
    ]


def test_the_five_code_folders_are_the_five_subpackages() -> None:
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {package: folder for folder, package in FOLDERS.items()}


def test_every_package_folder_is_listed() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set()
    for folder, package in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert found == listed


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return zipfile.ZipFile(next(out.glob("weatherballoon-*.whl")))


def test_wheel_holds_only_the_weatherballoon_package(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"weatherballoon"}


def test_wheel_ships_the_template_prices_and_entry_points(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "weatherballoon/infra/template/weatherballoon.template.json" in names
    assert "weatherballoon/lambdas/prices.json" in names
    assert "weatherballoon/remote/agent.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = wheel.read(entry_points).decode()
    assert "wb = weatherballoon.cli.entry:main" in text
    assert "[weatherballoon.providers]" in text and "ssh = " in text


def test_wheel_ships_the_first_contact_run(wheel: zipfile.ZipFile) -> None:
    """`wb doctor --live` works for a pip-installed user: its package and every step are in the wheel."""
    names = set(wheel.namelist())
    package = ROOT / "cli" / "aws_account" / "first_contact"
    shipped = "weatherballoon/cli/aws_account/first_contact/"
    modules = {shipped + p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    assert {shipped + "run.py", shipped + "steps/budget.py"} <= modules
    assert modules <= names


def test_wheel_ships_the_sandbox_and_its_launchers(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for module in ("daemon.py", "launchers/moto.py", "launchers/moto_server.py", "launchers/sshd.py"):
        assert "weatherballoon/sandbox/" + module in names


def test_the_sandbox_extra_holds_the_sandboxs_third_party_packages() -> None:
    """moto is the sandbox's alone: not a dependency of the plain install."""
    names = plain_dependencies()
    extra = PYPROJECT["project"]["optional-dependencies"]["sandbox"]
    assert any(requirement.startswith("moto[server]") for requirement in extra)
    assert not {"moto", "flask", "aws-lambda-powertools"} & {name.lower() for name in names}


def plain_install(wheel: zipfile.ZipFile, where: Path, *, without: str = "") -> dict[str, str]:
    """The wheel unpacked beside the closure of its plain dependencies only (no extras), as an environment for
    `python -S` (which ignores this machine's site-packages, where moto is)."""
    from weatherballoon.sandbox.venv import link_distributions, requirements_closure

    code, deps = where / "code", where / "deps"
    for name in wheel.namelist():
        if not (without and name.startswith(without)):
            wheel.extract(name, code)
    names = plain_dependencies()
    deps.mkdir()
    link_distributions(requirements_closure(tuple(names)), deps)
    keep = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "WB_", "AWS_"))}
    return {**keep, "PYTHONPATH": f"{code}{os.pathsep}{deps}", "WB_DATA_DIR": str(where / "data")}


def wb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-S", "-m", "weatherballoon.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_plain_install_runs_wb_and_says_how_to_get_the_sandbox(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    env = plain_install(wheel, tmp_path)
    probe = subprocess.run([sys.executable, "-S", "-c", "import moto"], env=env, capture_output=True, check=False)
    assert probe.returncode != 0, "moto must not be importable in the plain install"
    version = wb(env, "--version")
    assert version.returncode == 0 and "0.1.0" in version.stdout, version.stderr
    up = wb(env, "sandbox", "up")
    assert up.returncode == 2, up.stderr
    assert "moto[server]" in up.stderr and INSTALL in up.stderr


def test_wb_sandbox_without_the_sandbox_package_is_a_usage_error(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    """A repackaged wb without `weatherballoon.sandbox` (a distribution may split it off) still answers clearly."""
    env = plain_install(wheel, tmp_path, without="weatherballoon/sandbox/")
    status = wb(env, "sandbox", "status")
    assert status.returncode == 2, status.stderr
    assert "weatherballoon.sandbox is not installed" in status.stderr and INSTALL in status.stderr
