"""Session-wide fixtures: a moto server over HTTP and a real OpenSSH sshd on loopback."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import moto_server, sshd
from tests.support.project import Project, make_project

# Under pytest-xdist (`.ci/test` runs `-n N --dist loadgroup`) each worker is a session of its own, so a
# session fixture is built once per worker that needs it. These are costly (a CDK synthesis, a stack deployed
# to moto, a whole sandbox): every test that uses one runs in one worker, which builds it once.
SHARED_FIXTURE_GROUPS = {"sandbox": "sandbox-session", "deployed_stack": "deployed-stack", "synthesis": "cdk-synth"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """An `xdist_group` for each test that must share a worker with others: those using a costly shared
    fixture (above), and those of a module with module-scoped fixtures (one module, one worker, one set-up).
    Every other test goes to whichever worker is free."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        fixtures = getattr(item, "_fixtureinfo", None)
        definitions = fixtures.name2fixturedefs if fixtures is not None else {}
        group = next((SHARED_FIXTURE_GROUPS[name] for name in item.fixturenames if name in SHARED_FIXTURE_GROUPS), None)
        if group is None and any(d.scope in ("module", "class", "package") for ds in definitions.values() for d in ds):
            group = f"module:{item.nodeid.split('::')[0]}"
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


OVERSPEND: list[tuple[str, float, str]] = []  # from the reports of tests/integration/remote_daemon


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        OVERSPEND.extend(tuple(value) for key, value in report.user_properties if key == "overspend")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if OVERSPEND:
        terminalreporter.write_sep("-", "agent dead-man switch: measured overspend")
        for case, seconds, measured in OVERSPEND:
            terminalreporter.write_line(f"{case:<28} {seconds:6.2f} s   {measured}")


@pytest.fixture(scope="session")
def moto_session_url() -> Iterator[str]:
    with moto_server.moto_server() as url:
        yield url


@pytest.fixture
def moto_endpoint(moto_session_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean moto server: state reset, and this process's AWS environment pointed at it."""
    moto_server.reset(moto_session_url)
    for key, value in moto_server.aws_env(moto_session_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield moto_session_url


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """wb's local state (job index, config cache, keys) of in-process calls stays in the test's temp dir."""
    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "wb-data"))


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real AWS endpoint: without a moto fixture, credentials are absent."""
    if "AWS_ENDPOINT_URL" not in os.environ:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def ssh_identity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The client's private key (ed25519, no passphrase); its .pub is authorized on every test host."""
    path = tmp_path_factory.mktemp("client-keys") / "id_ed25519"
    sshd.keygen(path)
    return path


@pytest.fixture(scope="session")
def ssh_user() -> Iterator[sshd.TestUser]:
    # Outside pytest's 0700 temp root, so the test user can reach its own home.
    parent = Path(tempfile.mkdtemp(prefix="wb-test-homes-"))
    user = sshd.TestUser.create(parent)
    yield user
    user.delete()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd_host(
    tmp_path_factory: pytest.TempPathFactory, ssh_user: sshd.TestUser, ssh_identity: Path
) -> Iterator[sshd.SshdHost]:
    """One sshd on 127.0.0.1 shared by the session; tests that break it use `fresh_sshd_host`."""
    host = sshd.SshdHost(tmp_path_factory.mktemp("sshd"), ssh_user, ssh_identity).start()
    yield host
    host.stop()


@pytest.fixture
def fresh_sshd_host(tmp_path: Path, ssh_user: sshd.TestUser, ssh_identity: Path) -> Iterator[sshd.SshdHost]:
    """An sshd of this test's own, free to be killed, restarted or given a new host key."""
    host = sshd.SshdHost(tmp_path / "sshd", ssh_user, ssh_identity).start()
    yield host
    host.stop()


@pytest.fixture
def project(tmp_path: Path, sshd_host: sshd.SshdHost) -> Iterator[Project]:
    """A git project whose .weatherballoon.json points at the session's sshd (ssh provider)."""
    made = make_project(tmp_path, sshd_host)
    yield made
    made.stop_keepers()


@pytest.fixture
def other_user() -> Iterator[sshd.TestUser]:
    """Another local user (tests/support/other_user.py runs code as them)."""
    parent = Path(tempfile.mkdtemp(prefix="wb-other-"))
    user = sshd.TestUser.create(parent)
    yield user
    user.delete()
    shutil.rmtree(parent, ignore_errors=True)
