"""Program lookup with the job's PATH, as execvp does it."""

from __future__ import annotations

from pathlib import Path

import pytest
from weatherballoon.remote.jobs.spawn import NOT_FOUND_EXIT, StartError, find_program


def make(path: Path, mode: int) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


def test_a_name_with_a_slash_is_used_as_is() -> None:
    assert find_program("./tool", "/nowhere") == "./tool"
    assert find_program("/bin/sh", "") == "/bin/sh"


def test_the_first_executable_match_on_path_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    make(first / "tool", 0o644)
    winner = make(second / "tool", 0o755)
    assert find_program("tool", f"{tmp_path / 'missing'}:{first}:{second}") == str(winner)


def test_only_a_non_executable_match_is_returned_so_exec_fails_with_eacces(tmp_path: Path) -> None:
    plain = make(tmp_path / "tool", 0o644)
    assert find_program("tool", str(tmp_path)) == str(plain)


def test_directories_do_not_match(tmp_path: Path) -> None:
    (tmp_path / "tool").mkdir()
    with pytest.raises(StartError) as raised:
        find_program("tool", str(tmp_path))
    assert raised.value.exit_code == NOT_FOUND_EXIT


def test_not_found_is_127_and_never_falls_back_to_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    make(tmp_path / "tool", 0o755)
    with pytest.raises(StartError) as raised:
        find_program("tool", "/nonexistent")
    assert (raised.value.exit_code, raised.value.reason) == (NOT_FOUND_EXIT, "cannot run tool: command not found")
