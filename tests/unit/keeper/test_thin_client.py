"""Which commands a warm client runs (`keeper/thin_client.eligible`), and how the install is named."""

from __future__ import annotations

import pytest
from weatherballoon.cli.keeper import thin_client, warm_names


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--", "true"], True),
        (["-v", "run", "--", "true"], True),
        (["-q", "-v", "jobs"], True),
        (["logs", "-f", "JOB"], True),
        (["status"], True),
        (["ssh", "HOST"], False),  # interactive: a terminal of its own
        (["proxy", "HOST"], False),
        (["disconnect", "--all"], False),
        (["--help"], False),
        (["--version"], False),
        ([], False),
        (["-v"], False),
    ],
)
def test_only_the_warm_commands_after_global_flags_are_handed_over(
    argv: list[str], expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WB_IN_KEEPER", "WB_WARM_CLIENT", "WB_KEEP_CONNECTION_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    assert thin_client.eligible(argv) is expected


@pytest.mark.parametrize(
    ("name", "value"), [("WB_WARM_CLIENT", "0"), ("WB_KEEP_CONNECTION_MINUTES", "0"), ("WB_IN_KEEPER", "1")]
)
def test_switched_off_by_the_environment(name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    assert not thin_client.eligible(["run", "--", "true"])


def test_the_install_digest_names_the_environment_and_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    here = warm_names.install_digest()
    assert len(here) == 16 and here == warm_names.install_digest()
    monkeypatch.setattr(warm_names.sys, "prefix", "/another/venv")
    assert warm_names.install_digest() != here


def test_the_wire_knows_a_loopback_keepers_file_by_the_loopback_modules_suffix() -> None:
    from weatherballoon.cli.keeper import loopback, wire

    assert wire.LOOPBACK_SUFFIX == loopback.SUFFIX
