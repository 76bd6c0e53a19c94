"""Supervision numbers in the file or the WB_* variables: nan, inf and values past their bound are refused
with the key, where it came from and the allowed range (exit 2), never accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from weatherballoon.cli.config.loader import load_config
from weatherballoon.cli.errors import ConfigError

SSH = {"provisioner": {"kind": "ssh", "hosts": ["u@h:22"]}}


def write(tmp_path: Path, text: str) -> None:
    (tmp_path / ".weatherballoon.json").write_text(text)


@pytest.mark.parametrize(
    ("key", "literal"),
    [("idleMinutes", "Infinity"), ("leaseMinutes", "NaN"), ("maxHours", "1e400"), ("maxCostUsd", "-Infinity"),
     ("leaseMinutes", "1441"), ("maxHours", "8761"), ("idleMinutes", "-1"), ("maxCostUsd", "0")],
)  # fmt: skip
def test_file_values_out_of_range_are_refused(tmp_path: Path, key: str, literal: str) -> None:
    # written by hand: json.dumps cannot write NaN or 1e400 as a user can
    write(
        tmp_path,
        '{"provisioner": {"kind": "ssh", "hosts": ["u@h:22"]}, "supervision": {"' + key + '": ' + literal + "}}",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path, environ={}, use_cache=False)
    message = caught.value.message
    assert f"supervision.{key}:" in message and "it must be" in message
    assert ".weatherballoon.json:1:" in message  # where it is
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("var", "value"),
    [("WB_IDLE_MINUTES", "inf"), ("WB_LEASE_MINUTES", "nan"), ("WB_MAX_HOURS", "1e400"), ("WB_MAX_COST_USD", "nan"),
     ("WB_LEASE_MINUTES", "9" * 5000)],
)  # fmt: skip
def test_env_values_out_of_range_name_the_variable(tmp_path: Path, var: str, value: str) -> None:
    write(tmp_path, json.dumps(SSH))
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path, environ={var: value}, use_cache=False)
    assert f"(from {var})" in caught.value.message and "it must be" in caught.value.message


def test_values_in_range_load(tmp_path: Path) -> None:
    write(tmp_path, json.dumps({**SSH, "supervision": {"leaseMinutes": 0.03, "idleMinutes": 0, "maxHours": 8760,
                                                       "maxCostUsd": 12.5}}))  # fmt: skip
    supervision = load_config(cwd=tmp_path, environ={}, use_cache=False).config.supervision
    assert (supervision.lease_minutes, supervision.idle_minutes, supervision.max_hours) == (0.03, 0.0, 8760.0)
    assert supervision.max_cost_usd == 12.5
