"""The remembered warm machine (warm_cache) and the config identity it and the prefetch are keyed by."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from weatherballoon.cli.config.identity import config_identity, same_config
from weatherballoon.cli.providers.aws import warm_cache
from weatherballoon.cli.providers.records import SshTarget


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def entry(instance_id: str = "i-0abc", **changes: object) -> warm_cache.WarmEntry:
    fields: dict[str, object] = {
        "instance_id": instance_id,
        "target": SshTarget("10.0.0.5", 22, "ubuntu", "SHA256:abc"),
        "owner": "AIDAX",
        "instance_arn": f"arn:aws:ec2:us-west-2:123456789012:instance/{instance_id}",
        "instance_type": "g5.xlarge",
        "max_until": 2_000_000_000.0,
        "idle_until": 1_800_000_600.0,
        "lease_minutes": 5.0,
        "idle_minutes": 10.0,
        "renew_interval_s": 30.0,
    }
    fields.update(changes)
    return warm_cache.WarmEntry(**fields)  # type: ignore[arg-type]


def test_an_entry_comes_back_as_it_was_written_and_names_its_machine() -> None:
    warm_cache.remember("k1", entry())
    found = warm_cache.lookup("k1")
    assert found == entry()
    assert found is not None and found.instance().target.host_key_fingerprint == "SHA256:abc"
    assert (found.instance().id, found.instance().lease_until) == ("i-0abc", 1_800_000_600.0)
    assert warm_cache.lookup("k2") is None


def test_the_endpoint_a_machine_was_reached_through_is_remembered_and_older_notes_have_none(data_dir: Path) -> None:
    tunnel = {"id": "eice-0123456789abcdef0", "region": "us-west-2", "url": "wss://eice-0123.example"}
    warm_cache.remember("k1", entry(tunnel=tunnel))
    found = warm_cache.lookup("k1")
    assert found is not None and found.tunnel == tunnel
    import json

    written = json.loads((data_dir / "aws-warm.json").read_text())
    del written["k1"]["tunnel"]  # as a wb before this field wrote it
    (data_dir / "aws-warm.json").write_text(json.dumps(written))
    older = warm_cache.lookup("k1")
    assert older is not None and older.tunnel is None


def test_projects_may_remember_the_same_machine_and_forget_drops_every_note_of_it() -> None:
    warm_cache.remember("k1", entry())
    warm_cache.remember("k2", entry())  # the same machine, remembered by another project too
    warm_cache.remember("k3", entry("i-0def"))
    assert warm_cache.lookup("k1") is not None and warm_cache.lookup("k2") is not None
    warm_cache.forget("i-0abc")
    assert warm_cache.lookup("k1") is None and warm_cache.lookup("k2") is None
    assert warm_cache.lookup("k3") is not None
    warm_cache.forget("i-0abc")  # twice is fine


def test_the_file_keeps_the_latest_warm_windows() -> None:
    for index in range(warm_cache.MAX_ENTRIES + 5):
        warm_cache.remember(f"k{index}", entry(f"i-{index:04d}", idle_until=1_800_000_000.0 + index))
    assert warm_cache.lookup("k0") is None and warm_cache.lookup("k4") is None
    assert warm_cache.lookup("k5") is not None and warm_cache.lookup(f"k{warm_cache.MAX_ENTRIES + 4}") is not None


def test_a_damaged_cache_is_a_miss_not_an_error(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "aws-warm.json").write_text("{not json")
    assert warm_cache.lookup("k1") is None
    (data_dir / "aws-warm.json").write_text('{"k1": {"instance_id": "i-0abc"}}')
    assert warm_cache.lookup("k1") is None
    warm_cache.remember("k1", entry())  # and it heals on the next write
    assert warm_cache.lookup("k1") == entry()


def test_the_key_changes_with_anything_that_picks_the_account_region_or_spec(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    env = {"HOME": str(home), "AWS_PROFILE": "team"}
    base = warm_cache.cache_key("cfg|1", "spec", env)
    assert warm_cache.cache_key("cfg|1", "spec", dict(env)) == base
    assert warm_cache.cache_key("cfg|2", "spec", env) != base
    assert warm_cache.cache_key("cfg|1", "other", env) != base
    for name, value in [("AWS_PROFILE", "other"), ("AWS_REGION", "eu-west-1"), ("AWS_ENDPOINT_URL", "http://x")]:
        assert warm_cache.cache_key("cfg|1", "spec", {**env, name: value}) != base, name
    (home / ".aws" / "config").write_text("[default]\nregion = eu-west-1\n")
    assert warm_cache.cache_key("cfg|1", "spec", env) != base


def test_config_identity_follows_the_file_the_variables_and_without_a_file_the_folder(tmp_path: Path) -> None:
    config = tmp_path / ".weatherballoon.json"
    config.write_text("{}")
    first = config_identity(config, {}, tmp_path)
    assert first is not None and first.startswith(f"{config}|")
    assert config_identity(config, {"WB_INSTANCE_TYPE": "g5.2xlarge"}, tmp_path) != first
    assert config_identity(config, {"UNRELATED": "x"}, tmp_path) == first
    config.write_text('{"tag": "x"}')
    os.utime(config, ns=(1, 1))
    second = config_identity(config, {}, tmp_path)
    assert second != first and same_config(second) == same_config(first)

    assert config_identity(None, {}, tmp_path) is None
    from_env = config_identity(None, {"WB_KIND": "aws"}, tmp_path)
    assert from_env is not None and same_config(from_env) == f"env:{tmp_path}|"
    assert config_identity(None, {"WB_KIND": "aws"}, tmp_path / "other") != from_env
