"""Messages that once said the wrong thing (issue 9, "Misleading"): each now names what is really wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from weatherballoon.cli.main import run_cli

SSH = {"provisioner": {"kind": "ssh", "hosts": ["u@127.0.0.1:1"]}}


def wb(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def nested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A parent folder with a valid config, and the subfolder the command runs in."""
    (tmp_path / ".weatherballoon.json").write_text(json.dumps(SSH))
    child = tmp_path / "child"
    child.mkdir()
    monkeypatch.chdir(child)
    for name in ("WB_CONFIG", "WB_KIND"):
        monkeypatch.delenv(name, raising=False)
    return child


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.mkdir(), "is a folder, not a config file"),
        (lambda p: p.symlink_to(p.parent / "gone.json"), "which does not exist"),
        (lambda p: os.mkfifo(p), "is not a regular file"),
    ],
)
def test_a_config_name_that_is_no_file_is_named_not_skipped(
    nested: Path, capsys: pytest.CaptureFixture[str], make: object, says: str
) -> None:
    """It was reported missing, and the parent folder's config was then used silently."""
    make(nested / ".weatherballoon.json")  # type: ignore[operator]
    code, _, err = wb(capsys, "config", "show")
    assert code == 2
    assert f"{nested / '.weatherballoon.json'} " in err and says in err


@pytest.mark.parametrize(("target", "says"), [("dir", "is a folder"), ("dangling", "is a link to")])
def test_wb_config_pointing_at_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], target: str, says: str
) -> None:
    path = tmp_path / target
    path.mkdir() if target == "dir" else path.symlink_to(tmp_path / "nowhere")
    monkeypatch.setenv("WB_CONFIG", str(path))
    code, _, err = wb(capsys, "config", "validate")
    assert code == 2 and f"WB_CONFIG points at {path}, which {says}" in err


def test_init_with_a_bad_host_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It wrote the invalid file, then refused to overwrite it."""
    monkeypatch.chdir(tmp_path)
    code, _, err = wb(capsys, "init", "--host", "bad host")
    assert code == 2 and "--host 'bad host' is not of the form user@host:port" in err
    assert sorted(os.listdir(tmp_path)) == []
    code, _, err = wb(capsys, "init", "--host", "ubuntu@gpu-1:22")
    assert code == 0, err
    assert json.loads(
        "".join(line.split("//")[0] for line in (tmp_path / ".weatherballoon.json").read_text().splitlines())
    )


@pytest.mark.parametrize("data_dir", ["/dev/null/wb", "/proc/wb-data"])
def test_an_unusable_data_dir_is_a_clear_error(
    nested: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: str
) -> None:
    """It was an internal error."""
    monkeypatch.setenv("WB_DATA_DIR", data_dir)
    code, _, err = wb(capsys, "run", "--", "true")
    assert code == 2
    assert f"cannot use wb's data folder {data_dir} (from WB_DATA_DIR)" in err and "internal error" not in err
    code, _, err = wb(capsys, "logs", "some-job")
    assert code == 2 and "cannot use wb's data folder" in err
    code, _, _ = wb(capsys, "config", "validate")  # the config cache is only a cache
    assert code == 0


def test_a_read_only_data_dir_is_a_clear_error(nested: Path, tmp_path: Path) -> None:
    """A read-only mount (bound in a mount namespace of its own), where even root cannot write."""
    data = tmp_path / "ro-data"
    data.mkdir()
    script = (
        f"mount --bind -o ro {data} {data} && "
        f"WB_DATA_DIR={data} {sys.executable} -c 'from weatherballoon.cli.main import main; main()' run -- true"
    )
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=nested, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert f"cannot use wb's data folder {data} (from WB_DATA_DIR): not writable" in result.stderr


def test_the_config_cache_sees_a_same_size_file_copied_with_its_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keyed by path, mtime and size, the cache kept the old adirServer after a `cp -p`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WB_CONFIG", raising=False)
    config = tmp_path / ".weatherballoon.json"
    config.write_text(json.dumps({**SSH, "sync": {"adirServer": "~/wb/aaaa"}}))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**SSH, "sync": {"adirServer": "~/wb/bbbb"}}))
    stamp = config.stat().st_mtime_ns
    os.utime(other, ns=(stamp, stamp))
    assert wb(capsys, "config", "show", "--json")[0] == 0  # fills the cache
    subprocess.run(["cp", "-p", str(other), str(config)], check=True)
    assert (config.stat().st_mtime_ns, config.stat().st_size) == (stamp, other.stat().st_size)
    code, out, _ = wb(capsys, "config", "show", "--json")
    assert code == 0 and json.loads(out)["sync.adirServer"]["value"] == "~/wb/bbbb"


def test_max_cost_on_the_ssh_provider_is_refused(nested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It was silently ignored (issue 10)."""
    code, _, err = wb(capsys, "run", "--max-cost", "5", "--", "true")
    assert code == 2 and "--max-cost: the ssh provider cannot enforce a cost cap" in err
