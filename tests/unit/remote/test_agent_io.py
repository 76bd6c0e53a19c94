"""The one argv parser of every agent command (remote/agent_io.py)."""

from __future__ import annotations

import pytest
from weatherballoon.remote.agent_io import UsageError, operands, split_args


def test_split_args_forms() -> None:
    options, positionals, command = split_args(
        ["--a", "1", "pos", "--b=2", "--flag", "--env", "X=1", "--env=Y=2", "--", "cmd", "--a", "--"],
        flags=("flag",),
        valued=("a", "b"),
        repeated=("env",),
    )
    assert options == {"a": "1", "b": "2", "flag": True, "env": ["X=1", "Y=2"]}
    assert positionals == ["pos"]
    assert command == ["cmd", "--a", "--"]


def test_split_args_without_double_dash_has_no_command() -> None:
    assert split_args(["x"]) == ({}, ["x"], None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nope"], "unknown option --nope"),
        (["--a"], "--a needs a value"),
        (["--flag=1"], "--flag takes no value"),
    ],
)
def test_split_args_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        split_args(argv, flags=("flag",), valued=("a",))


def test_operands_take_a_double_dash_as_the_end_of_options() -> None:
    assert operands(["--x", "--", "--root"], ("ROOT",), flags=("x",)) == ({"x": True}, ["--root"])


def test_a_variadic_last_operand_takes_one_or_more() -> None:
    assert operands(["r", "--", "--a*", "b"], ("ROOT", "GLOB..."), variadic=True) == ({}, ["r", "--a*", "b"])
    with pytest.raises(UsageError, match=r"expected ROOT GLOB\.\.\."):
        operands(["r"], ("ROOT", "GLOB..."), variadic=True)


@pytest.mark.parametrize("argv", [[], ["a", "b"], ["--", "a", "b"]])
def test_operands_count_exactly(argv: list[str]) -> None:
    with pytest.raises(UsageError, match="expected ROOT"):
        operands(argv, ("ROOT",))
