"""The user-data script: markers, the verbatim boot program, the 16 KB limit, and valid bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from weatherballoon.cli.errors import ProvisionError
from weatherballoon.cli.providers.aws import userdata

BOOT = "import sys\nprint('boot')\n"


def inputs(**changes: object) -> userdata.BootInputs:
    values: dict[str, object] = {
        "username": "ubuntu",
        "table": "wb-table",
        "bucket": "wb-bucket",
        "region": "us-west-2",
        "lease_minutes": 5.0,
        "idle_minutes": 10.0,
        "max_hours": 24.0,
        "renew_seconds": 30.0,
        "authorized_key": "ssh-ed25519 AAAAC3Nza weatherballoon-ephemeral",
    }
    values.update(changes)
    return userdata.BootInputs(**values)


def test_header_markers_then_the_boot_program_verbatim() -> None:
    script = userdata.render(inputs(), BOOT)
    lines = script.splitlines()
    assert lines[:9] == [
        "#!/bin/bash",
        "# wb:authorized-key ssh-ed25519 AAAAC3Nza weatherballoon-ephemeral",
        "# wb:user ubuntu",
        "# wb:table wb-table",
        "# wb:bucket wb-bucket",
        "# wb:lease-minutes 5",
        "# wb:idle-minutes 10",
        "# wb:max-hours 24",
        "# wb:renew-seconds 30",
    ]
    assert userdata.boot_source_in(script) == BOOT
    start = lines.index(userdata.BOOT_START)
    assert lines[start + 3] == userdata.BOOT_END and lines[start + 4] == "/opt/wb/venv/bin/python /opt/wb/boot.py" + (
        ' || echo "wb: boot.py failed with $?"'
    )
    assert "shutdown -h +6 " in script
    assert "Restart=always" in script and "User=$WB_USER" in script
    assert "systemctl enable --now wb-agent.path" in script


def test_a_seed_key_pair_means_no_authorized_key_line() -> None:
    script = userdata.render(inputs(authorized_key=None), BOOT)
    assert script.splitlines()[1] == "# wb:user ubuntu"
    assert "authorized_keys" not in script


@pytest.mark.parametrize(("minutes", "timer"), [(0.1, 2), (5.0, 6), (7.5, 9)])
def test_the_boot_dead_man_timer_is_the_lease_rounded_up_plus_one_minute(minutes: float, timer: int) -> None:
    assert f"shutdown -h +{timer} " in userdata.render(inputs(lease_minutes=minutes), BOOT)


def test_the_script_is_valid_bash(tmp_path: Path) -> None:
    path = tmp_path / "user-data"
    path.write_text(userdata.render(inputs(), userdata.boot_program()))
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0


def test_over_16_kb_is_refused_with_the_size() -> None:
    with pytest.raises(ProvisionError, match=r"user-data is \d+ bytes; EC2 accepts at most 16384"):
        userdata.render(inputs(), "x = 1\n" * 3000)


def test_a_boot_program_that_would_end_its_heredoc_is_refused() -> None:
    with pytest.raises(ProvisionError, match="WB_BOOT"):
        userdata.render(inputs(), "a = 1\nWB_BOOT\n")


def test_marker_values_must_be_one_word() -> None:
    with pytest.raises(ValueError, match="table"):
        userdata.render(inputs(table="two words"), BOOT)


def test_the_shipped_boot_program_fits() -> None:
    size = len(userdata.render(inputs(), userdata.boot_program()).encode())
    assert size < userdata.MAX_BYTES


def test_a_missing_boot_program_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match=r"no instance boot program .*boot.py") as caught:
        userdata.boot_program(tmp_path)
    assert "reinstall weatherballoon" in (caught.value.hint or "")
