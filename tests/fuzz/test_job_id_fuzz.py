"""Generated job ids and globs against a local index of a few jobs (their machine refuses connections)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import examples
from tests.fuzz.harness import CLOSED_HOST, check, run_here, sandbox
from tests.fuzz.strategies import globs, job_ids, path_text

KNOWN = ["20260101-000000-abcdef", "20260101-000001-abcdef", "job-1", "job-10"]


def _record(job_id: str) -> str:
    user, rest = CLOSED_HOST.split("@")
    host, port = rest.rsplit(":", 1)
    return json.dumps({
        "id": job_id, "provider": "ssh", "instance_id": CLOSED_HOST,
        "target": {"host": host, "port": int(port), "username": user, "host_key_fingerprint": None},
        "remote_root": "~/wb/p", "command": ["true"], "outputs": ["out/**"], "local_root": "", "started_at": 1.0,
    })  # fmt: skip


@settings(max_examples=examples(300))
@given(
    job_id=job_ids,
    command=st.sampled_from([["logs"], ["logs", "-f"], ["pull"]]),
    extra=st.lists(st.one_of(st.tuples(st.just("-o"), globs), st.tuples(st.just("--to"), path_text)), max_size=2),
)
def test_job_ids(job_id: str, command: list[str], extra: list[tuple[str, str]]) -> None:
    with sandbox() as box:
        jobs = box.data / "jobs"
        jobs.mkdir(mode=0o700)
        for known in KNOWN:
            (jobs / f"{known}.json").write_text(_record(known))
        args = [*command, job_id]
        if command[0] == "pull":
            args += [box.resolve(token) for pair in extra for token in pair]
        before = box.snapshot()
        check(run_here(box, args), before=before, box=box)
