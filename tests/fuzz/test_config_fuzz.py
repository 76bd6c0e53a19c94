"""Generated config files, read by `wb config validate` and `wb config show` in process."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import examples
from tests.fuzz.harness import check, run_here, sandbox
from tests.fuzz.strategies import config_texts, near_valid_configs, path_text

READERS = st.sampled_from([["config", "validate"], ["config", "show", "--json"], ["config", "show"]])


@settings(max_examples=examples(500))
@given(content=config_texts(), command=READERS)
def test_config_files(content: str | bytes, command: list[str]) -> None:
    with sandbox(config=None) as box:
        box.write_config(content)
        before = box.snapshot()
        check(run_here(box, command), before=before, box=box)


@settings(max_examples=examples(500))
@given(document=near_valid_configs(), command=READERS)
def test_near_valid_configs(document: dict, command: list[str]) -> None:
    with sandbox(config=None) as box:
        box.write_config(json.dumps(document, allow_nan=True))
        before = box.snapshot()
        check(run_here(box, command), before=before, box=box)


@settings(max_examples=examples(200))
@given(path=path_text, key=st.sampled_from(["adirLocal", "identityFile", "knownHostsFile", "cred", "adirServer"]))
def test_path_values_in_the_config(path: str, key: str) -> None:
    with sandbox() as box:
        document = json.loads((box.project / ".weatherballoon.json").read_text())
        section = "sync" if key.startswith("adir") else "provisioner"
        document.setdefault(section, {})[key] = box.resolve(path)
        box.write_config(json.dumps(document))
        before = box.snapshot()
        check(run_here(box, ["config", "show", "--json"]), before=before, box=box)
