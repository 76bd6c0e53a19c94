"""Generated command lines: every command, its flags and their values in any order, with stray tokens.
The config's host is a loopback port where nothing listens, and AWS has no credentials: nothing leaves
the machine."""

from __future__ import annotations

from hypothesis import given, settings

from tests.fuzz.conftest import examples
from tests.fuzz.harness import check, run_here, sandbox
from tests.fuzz.strategies import cli_arguments


@settings(max_examples=examples(800))
@given(args=cli_arguments())
def test_command_lines(args: list[str]) -> None:
    with sandbox() as box:
        args = [box.resolve(arg) for arg in args]
        before = box.snapshot()
        check(run_here(box, args), before=before, box=box, may_write_config="init" in args)
