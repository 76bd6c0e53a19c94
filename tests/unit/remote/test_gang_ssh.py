"""The machines' side of `--gang-ssh` (remote/jobs/gang_ssh.py), on real files in a temporary home: the
other ranks' authorized_keys line (restricted to rank 0's address, tagged with the job, gone when the job
ends, the user's own lines and the file's mode kept), and rank 0's key, known_hosts, ssh_config and
environment, gone when the job ends."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from weatherballoon.remote import procinfo
from weatherballoon.remote.jobs.gang_ssh import GangSsh, close_for_job, open_for_job, take_from
from weatherballoon.remote.jobs.store import JobPaths

PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIvfxSnpR8+8JGEbEVaSIvjVCNck8H5kF80744ZJk9TO"
OWN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0ownkeyownkeyownkeyownkeyownkeyownkeyownkeyo me@laptop"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WB_AGENT_HOME", raising=False)
    ssh = tmp_path / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "authorized_keys").write_text(OWN + "\n")
    (ssh / "authorized_keys").chmod(0o600)
    return tmp_path


def job_dir(home: Path, job_id: str) -> str:
    path = JobPaths(job_id)
    os.makedirs(path.dir, 0o700)
    assert path.dir.startswith(str(home))
    return path.dir


def member_ssh() -> GangSsh:
    return GangSsh("", PUBLIC, "10.7.0.4", "")


def keys(home: Path) -> list[str]:
    return (home / ".ssh" / "authorized_keys").read_text().splitlines()


def test_a_member_adds_one_restricted_tagged_line_and_takes_it_out_when_the_job_ends(home: Path) -> None:
    folder = job_dir(home, "job-a")
    env: dict[str, str] = {}
    open_for_job(member_ssh(), 1, "job-a", folder, env)
    assert keys(home) == [OWN, f'restrict,from="10.7.0.4" {PUBLIC} wb-gang-job-a']
    assert env == {}  # a member's job gets nothing: it starts no process over ssh
    assert stat.S_IMODE((home / ".ssh" / "authorized_keys").stat().st_mode) == 0o600
    close_for_job(1, "job-a", folder)
    assert keys(home) == [OWN]
    assert sorted(os.listdir(home / ".ssh")) == ["authorized_keys"]  # no lock or temporary file left
    close_for_job(1, "job-a", folder)  # idempotent
    assert keys(home) == [OWN]


def test_a_line_left_by_an_ended_vanished_or_killed_job_goes_when_the_next_gang_job_adds_its_own(home: Path) -> None:
    jobs = ("ended", "killed", "running", "starting", "vanished")
    for job in jobs[:4]:
        job_dir(home, job)
    Path(JobPaths("ended").status).write_text("{}")
    # past the largest pid_max Linux allows (2**22): no such processes
    gone = {"pid": 2**22 + 1, "proc_start": 1, "supervisor_pid": 2**22 + 2, "supervisor_start": 1}
    Path(JobPaths("killed").meta).write_text(json.dumps(gone))
    me = {"pid": None, "supervisor_pid": os.getpid(), "supervisor_start": procinfo.proc_start(os.getpid())}
    Path(JobPaths("running").meta).write_text(json.dumps(me))  # "starting" has no meta yet: it is kept
    leftovers = {job: f'restrict,from="10.7.0.4" {PUBLIC} wb-gang-{job}' for job in jobs}
    (home / ".ssh" / "authorized_keys").write_text("\n".join([OWN, *leftovers.values()]) + "\n")
    open_for_job(member_ssh(), 2, "new", job_dir(home, "new"), {})
    expected = [OWN, leftovers["running"], leftovers["starting"], f'restrict,from="10.7.0.4" {PUBLIC} wb-gang-new']
    assert keys(home) == expected


def test_rank_0_gets_the_key_known_hosts_and_an_ssh_config_for_open_mpi_all_gone_when_the_job_ends(home: Path) -> None:
    folder = job_dir(home, "job-0")
    private = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"
    known = f"10.7.0.5 {PUBLIC}\n10.7.0.6 {PUBLIC}\n"
    env: dict[str, str] = {}
    open_for_job(GangSsh(private, "", "", known), 0, "job-0", folder, env)
    config = Path(folder) / "gang-ssh" / "ssh_config"
    assert env == {
        "WB_GANG_SSH_CONFIG": str(config),
        "OMPI_MCA_plm_rsh_agent": f"ssh -F {config}",
        "OMPI_MCA_plm_rsh_no_tree_spawn": "1",
    }
    key, known_file = config.with_name("id_ed25519"), config.with_name("known_hosts")
    assert key.read_text() == private + "\n" and known_file.read_text() == known
    for path in (key, known_file, config):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = config.read_text()
    for line in (f"IdentityFile {key}", f"UserKnownHostsFile {known_file}", "StrictHostKeyChecking yes",
                 "BatchMode yes", "IdentitiesOnly yes"):  # fmt: skip
        assert f"    {line}\n" in text
    assert keys(home) == [OWN]  # rank 0 is logged into, never logs in to itself
    close_for_job(0, "job-0", folder)
    assert not config.parent.exists()


def test_the_values_leave_the_jobs_environment_and_a_bad_public_key_is_refused() -> None:
    env = {"WB_GANG_SSH_PUB": PUBLIC, "WB_GANG_SSH_FROM": "10.7.0.4", "KEEP": "1"}
    found = take_from(env)
    assert found is not None and (found.public, found.allow_from) == (PUBLIC, "10.7.0.4")
    assert env == {"KEEP": "1"}
    assert take_from({"KEEP": "1"}) is None
    with pytest.raises(ValueError, match="WB_GANG_SSH_PUB"):
        take_from({"WB_GANG_SSH_PUB": PUBLIC + '\ncommand="sh" ' + PUBLIC, "WB_GANG_SSH_FROM": "10.7.0.4"})
    with pytest.raises(ValueError, match="WB_GANG_SSH_FROM"):
        take_from({"WB_GANG_SSH_PUB": PUBLIC, "WB_GANG_SSH_FROM": '10.7.0.4",command="sh'})


def test_a_rank_without_its_half_of_the_key_is_refused(home: Path) -> None:
    with pytest.raises(ValueError, match="WB_GANG_SSH_PUB"):
        open_for_job(GangSsh("PRIVATE", "", "", ""), 1, "job-b", job_dir(home, "job-b"), {})
    with pytest.raises(ValueError, match="WB_GANG_SSH_KEY"):
        open_for_job(GangSsh("", PUBLIC, "10.7.0.4", ""), 0, "job-c", job_dir(home, "job-c"), {})
    assert keys(home) == [OWN]
