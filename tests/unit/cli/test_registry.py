"""The provider registry: our own providers from our dist-info without importlib.metadata, others through
the entry-point group, and an error that lists the valid names."""

from __future__ import annotations

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


def test_a_dist_info_elsewhere_on_sys_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "weatherballoon-9.9.dist-info"
    info.mkdir()
    (info / "entry_points.txt").write_text(ENTRY_POINTS.replace("ssh=", "shh="))
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(tmp_path)])
    assert set(registry._own_entry_points()) == {"aws", "shh"}


def test_an_unknown_name_lists_the_valid_ones_with_a_suggestion() -> None:
    with pytest.raises(ProviderError) as caught:
        registry.provider_class("aww")
    assert "unknown provider 'aww'; valid providers: aws, ssh" in caught.value.message
    assert caught.value.hint is not None and "did you mean 'aws'?" in caught.value.hint
