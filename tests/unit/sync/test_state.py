"""The remote record of synced paths and where it lives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from weatherballoon.remote.sync_state import load_record, record_path, resolve_root, save_record


@pytest.fixture
def agent_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WB_AGENT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_roots_expand_tilde_and_relative_paths_against_home(agent_home: Path) -> None:
    (agent_home / "home").mkdir()
    assert resolve_root("~/wb/proj") == str(agent_home / "home" / "wb" / "proj")
    assert resolve_root("wb/proj") == str(agent_home / "home" / "wb" / "proj")
    assert resolve_root("/srv/x/../y") == "/srv/y"


def test_record_round_trip_lives_under_the_state_home(agent_home: Path) -> None:
    root = "/srv/proj"
    assert load_record(root) is None
    save_record(root, {"b", "a", "ü/ñ"})
    assert load_record(root) == {"a", "b", "ü/ñ"}
    path = Path(record_path(root))
    assert path.parent == agent_home / "state" / "sync"
    assert json.loads(path.read_text())["paths"] == ["a", "b", "ü/ñ"]


def test_a_damaged_or_foreign_record_is_ignored(agent_home: Path) -> None:
    root = "/srv/proj"
    save_record(root, {"a"})
    Path(record_path(root)).write_text("{not json")
    assert load_record(root) is None
    Path(record_path(root)).write_text(json.dumps({"root": "/elsewhere", "paths": ["a"]}))
    assert load_record(root) is None
