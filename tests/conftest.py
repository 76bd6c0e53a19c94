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
