"""The pydantic schema and the plain records it produces stay in step; the cache skips pydantic when warm."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import types
import typing
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


def _as_record_spells(annotation: object) -> str:
    """A schema field's type as its record declares it: lists are tuples, a Literal its values' type,
    a nested schema its record."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return type(args[0]).__name__
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_as_record_spells(arg) for arg in args)
    if origin is list:
        return f"tuple[{_as_record_spells(args[0])}, ...]"
    if annotation is type(None):
        return "None"
    records = {validator: record for validator, record in PAIRS}
    found = records.get(annotation)  # type: ignore[call-overload]
    return found.__name__ if found is not None else getattr(annotation, "__name__", repr(annotation))


@pytest.mark.parametrize(("validator", "record"), PAIRS)
def test_types_agree(validator: type, record: type) -> None:
    for field in dataclasses.fields(record):
        assert _as_record_spells(validator.model_fields[field.name].annotation) == field.type, field.name


def test_the_file_spells_every_key_in_camel_case_and_nested_sections_become_records() -> None:
    assert schema.known_keys(schema.ProvisionerSchema)[:5] == ["kind", "region", "group1", "keyPair", "os"]
    assert "rootVolumeGb" in schema.known_keys(schema.ProvisionerSchema)
    dump = schema.WbConfigSchema.model_validate({"provisioner": {"kind": "ssh", "hosts": ["u@h:1"]}}).model_dump()
    config = model.WbConfig.from_dump(dump)
    assert config == model.WbConfig(provisioner=model.ProvisionerConfig(kind="ssh", hosts=("u@h:1",)))
    nested = {
        name: dict(PAIRS)[declared.annotation]
        for validator, _ in PAIRS
        for name, declared in validator.model_fields.items()
        if declared.annotation in dict(PAIRS)
    }
    assert nested == model.SECTIONS


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
