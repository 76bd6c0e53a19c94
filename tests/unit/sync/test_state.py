"""The remote record of synced paths and where it lives."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from weatherballoon.remote.sync.state import (
    legacy_record_path,
    load_record,
    read_record,
    record_path,
    resolve_root,
    root_refusal,
    save_record,
)


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
    assert path.read_bytes() == "\0".join(["wb-sync-record 3", root, "", "", "a", "b", "ü/ñ"]).encode()
    save_record(root, set())
    assert load_record(root) == set()


def test_names_that_are_not_utf8_survive(agent_home: Path) -> None:
    name = os.fsdecode(b"caf\xe9.txt")  # latin-1 bytes: a lone surrogate in str
    save_record("/srv/proj", {name})
    assert load_record("/srv/proj") == {name}


def test_a_damaged_or_foreign_record_is_ignored(agent_home: Path) -> None:
    root = "/srv/proj"
    save_record(root, {"a"})
    Path(record_path(root)).write_text("{not a record")
    assert load_record(root) is None
    save_record("/elsewhere", {"a"})
    Path(record_path(root)).write_bytes(Path(record_path("/elsewhere")).read_bytes())
    assert load_record(root) is None


def test_a_record_of_an_older_agent_is_read_then_replaced(agent_home: Path) -> None:
    root = "/srv/proj"
    legacy = Path(legacy_record_path(root))
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"version": 1, "root": root, "paths": ["a", "b"]}))
    assert load_record(root) == {"a", "b"}
    legacy.write_text("{not json")
    assert load_record(root) is None
    legacy.write_text(json.dumps({"version": 1, "root": "/elsewhere", "paths": ["a"]}))
    assert load_record(root) is None
    save_record(root, {"c"})
    assert not legacy.exists()
    assert load_record(root) == {"c"}


@pytest.mark.parametrize(
    ("root", "why"),
    [
        ("/", "root of the filesystem"),
        ("{home}", "home folder"),
        ("{tmp}", "holds your home folder"),
        ("{tmp}/state", "state folder"),
        ("{tmp}/state/jobs", "state folder"),
    ],
)
def test_roots_that_would_mirror_over_what_is_not_the_projects_are_refused(
    agent_home: Path, root: str, why: str
) -> None:
    (agent_home / "home").mkdir()
    text = root.format(home=agent_home / "home", tmp=agent_home)
    refusal = root_refusal(resolve_root(text))
    assert refusal is not None and why in refusal


def test_a_project_folder_is_a_fine_root(agent_home: Path) -> None:
    (agent_home / "home").mkdir()
    assert root_refusal(resolve_root("~/wb/app-1234abcd")) is None
    assert root_refusal(resolve_root("/srv/data")) is None


def test_the_owner_and_label_are_kept_with_the_paths(agent_home: Path) -> None:
    save_record("/srv/proj", {"a"}, "0f" * 16, "ana@laptop:/src/proj")
    record = read_record("/srv/proj")
    assert record is not None
    assert (record.owner, record.label, record.paths) == ("0f" * 16, "ana@laptop:/src/proj", {"a"})
