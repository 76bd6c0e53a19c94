"""Generated WB_* environments under the commands that read the config without connecting anywhere."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import examples
from tests.fuzz.harness import check, run_here, sandbox
from tests.fuzz.strategies import environments

COMMANDS = st.sampled_from([["config", "show", "--json"], ["config", "validate"], ["jobs"], ["logs", "nosuch"]])


@settings(max_examples=examples(400))
@given(env=environments(), command=COMMANDS, with_file=st.booleans())
def test_environments(env: dict[str, str], command: list[str], with_file: bool) -> None:
    with sandbox(config=None) if not with_file else sandbox() as box:
        box.env.update({name: box.resolve(value) for name, value in env.items()})
        before = box.snapshot()
        check(run_here(box, command), before=before, box=box)
