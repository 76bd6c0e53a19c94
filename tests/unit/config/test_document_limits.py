"""Hostile config documents: each once crashed wb; each is now a ConfigError (exit 2) that says what is wrong
and where (issue 9 item 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from weatherballoon.cli.config.loader import load_config
from weatherballoon.cli.errors import ConfigError
from weatherballoon.cli.main import run_cli

HOSTS = '"provisioner": {"kind": "ssh", "hosts": ["u@h:22"]}'


def problem(tmp_path: Path, text: str | bytes) -> ConfigError:
    path = tmp_path / ".weatherballoon.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path, environ={}, use_cache=False)
    assert caught.value.exit_code == 2
    return caught.value


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deep_nesting(tmp_path: Path, depth: int) -> None:
    error = problem(tmp_path, "{" + HOSTS + ', "tag": ' + "[" * depth + "]" * depth + "}")
    assert "nested more than 32 levels deep" in error.message
    assert error.line == 1 and error.column is not None


def test_an_integer_past_pythons_digit_limit(tmp_path: Path) -> None:
    error = problem(tmp_path, "{" + HOSTS + ',\n  "sync": {"outputs": ' + "7" * 5000 + "}}")
    assert "an integer of more than 4300 digits" in error.message
    assert (error.line, error.column) == (2, 23)


def test_long_fractions_and_exponents_are_plain_numbers(tmp_path: Path) -> None:
    error = problem(
        tmp_path, "{" + HOSTS + ', "supervision": {"leaseMinutes": 1.' + "0" * 5000 + "e" + "0" * 5000 + "400}}"
    )
    assert "supervision.leaseMinutes" in error.message  # the schema's range message, not a parse failure


@pytest.mark.parametrize(
    ("document", "key", "what"),
    [
        ("{" + HOSTS + ', "sync": {"adirServer": "a\\u0000b"}}', "sync.adirServer", "NUL character"),
        ("{" + HOSTS + ', "sync": {"outputs": ["x", "\\u0000"]}}', "sync.outputs.1", "NUL character"),
        ("{" + HOSTS + ', "tag": "\\ud800"}', "tag", "lone surrogate ('\\ud800')"),
        ("{" + HOSTS + ', "t\\udfffg": 1}', "t\\udfffg", "key contains a lone surrogate"),
    ],
)  # fmt: skip
def test_nul_and_lone_surrogates(tmp_path: Path, document: str, key: str, what: str) -> None:
    error = problem(tmp_path, document)
    assert error.key == key and what in error.message
    assert error.line == 1 and error.column is not None


def test_not_utf8_points_at_the_byte(tmp_path: Path) -> None:
    error = problem(tmp_path, ("{" + HOSTS + ',\n "tag": "caf').encode() + b'\xe9"}')
    assert "not UTF-8 text" in error.message and (error.line, error.column) == (2, 13)


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    error = problem(tmp_path, "{" + HOSTS + ', "tag": "' + "x" * (2 * 1024 * 1024) + '"}')
    assert "larger than 1024 KiB" in error.message


@pytest.mark.parametrize("pattern", ["\\", "!", "logs\\"])
def test_exclude_patterns_the_sync_cannot_use_fail_at_parse(tmp_path: Path, pattern: str) -> None:
    error = problem(tmp_path, json.dumps({"provisioner": {"kind": "ssh", "hosts": ["u@h:22"]},
                                          "sync": {"fileExcludes": ["ok/**", pattern]}}))  # fmt: skip
    assert f"sync.fileExcludes: {pattern!r} is not a valid gitignore-style pattern" in error.message


@pytest.mark.parametrize(
    ("glob", "why"),
    [("../*", "'..' segment"), ("out/../../x", "'..' segment"), ("/etc/*", "absolute path"), ("~/x", "starts with ~")],
)
def test_output_globs_outside_the_root_fail_at_parse(tmp_path: Path, glob: str, why: str) -> None:
    error = problem(tmp_path, json.dumps({"provisioner": {"kind": "ssh", "hosts": ["u@h:22"]},
                                          "sync": {"outputs": ["out/**", glob]}}))  # fmt: skip
    assert f"sync.outputs: the output glob {glob!r}" in error.message and why in error.message


def test_output_globs_from_the_environment_too(tmp_path: Path) -> None:
    (tmp_path / ".weatherballoon.json").write_text(json.dumps({"provisioner": {"kind": "ssh", "hosts": ["u@h:22"]}}))
    with pytest.raises(ConfigError, match=r"'\.\./\*' has a '\.\.' segment.*\(from WB_OUTPUTS\)"):
        load_config(cwd=tmp_path, environ={"WB_OUTPUTS": "ok,../*"}, use_cache=False)


@pytest.mark.parametrize(
    ("args", "says"),
    [(["run", "-o", "../*", "--", "true"], "'../*' has a '..' segment"),
     (["run", "-o", "/etc/*", "--", "true"], "'/etc/*' is an absolute path"),
     (["pull", "JOB", "-o", "~/x"], "'~/x' starts with ~")],
)  # fmt: skip
def test_output_glob_flags_outside_the_root(capsys: pytest.CaptureFixture[str], args: list[str], says: str) -> None:
    assert run_cli(args) == 2
    assert says in capsys.readouterr().err
