"""A smaller sample through the real `wb` binary: what the console script, the real streams and argv
encoding add to the in-process runs; and connecting to a real sshd with hostile key and known_hosts files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import examples
from tests.fuzz.harness import check, run_binary, sandbox
from tests.fuzz.strategies import argv_text, cli_arguments, config_texts
from tests.support.sshd import SshdHost


@settings(max_examples=examples(40))
@given(args=cli_arguments())
def test_command_lines_through_the_binary(args: list[str]) -> None:
    with sandbox() as box:
        args = [box.resolve(arg) for arg in args]
        before = box.snapshot()
        check(run_binary(box, args), before=before, box=box, may_write_config="init" in args)


@settings(max_examples=examples(20))
@given(content=config_texts(), command=st.sampled_from([["config", "show", "--json"], ["config", "show"]]))
def test_config_files_through_the_binary(content: str | bytes, command: list[str]) -> None:
    with sandbox(config=None) as box:
        box.write_config(content)
        before = box.snapshot()
        check(run_binary(box, command), before=before, box=box)


# Files a user might point identityFile and knownHostsFile at. No system file wb could append to under
# accept-new (it would, as ssh would): only the sandbox's own, devices and paths that do not exist.
KEY_AND_HOSTS_PATHS = st.sampled_from(["{fifo}", "{dir}", "{dangling}", "{file}", "/dev/zero", "/dev/null",
                                       "/nonexistent/x", "~/.ssh/none", "relative-name", ""])  # fmt: skip


@st.composite
def known_hosts_texts(draw: st.DrawFn, real_line: str) -> str:
    name, key_type, blob = real_line.split()
    lines = [f"@cert-authority * {key_type} {blob}", f"@revoked * {key_type} {blob}", real_line, "garbage",
             f"{name} {key_type}", f"{name} {key_type} !!!", f"|1|x|y {key_type} {blob}", f"!{name} {key_type} {blob}",
             f"{name} ssh-rsa {blob}", "\x00\xff"]  # fmt: skip
    return "\n".join(draw(st.lists(st.one_of(st.sampled_from(lines), argv_text), max_size=6)))


@settings(max_examples=examples(25))
@given(data=st.data(), policy=st.sampled_from(["strict", "accept-new"]))
def test_connecting_with_hostile_key_and_host_files(sshd_host: SshdHost, data: st.DataObject, policy: str) -> None:
    real_line = sshd_host.known_hosts.read_text().strip()
    with sandbox(config=None) as box:
        if data.draw(st.booleans(), label="known_hosts is a file of drawn lines"):
            known = box.root / "known_hosts"
            known.write_text(data.draw(known_hosts_texts(real_line), label="known_hosts lines"), errors="surrogatepass")
            known_text = str(known)
        else:
            known_text = box.resolve(data.draw(KEY_AND_HOSTS_PATHS, label="known_hosts path"))
        identity = box.resolve(data.draw(st.one_of(st.just(str(sshd_host.identity)), KEY_AND_HOSTS_PATHS)))
        config = {"provisioner": {"kind": "ssh", "hosts": [sshd_host.spec], "identityFile": identity,
                                  "knownHostsFile": known_text, "hostKeyPolicy": policy}}  # fmt: skip
        box.write_config(json.dumps(config))
        before = box.snapshot()
        outcome = run_binary(box, ["ssh", sshd_host.spec, "--", "true"])
        if policy == "accept-new" and known_text:  # that file (through a link, too) is wb's to append to, as ssh's
            path = Path(known_text).expanduser()
            path = path if path.is_absolute() else box.project / path
            after = box.snapshot()
            for written in {path, Path(os.path.realpath(path))}:
                rel = os.path.relpath(written, box.root)
                if rel in after:
                    before[rel] = after[rel]
        check(outcome, before=before, box=box)
