"""Configuration: discovery, merge order, provenance and every error path (DESIGN §4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from weatherballoon.cli.config.loader import FILE_NAME, effective_values, load_config
from weatherballoon.cli.errors import ConfigError

# The original config format (DESIGN §4), kept byte for byte inside the repository so a user's clone tests it
# too; test_the_seed_fixture_is_the_shared_original holds it equal to ../shared's copy where that exists.
SEED = Path(__file__).resolve().parents[2] / "fixtures" / "seed-sample.weatherballoon.json"
SHARED_SEED = Path(__file__).resolve().parents[4] / "shared" / "seed-sample.weatherballoon.json"
SSH_MINIMAL = {"provisioner": {"kind": "ssh", "hosts": ["me@127.0.0.1:2222"]}}


def write(folder: Path, content: object) -> Path:
    path = folder / FILE_NAME
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return path


def problem(folder: Path, content: object, environ: dict[str, str] | None = None) -> ConfigError:
    write(folder, content)
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=folder, environ=environ or {})
    assert caught.value.exit_code == 2
    return caught.value


def test_the_seed_fixture_is_the_shared_original() -> None:
    if SHARED_SEED.exists():  # in a user's clone there is no ../shared: the fixture stands on its own
        assert SEED.read_bytes() == SHARED_SEED.read_bytes()
    assert SEED.read_bytes().startswith(b'{\n  "provisioner"')


def test_seed_sample_loads_unchanged_and_keeps_its_meaning(tmp_path: Path) -> None:
    shutil.copy(SEED, tmp_path / FILE_NAME)
    loaded = load_config(cwd=tmp_path, environ={})
    config = loaded.config
    assert config.version == 1
    assert config.provisioner.kind == "aws"
    assert config.provisioner.region == "us-west-2"
    assert config.provisioner.group1 == "sg_temp1"
    assert config.provisioner.key_pair == "id_gs_temp_2019-01"
    assert config.provisioner.os.ami == "ami-0e3e4660d8725dd31"
    assert config.provisioner.os.username == "ubuntu"
    assert config.provisioner.instance_type == "t2.medium"
    assert config.provisioner.cred is None
    assert config.provisioner.role_of_instance.endswith(":instance-profile/weatherballoon-ec2-accesses-s3all")
    assert config.tag == "Remoter"
    assert config.sync.adir_server == "/home/ubuntu/srchome"
    assert config.sync.dir_storage == "weatherballoon-test1"
    assert config.sync.file_excludes is None
    assert loaded.local_root == tmp_path.resolve()


def test_found_in_a_parent_folder(tmp_path: Path) -> None:
    write(tmp_path, SSH_MINIMAL)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    loaded = load_config(cwd=deep, environ={})
    assert loaded.path == tmp_path / FILE_NAME
    assert loaded.local_root == tmp_path.resolve()


def test_wb_config_overrides_discovery(tmp_path: Path) -> None:
    write(tmp_path, SSH_MINIMAL)
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps({"provisioner": {"kind": "ssh", "hosts": ["x@h:1"]}, "tag": "other"}))
    loaded = load_config(cwd=tmp_path, environ={"WB_CONFIG": str(other)})
    assert loaded.config.tag == "other"


def test_wb_config_pointing_nowhere_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WB_CONFIG points at"):
        load_config(cwd=tmp_path, environ={"WB_CONFIG": str(tmp_path / "missing.json")})


def test_no_file_anywhere_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path, environ={})
    assert "wb init" in (caught.value.hint or "")


def test_merge_order_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    write(tmp_path, {**SSH_MINIMAL, "provisioner": {**SSH_MINIMAL["provisioner"], "instanceType": "g5.2xlarge"}})
    loaded = load_config(
        cwd=tmp_path,
        environ={"WB_INSTANCE_TYPE": "g6.xlarge", "WB_LEASE_MINUTES": "0.5"},
        flags={"provisioner.instanceType": ("p5.48xlarge", "flag --instance-type")},
    )
    assert loaded.config.provisioner.instance_type == "p5.48xlarge"
    assert loaded.sources["provisioner.instanceType"] == "flag --instance-type"
    assert loaded.config.supervision.lease_minutes == 0.5
    assert loaded.sources["supervision.leaseMinutes"] == "env WB_LEASE_MINUTES"
    assert loaded.sources["provisioner.hosts"].startswith("file ")
    assert loaded.sources["supervision.idleMinutes"] == "default"
    values = effective_values(loaded)
    assert values["supervision.idleMinutes"] == 10.0


def test_unknown_key_names_it_its_position_and_the_closest_key(tmp_path: Path) -> None:
    error = problem(tmp_path, '{\n  "provisioner": {\n    "kind": "ssh",\n    "instnceType": "g5.xlarge"\n  }\n}')
    assert "provisioner.instnceType" in error.message
    assert "did you mean 'instanceType'" in error.message
    assert f"{tmp_path / FILE_NAME}:4:5" in error.message
    assert (error.line, error.column) == (4, 5)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    error = problem(tmp_path, {**SSH_MINIMAL, "supervison": {}})
    assert "did you mean 'supervision'" in error.message


def test_wrong_type_names_the_dotted_path_and_file(tmp_path: Path) -> None:
    error = problem(tmp_path, '{"provisioner": {"kind": "ssh",\n "spot": "maybe"}}')
    assert "provisioner.spot: expected true or false, got 'maybe'" in error.message
    assert f"{tmp_path / FILE_NAME}:2:2" in error.message


def test_nested_wrong_type(tmp_path: Path) -> None:
    error = problem(tmp_path, {**SSH_MINIMAL, "supervision": {"leaseMinutes": "soon"}})
    assert "supervision.leaseMinutes: expected a number" in error.message


def test_json_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    error = problem(tmp_path, '{\n  "provisioner": {"kind": "ssh",}\n}')
    assert (error.line, error.column) == (2, 33)
    assert f"{FILE_NAME}:2:33: invalid JSON" in error.message


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    error = problem(tmp_path, "[1, 2]")
    assert "top level must be a JSON object" in error.message


def test_missing_provisioner_is_required(tmp_path: Path) -> None:
    error = problem(tmp_path, {})
    assert "provisioner: is required" in error.message


def test_bad_host_entry(tmp_path: Path) -> None:
    error = problem(tmp_path, {"provisioner": {"kind": "ssh", "hosts": ["me@host:99999"]}})
    assert "provisioner.hosts" in error.message and "user@host:port" in error.message


def test_bad_enum_value(tmp_path: Path) -> None:
    error = problem(tmp_path, {"provisioner": {"kind": "ssh", "hostKeyPolicy": "yolo"}})
    assert "provisioner.hostKeyPolicy" in error.message


def test_unsupported_version(tmp_path: Path) -> None:
    error = problem(tmp_path, {**SSH_MINIMAL, "version": 2})
    assert "version" in error.message


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    write(tmp_path, SSH_MINIMAL)
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path, environ={"WB_SPOT": "perhaps"})
    assert "(from WB_SPOT)" in caught.value.message


def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, SSH_MINIMAL)
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(cwd=tmp_path, environ={})


def test_comments_are_allowed_and_positions_survive(tmp_path: Path) -> None:
    text = (
        '// top comment\n{\n  /* block\n  comment */ "provisioner": {"kind": "ssh", // url-like "http://x"\n'
        '  "bogus": 1}\n}'
    )
    error = problem(tmp_path, text)
    assert f"{FILE_NAME}:5:3" in error.message


def test_adir_local_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    write(tmp_path, {**SSH_MINIMAL, "sync": {"adirLocal": "src"}})
    assert load_config(cwd=tmp_path, environ={}).local_root == (tmp_path / "src").resolve()
