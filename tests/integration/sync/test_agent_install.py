"""The agent's installed-check, folded into its first command: installs once, replays input, never misreads.

Most tests run `RemoteAgent` over a session whose commands run locally through `sh -c` with their own HOME
(the command lines are exactly those sent over SSH); the last one goes through a real sshd.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from weatherballoon.cli.errors import ConnectError
from weatherballoon.cli.providers.records import SshTarget
from weatherballoon.cli.session import agent as agent_module
from weatherballoon.cli.session.agent import MARK, RemoteAgent
from weatherballoon.cli.session.bundle import AgentBundle
from weatherballoon.cli.session.connection import ConnectOptions, SshSession
from weatherballoon.cli.sync.client import sync_up

from tests.support.sshd import SshdHost

from .trees import snapshot, write


class LocalExec:
    """A command run by `sh -c` here, shaped like `RemoteExec`."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            ["sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        assert self.popen.stdin and self.popen.stdout and self.popen.stderr
        self.stdin, self.stdout, self.stderr = self.popen.stdin, self.popen.stdout, self.popen.stderr
        self.channel = self.popen

    def wait(self) -> int:
        return self.popen.wait()

    def close(self) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            with contextlib.suppress(OSError):
                stream.close()
        self.popen.wait()


class LocalSession:
    """What `RemoteAgent` uses of an `SshSession`, with every command line recorded."""

    def __init__(self, home: Path, *, prelude: str = "") -> None:
        self.home = home
        self.prelude = prelude  # stands for a login shell's rc files
        self.commands: list[str] = []
        self.target = SshTarget(host="local", port=22, username="test")

    @property
    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}

    def exec(self, command: str) -> LocalExec:
        self.commands.append(command)
        return LocalExec(self.prelude + command, self.env)

    def run(self, command: str, *, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        proc = self.exec(command)
        out, err = proc.popen.communicate(stdin or b"")
        return proc.popen.returncode, out, err

    def installs(self) -> int:
        return sum("zipfile" in command for command in self.commands)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "machine-home"
    path.mkdir()
    return path


def make_agent(session: LocalSession, **kwargs: object) -> RemoteAgent:
    return RemoteAgent(session, **kwargs)  # type: ignore[arg-type]


def test_first_sync_installs_the_agent_and_replays_the_manifest(project: Path, home: Path) -> None:
    write(project, "a.py", "print(1)\n")
    write(project, "pkg/b.txt", "b\n" * 1000)
    session = LocalSession(home)
    agent = make_agent(session)
    summary = sync_up(agent, project, "~/wb/proj")
    assert summary.files_sent == 2
    assert snapshot(home / "wb/proj") == snapshot(project)
    assert session.installs() == 1
    assert len(session.commands) == 3  # the checked sync-scan (agent missing), the install, sync-scan again
    assert agent.installed

    again = LocalSession(home)  # a later connection: one exec, no install
    noop = sync_up(make_agent(again), project, "~/wb/proj")
    assert (noop.files_sent, noop.deleted, len(again.commands), again.installs()) == (0, 0, 1, 0)


def test_replay_past_the_limit_waits_for_the_check(project: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_module, "_REPLAY_LIMIT", 10)  # the manifest alone is past it
    write(project, "a.py", "print(1)\n")
    session = LocalSession(home)
    assert sync_up(make_agent(session), project, "~/wb/proj").files_sent == 1
    assert snapshot(home / "wb/proj") == snapshot(project)
    assert session.installs() == 1


def test_run_installs_once_and_strips_the_marker(home: Path) -> None:
    session = LocalSession(home)
    agent = make_agent(session)
    status, out, err = agent.run(["version"])
    assert (status, err) == (0, b"")
    assert out.startswith(b"weatherballoon-agent python 3.")
    assert session.installs() == 1

    later = LocalSession(home)
    status, out, err = make_agent(later).run(["version"])
    assert (status, err, len(later.commands)) == (0, b"", 1)


def test_shell_noise_before_the_marker_reaches_the_reader(home: Path) -> None:
    make_agent(LocalSession(home)).install()
    session = LocalSession(home, prelude="echo from-bashrc >&2; ")
    proc = make_agent(session)(["version"])
    proc.stdin.close()
    assert proc.stdout.read().startswith(b"weatherballoon-agent")
    assert proc.stderr.read() == b"from-bashrc\n"
    assert proc.wait() == 0
    status, _, err = make_agent(session).run(["version"])
    assert (status, err) == (0, b"from-bashrc\n")
    assert MARK not in err


def test_exit_197_from_a_running_agent_is_not_a_missing_agent(home: Path) -> None:
    """After the marker, 197 is the agent's own status (a job's, say): never a reason to install and rerun."""
    agent_py = b"import sys\n\ndef main(argv):\n    sys.stderr.write('ran\\n')\n    return 197\n"
    bundle = AgentBundle(
        entries=(
            ("__main__.py", b""),
            ("weatherballoon/__init__.py", b""),
            ("weatherballoon/remote/__init__.py", b""),
            ("weatherballoon/remote/agent.py", agent_py),
        )
    )
    make_agent(LocalSession(home), bundle=bundle).install()

    session = LocalSession(home)
    status, _, err = make_agent(session, bundle=bundle).run(["anything"])
    assert (status, err, len(session.commands)) == (197, b"ran\n", 1)

    session = LocalSession(home)
    proc = make_agent(session, bundle=bundle)(["anything"])
    assert proc.wait() == 197
    assert proc.stderr.read() == b"ran\n"
    assert len(session.commands) == 1


def test_a_missing_python_is_named(home: Path) -> None:
    agent = make_agent(LocalSession(home), python="python3-not-here")
    with pytest.raises(ConnectError, match="python3-not-here is not installed on the host"):
        agent.run(["version"])
    proc = make_agent(LocalSession(home), python="python3-not-here")(["version"])
    assert proc.stderr.read() == b""  # a stderr reader (a drain thread) just sees the end
    with pytest.raises(ConnectError, match="is not installed"):
        proc.stdout.read()
    with pytest.raises(ConnectError, match="is not installed"):
        make_agent(LocalSession(home), python="python3-not-here").ensure_installed()


OLD_PYTHONS = {"2.7": "2.7.18/bin/python2.7", "3.7": "3.7.16/bin/python3.7"}


@pytest.mark.parametrize("version", sorted(OLD_PYTHONS))
def test_a_python3_that_is_too_old_is_named_with_its_version(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """Python 2 installed as `python3` used to be reported as a full disk ("check free disk space")."""
    real = Path.home() / ".pyenv" / "versions" / OLD_PYTHONS[version]
    assert real.exists(), f"pyenv's python {version} is expected on this machine"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(real)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    for start in (lambda agent: agent.run(["version"]), lambda agent: agent(["version"]).stdout.read()):
        with pytest.raises(ConnectError) as caught:
            start(make_agent(LocalSession(home)))
        message = caught.value.render()
        assert f"python3 on the host is Python {version}; wb's agent needs Python 3.8 or newer" in message
        assert "disk" not in message
    assert not (home / ".weatherballoon" / "agent").exists()


class DamagedBundle(AgentBundle):
    """A bundle whose bytes were damaged on the way: not a zip at all."""

    @property
    def data(self) -> bytes:  # type: ignore[override]
        return b"not a zip"


def test_a_failed_install_says_why_and_leaves_no_temp_folder(home: Path) -> None:
    agent_dir = home / ".weatherballoon" / "agent"
    agent_dir.mkdir(parents=True)
    stale = agent_dir / ".tmp-died-long-ago"
    stale.mkdir()
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = agent_dir / ".tmp-another-install-now"
    fresh.mkdir()
    damaged = DamagedBundle(entries=(("__main__.py", b""),))
    with pytest.raises(ConnectError) as caught:
        make_agent(LocalSession(home), bundle=damaged).run(["version"])
    message = caught.value.render()
    assert "cannot install wb's agent" in message and "damaged" in message and "Traceback" not in message
    assert sorted(path.name for path in agent_dir.iterdir()) == [".tmp-another-install-now"]


def test_a_broken_leftover_agent_folder_is_replaced(home: Path) -> None:
    agent = make_agent(LocalSession(home))
    leftover = home / ".weatherballoon" / "agent" / agent.bundle.name
    leftover.mkdir(parents=True)
    (leftover / "half.py").write_text("")
    status, out, _ = agent.run(["version"])
    assert status == 0 and out.startswith(b"weatherballoon-agent")
    assert (leftover / "__main__.py").is_file() and not (leftover / "half.py").exists()


def test_a_read_only_home_is_named_with_what_to_do(tmp_path: Path) -> None:
    home = tmp_path / "read-only-home"
    home.mkdir()
    subprocess.run(["mount", "--bind", str(home), str(home)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(home)], check=True)
        with pytest.raises(ConnectError) as caught:
            make_agent(LocalSession(home)).run(["version"])
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)
    message = caught.value.render()
    assert "Read-only file system" in message and "read-only filesystem" in message
    assert "Traceback" not in message and "disk space" not in message
    assert caught.value.exit_code == 255


def test_ensure_installed_installs_for_callers_that_need_the_files(home: Path) -> None:
    session = LocalSession(home)
    agent = make_agent(session)
    agent.ensure_installed()
    assert (home / ".weatherballoon/agent" / agent.bundle.name / "__main__.py").is_file()
    status, out, _ = agent.run(["version"])
    assert status == 0 and out.startswith(b"weatherballoon-agent")
    assert session.commands[-1].startswith("exec ")  # known installed: no check any more
    assert session.installs() == 1


def test_fresh_machine_over_ssh(project: Path, sshd_host: SshdHost, ssh_identity: Path) -> None:
    shutil.rmtree(sshd_host.user.home / ".weatherballoon/agent", ignore_errors=True)
    target = SshTarget(host=sshd_host.address, port=sshd_host.port, username=sshd_host.user.name)
    options = ConnectOptions(known_hosts=sshd_host.known_hosts, identity_file=str(ssh_identity))
    remote_root = f"~/wb/install-{os.getpid()}-{project.parent.name}"
    write(project, "train.py", "print(1)\n" * 1000)
    with SshSession.open(target, options) as session:
        agent = RemoteAgent(session)
        assert sync_up(agent, project, remote_root).files_sent == 1
        assert agent.installed
    assert snapshot(sshd_host.user.home / remote_root[2:]) == snapshot(project)
    with SshSession.open(target, options) as session:
        status, out, err = RemoteAgent(session).run(["version"])
    assert (status, err) == (0, b"")
    assert out.startswith(b"weatherballoon-agent")


def test_the_first_command_nudges_the_server_while_it_waits_for_its_channel(home: Path) -> None:
    class Transport:
        ignores = 0

        def send_ignore(self) -> None:
            self.ignores += 1

    class SlowSession(LocalSession):
        transport = Transport()

        def exec(self, command: str) -> LocalExec:
            time.sleep(0.02)  # the channel's confirmation, held by the server
            return super().exec(command)

    session = SlowSession(home)
    agent = make_agent(session)
    assert agent.run(["version"])[0] == 0  # check, install, run: only the first waits with nudges
    assert 2 <= session.transport.ignores <= 5
    nudged = session.transport.ignores
    assert agent.run(["version"])[0] == 0
    assert session.transport.ignores == nudged
