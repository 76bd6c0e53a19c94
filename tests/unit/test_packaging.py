"""The one distribution: every code folder is a `weatherballoon.*` subpackage, data files ship (DESIGN §2)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"cli": "weatherballoon.cli", "infra": "weatherballoon.infra", "lambdas": "weatherballoon.lambdas",
           "remote": "weatherballoon.remote"}


def test_every_package_folder_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
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
