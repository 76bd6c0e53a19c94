"""The pydantic schema and the plain records it produces stay in step; the cache skips pydantic when warm."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from weatherballoon.cli.config import model, schema
from weatherballoon.cli.config.loader import FILE_NAME, load_config

PAIRS = [
    (schema.OsSchema, model.OsConfig),
    (schema.ProvisionerSchema, model.ProvisionerConfig),
    (schema.SyncSchema, model.SyncConfig),
    (schema.SupervisionSchema, model.SupervisionConfig),
    (schema.WbConfigSchema, model.WbConfig),
]


@pytest.mark.parametrize(("validator", "record"), PAIRS)
def test_records_have_exactly_the_schema_fields(validator: type, record: type) -> None:
    assert set(validator.model_fields) == {field.name for field in dataclasses.fields(record)}


@pytest.mark.parametrize(("validator", "record"), PAIRS)
def test_defaults_agree(validator: type, record: type) -> None:
    for field in dataclasses.fields(record):
        declared = validator.model_fields[field.name]
        if declared.is_required():
            continue
        schema_default = declared.get_default(call_default_factory=True)
        if dataclasses.is_dataclass(schema_default) or hasattr(schema_default, "model_dump"):
            continue
        record_default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        expected = tuple(schema_default) if isinstance(schema_default, list) else schema_default
        assert record_default == expected, field.name


def _write(folder: Path, content: dict) -> Path:
    path = folder / FILE_NAME
    path.write_text(json.dumps(content))
    return path


def test_cache_hit_gives_the_same_config_and_misses_on_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "data"))
    path = _write(tmp_path, {"provisioner": {"kind": "ssh", "hosts": ["u@h:1"]}, "tag": "one"})
    first = load_config(cwd=tmp_path, environ={})
    second = load_config(cwd=tmp_path, environ={})
    assert first == second
    assert second.config.tag == "one"
    path.write_text(json.dumps({"provisioner": {"kind": "ssh", "hosts": ["u@h:1"]}, "tag": "twenty-two"}))
    assert load_config(cwd=tmp_path, environ={}).config.tag == "twenty-two"
    assert load_config(cwd=tmp_path, environ={"WB_TAG": "env"}).config.tag == "env"


def test_a_cached_config_loads_without_importing_pydantic(tmp_path: Path) -> None:
    _write(tmp_path, {"provisioner": {"kind": "ssh", "hosts": ["u@h:1"]}})
    code = (
        "import sys\n"
        "from weatherballoon.cli.config.loader import load_config\n"
        "loaded = load_config()\n"
        "print(loaded.config.provisioner.hosts, 'pydantic' in sys.modules)\n"
    )
    env = {"WB_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    assert runs[0].stdout.strip() == "('u@h:1',) True"
    assert runs[1].stdout.strip() == "('u@h:1',) False"


def test_invalid_config_is_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from weatherballoon.cli.errors import ConfigError

    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "data"))
    _write(tmp_path, {"provisioner": {"kind": "ssh", "bogus": 1}})
    for _ in range(2):
        with pytest.raises(ConfigError, match="unknown key 'bogus'"):
            load_config(cwd=tmp_path, environ={})
