"""The sandbox reads exactly what the aws provider renders (docs/aws.md): the login key and user, the root
setup it runs before the verbatim boot program, and the lease. No root needed."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import pytest
from weatherballoon.cli.providers.aws.userdata import BootInputs, boot_program, pack, render, root_setup_in
from weatherballoon.sandbox.userdata import decode, parse

BOOT = Path(__file__).resolve().parents[3] / "remote" / "boot.py"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfTm3hJ0m3Sg3QGUKk0SoVEdWZkE6x0o8bDpB3bQvYp wb-ephemeral"


def inputs(**changes: object) -> BootInputs:
    values: dict[str, object] = dict(
        username="wbsbx-0a1b2c", table="weatherballoon-SupervisionTable-X", bucket="weatherballoon-outputs-x",
        region="us-west-2", lease_minutes=0.2, idle_minutes=0.1, max_hours=24, renew_seconds=1.2, authorized_key=KEY,
    )  # fmt: skip
    values.update(changes)
    return BootInputs(**values)


def test_the_providers_user_data_is_read_in_full() -> None:
    found = parse(render(inputs(), boot_program()))
    assert found.authorized_key == KEY and found.user == "wbsbx-0a1b2c"
    assert found.boot_program == BOOT.read_text()
    assert found.lease_minutes == 0.2
    assert found.root_setup is not None and "wb-deadman.timer" in found.root_setup  # armed before boot.py
    assert found.root_setup == root_setup_in(render(inputs(), boot_program()))


def test_a_seed_key_pair_leaves_no_key_line() -> None:
    found = parse(render(inputs(authorized_key=None), boot_program()))
    assert found.authorized_key is None and found.user == "wbsbx-0a1b2c" and found.boot_program


@pytest.mark.parametrize("pack", [lambda b: b, gzip.compress, lambda b: pack(b.decode())], ids=["plain", "gzip", "wb"])
def test_describe_instance_attribute_values_decode(pack: object) -> None:
    text = render(inputs(), boot_program())
    raw = base64.b64encode(pack(text.encode())).decode()  # type: ignore[operator]
    assert decode(raw) == text
    assert decode(None) == ""


def test_a_foreign_user_data_has_nothing_the_sandbox_uses() -> None:
    found = parse("#!/bin/bash\necho hello\n# shutdown -h +5 (a comment)\n")
    assert (found.authorized_key, found.user, found.boot_program, found.root_setup) == (None, None, None, None)
