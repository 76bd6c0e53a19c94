"""The user-data script: markers, the dead-man timer and sudo grant first, the verbatim boot program, valid
bash, and gzip packing under EC2's 16 KB with room to grow."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
from weatherballoon.cli.errors import ConfigError, ProvisionError
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
    assert "Restart=always" in script and "User=$WB_USER" in script
    assert "systemctl enable --now wb-agent.path" in script


def test_the_dead_man_timer_is_armed_before_anything_else_and_never_with_shutdown() -> None:
    script = userdata.render(inputs(), BOOT)
    setup = userdata.root_setup_in(script)
    # shutdown -h +N would make logind write /run/nologin five minutes before it (pam_nologin: no logins)
    assert "shutdown" not in script.replace("wb-deadman", "")
    arm = setup.index("/opt/wb/bin/wb-power arm 360 ")
    assert setup.index("systemctl enable --now wb-deadman.timer") > arm
    assert arm < setup.index("WB_USER=ubuntu") < setup.index("authorized_keys") < setup.index("python3 -m venv")
    assert "/opt/wb/bin/wb-power check" in setup and "OnUnitActiveSec=30s" in setup


def test_the_login_user_is_granted_exactly_the_power_tool_after_visudo_checked_it() -> None:
    setup = userdata.root_setup_in(userdata.render(inputs(), BOOT))
    grant = setup[setup.index("install -d -m 750 /etc/sudoers.d") :]
    assert "printf '%s ALL=(root) NOPASSWD: /opt/wb/bin/wb-power\\n' \"$WB_USER\"" in grant
    checked = grant.index("visudo -cqf /etc/sudoers.d/.wb.new")
    assert checked < grant.index("mv -f /etc/sudoers.d/.wb.new /etc/sudoers.d/wb")
    assert "ALL=(ALL" not in setup and "NOPASSWD: ALL" not in setup


def test_a_seed_key_pair_means_no_authorized_key_line() -> None:
    script = userdata.render(inputs(authorized_key=None), BOOT)
    assert script.splitlines()[1] == "# wb:user ubuntu"
    assert "authorized_keys" not in script


@pytest.mark.parametrize(("minutes", "seconds"), [(0.1, 66), (5.0, 360), (7.5, 510)])
def test_the_boot_deadline_is_the_lease_plus_one_minute(minutes: float, seconds: int) -> None:
    assert f"/opt/wb/bin/wb-power arm {seconds} " in userdata.render(inputs(lease_minutes=minutes), BOOT)


@pytest.mark.parametrize("name", ["Ubuntu", "ubuntu admin", "a;b", "1abc", ""])
def test_a_login_name_no_instance_can_have_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="login name") as caught:
        userdata.render(inputs(username=name), BOOT)
    assert caught.value.key == "provisioner.os.username"


def test_the_script_is_valid_bash(tmp_path: Path) -> None:
    path = tmp_path / "user-data"
    path.write_text(userdata.render(inputs(), userdata.boot_program()))
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0


def test_over_16_kb_packed_is_refused_with_the_size() -> None:
    incompressible = "".join(f"# {secrets.token_urlsafe(48)}\n" for _ in range(400))
    with pytest.raises(ProvisionError, match=r"user-data is \d+ bytes gzip-compressed; EC2 accepts at most 16384"):
        userdata.render(inputs(), incompressible)


def test_a_boot_program_that_would_end_its_heredoc_is_refused() -> None:
    with pytest.raises(ProvisionError, match="WB_BOOT"):
        userdata.render(inputs(), "a = 1\nWB_BOOT\n")


def test_marker_values_must_be_one_word() -> None:
    with pytest.raises(ValueError, match="table"):
        userdata.render(inputs(table="two words"), BOOT)


def test_the_shipped_user_data_packs_to_under_half_of_ec2s_limit() -> None:
    script = userdata.render(inputs(), userdata.boot_program())
    packed = userdata.pack(script)
    assert packed[:2] == b"\x1f\x8b" and userdata.unpack(packed) == script
    assert len(packed) < userdata.MAX_BYTES // 2, f"{len(packed)} bytes packed: room to grow is running out"
    assert userdata.pack(script) == packed  # no timestamp: a retried launch sends the same bytes


def test_gzip_is_what_makes_it_fit() -> None:
    script = userdata.render(inputs(), userdata.boot_program() + "#" * 3000 + "\n")
    assert len(script.encode()) > userdata.MAX_BYTES >= len(userdata.pack(script))


def test_a_missing_boot_program_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match=r"no instance boot program .*boot.py") as caught:
        userdata.boot_program(tmp_path)
    assert "reinstall weatherballoon" in (caught.value.hint or "")
