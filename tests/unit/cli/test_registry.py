"""The provider registry: our own providers from our dist-info without importlib.metadata, others through
the entry-point group, and an error that lists the valid names."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from weatherballoon.cli.errors import ProviderError
from weatherballoon.cli.providers import registry
from weatherballoon.cli.providers.aws import AwsProvider
from weatherballoon.cli.providers.ssh import SshProvider

ENTRY_POINTS = """
[console_scripts]
wb = weatherballoon.cli.entry:main

[weatherballoon.providers]
aws = weatherballoon.cli.providers.aws:AwsProvider
# a comment
ssh=weatherballoon.cli.providers.ssh:SshProvider

[other.group]
ssh = elsewhere:Nothing
"""


def test_one_section_of_an_entry_points_file() -> None:
    assert registry._group_of(ENTRY_POINTS, registry.GROUP) == {
        "aws": "weatherballoon.cli.providers.aws:AwsProvider",
        "ssh": "weatherballoon.cli.providers.ssh:SshProvider",
    }
    assert registry._group_of(ENTRY_POINTS, "missing") == {}


def test_our_providers_come_from_our_installed_metadata_and_match_importlib_metadata() -> None:
    own = registry._own_entry_points()
    assert own == {name: value for name, value in registry.available().items() if name in own}
    assert registry.provider_class("ssh") is SshProvider
    assert registry.provider_class("aws") is AwsProvider


def dist_info(folder: Path, version: str, entry_points: str, direct_url: dict[str, object] | None = None) -> Path:
    info = folder / f"weatherballoon-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(entry_points)
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    return info


def test_a_stale_dist_info_earlier_on_sys_path_does_not_shadow_the_installed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = registry._own_dist_info()
    assert installed is not None
    elsewhere = {"url": (tmp_path / "old-checkout").as_uri(), "dir_info": {"editable": True}}
    dist_info(tmp_path / "stale", "0.0.1", ENTRY_POINTS.replace("ssh=", "old="), elsewhere)
    dist_info(tmp_path / "wheel-less", "0.0.2", ENTRY_POINTS.replace("ssh=", "older="))
    monkeypatch.setattr(sys, "path", [str(tmp_path / "stale"), str(tmp_path / "wheel-less"), *sys.path])
    assert registry._own_dist_info() == installed
    assert set(registry._own_entry_points()) == {"aws", "ssh"}


def test_the_dist_info_of_a_source_tree_elsewhere_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(registry.__file__).resolve().parents[2]
    this_tree = {"url": root.as_uri(), "dir_info": {"editable": True}}
    dist_info(tmp_path / "site", "9.9", ENTRY_POINTS.replace("ssh=", "shh="), this_tree)
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(tmp_path / "site")])
    assert set(registry._own_entry_points()) == {"aws", "shh"}
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing")])
    assert registry._own_entry_points() == {}  # none installed this code: importlib.metadata decides


WHEEL_LAYOUT = """
import sys
sys.path[:0] = sys.argv[1:]
from weatherballoon.cli.providers import registry
print(registry._own_dist_info())
print(sorted(registry._own_entry_points()))
"""


def test_a_wheel_install_is_read_from_the_dist_info_beside_its_package(tmp_path: Path) -> None:
    """A site folder as pip leaves it: the package, its dist-info, and a stale dist-info beside it."""
    source = Path(registry.__file__).resolve().parents[1]
    site = tmp_path / "site"
    package = site / "weatherballoon" / "cli"
    (package / "providers").mkdir(parents=True)
    for name in ("__init__.py", "errors.py", "providers/__init__.py", "providers/registry.py"):
        shutil.copy(source / name, package / name)
    digest = registry._hash_of(str(package / "providers" / "registry.py"))
    current = dist_info(site, "2.0", ENTRY_POINTS)
    (current / "RECORD").write_text(f"weatherballoon/cli/providers/registry.py,{digest},1\n")
    old = dist_info(site, "1.0", ENTRY_POINTS.replace("ssh=", "old="))
    (old / "RECORD").write_text("weatherballoon/cli/providers/registry.py,sha256=stale,1\n")
    stale = dist_info(tmp_path / "earlier", "0.1", ENTRY_POINTS.replace("ssh=", "older="))
    result = subprocess.run(
        [sys.executable, "-S", "-c", WHEEL_LAYOUT, str(stale.parent), str(site)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.splitlines() == [str(current), "['aws', 'ssh']"]


def test_an_unknown_name_lists_the_valid_ones_with_a_suggestion() -> None:
    with pytest.raises(ProviderError) as caught:
        registry.provider_class("aww")
    assert "unknown provider 'aww'; valid providers: aws, ssh" in caught.value.message
    assert caught.value.hint is not None and "did you mean 'aws'?" in caught.value.hint
