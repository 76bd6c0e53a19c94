"""Find, read, merge and validate the configuration, remembering where every value came from."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import cache
from . import document_checks as checks
from .discovery import FILE_NAME, find_config_file
from .env import env_overrides
from .model import LoadedConfig, WbConfig
from .positions import key_positions, line_col, strip_comments

__all__ = ["FILE_NAME", "LoadedConfig", "effective_values", "find_config_file", "load_config", "read_document"]


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(checks.MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path), hint="check the file's permissions") from exc
    if len(data) > checks.MAX_BYTES:
        raise ConfigError(
            f"larger than {checks.MAX_BYTES // 1024} KiB; a config file is a few hundred bytes",
            path=str(path),
            hint="check that this is the file you meant (WB_CONFIG, or .weatherballoon.json in this folder or above)",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", "replace")
        line, column = line_col(before, len(before))
        raise ConfigError(
            "not UTF-8 text", path=str(path), line=line, column=column, hint="save the file as UTF-8"
        ) from exc


def _parse(path: Path, text: str) -> Any:
    def located(message: str, offset: int | None, hint: str) -> ConfigError:
        line, column = line_col(text, offset) if offset is not None else (None, None)
        return ConfigError(message, path=str(path), line=line, column=column, hint=hint)

    deep = checks.too_deep_offset(text)
    if deep is not None:
        raise located(
            f"nested more than {checks.MAX_DEPTH} levels deep",
            deep,
            "the schema is three levels deep; see docs/config.md",
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON: {exc.msg}",
            path=str(path),
            line=exc.lineno,
            column=exc.colno,
            hint="fix the syntax at that position; `wb config validate` checks it again",
        ) from exc
    except ValueError:  # the only other one: an integer literal past Python's digit limit
        raise located(
            f"an integer of more than {checks.MAX_INT_DIGITS} digits",
            checks.long_integer_offset(text),
            "no setting takes a number that long; fix the value",
        ) from None


def read_document(path: Path) -> tuple[dict[str, Any], str]:
    """The file's JSON object and its comment-stripped text (for key positions)."""
    text = strip_comments(_read_text(path))
    document = _parse(path, text)
    if not isinstance(document, dict):
        raise ConfigError(
            f"the top level must be a JSON object, not {type(document).__name__}",
            path=str(path),
            line=1,
            column=1,
            hint='start from: {"provisioner": {"kind": "ssh", "hosts": ["user@host:22"]}}',
        )
    bad = checks.bad_string(document)
    if bad is not None:
        key_path, problem = bad
        position = key_positions(text).get(key_path)
        raise ConfigError(
            problem,
            path=str(path),
            key=".".join(key_path).encode("utf-8", "backslashreplace").decode() or None,
            line=position[0] if position else None,
            column=position[1] if position else None,
            hint="remove the character from the file",
        )
    return document, text


def _set_dotted(document: dict[str, Any], key: str, value: object) -> None:
    parts = key.split(".")
    node = document
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _leaves(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        found: dict[str, object] = {}
        for key, child in value.items():
            found.update(_leaves(child, f"{prefix}.{key}" if prefix else str(key)))
        return found
    return {prefix: value}


def load_config(
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
    require_file: bool = True,
    use_cache: bool = True,
) -> LoadedConfig:
    """Merge CLI flags over WB_* variables over the file over defaults, then validate (or reuse a validation)."""
    cwd = (cwd or Path.cwd()).resolve()
    environ = os.environ if environ is None else environ
    path = find_config_file(cwd, environ)
    if path is None and require_file and "WB_KIND" not in environ:
        raise ConfigError(
            f"no {FILE_NAME} in {cwd} or any folder above it",
            hint="create one with `wb init`, or point WB_CONFIG at one",
        )
    overrides = dict(env_overrides(environ))
    overrides.update({key: (value, label) for key, (value, label) in _flag_items(flags or {})})
    key = cache.cache_key(path, overrides, cwd) if use_cache else None
    if key is not None:
        hit = cache.read(key)
        if hit is not None:
            return hit
    loaded, dump = _validate(path, overrides, cwd)
    if key is not None:
        cache.write(key, loaded, dump)
    return loaded


def _validate(
    path: Path | None, overrides: dict[str, tuple[object, str]], cwd: Path
) -> tuple[LoadedConfig, dict[str, Any]]:
    from pydantic import ValidationError

    from .problems import describe_problems
    from .schema import WbConfigSchema

    document: dict[str, Any] = {}
    text = ""
    if path is not None:
        document, text = read_document(path)
    file_label = f"file {path}" if path else "file"
    sources = {key: file_label for key in _leaves(document)}
    merged = copy.deepcopy(document)
    for key, (value, label) in overrides.items():
        _set_dotted(merged, key, value)
        sources[key] = label
    try:
        schema = WbConfigSchema.model_validate(merged)
    except ValidationError as exc:
        raise describe_problems(exc, path=path, positions=key_positions(text), sources=sources) from None
    effective = _leaves(schema.model_dump(by_alias=True))
    dump = schema.model_dump()
    config = WbConfig.from_dump(dump)
    loaded = LoadedConfig(
        config=config,
        path=path,
        local_root=_local_root(config, path, cwd),
        sources={key: sources.get(key, "default") for key in effective},
        effective=effective,
    )
    return loaded, dump


def _flag_items(flags: Mapping[str, object]) -> list[tuple[str, tuple[object, str]]]:
    items = []
    for key, spec in flags.items():
        value, label = spec if isinstance(spec, tuple) else (spec, "flag")
        items.append((key, (value, str(label))))
    return items


def _local_root(config: WbConfig, path: Path | None, cwd: Path) -> Path:
    base = path.parent if path else cwd
    if config.sync.adir_local:
        return (base / Path(config.sync.adir_local).expanduser()).resolve()
    return base


def effective_values(loaded: LoadedConfig) -> dict[str, object]:
    return dict(loaded.effective)
