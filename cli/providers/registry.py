"""Name-keyed registry of providers, loaded from the `weatherballoon.providers` entry-point group."""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

from ..errors import ProviderError

if TYPE_CHECKING:
    from .base import Provider

GROUP = "weatherballoon.providers"
DISTRIBUTION = "weatherballoon"


def _own_entry_points() -> dict[str, str]:
    """Our own distribution's providers, name -> "module:attr", from the entry_points.txt of the dist-info
    that installed the code running now.

    importlib.metadata would read the same file, but importing it is a measured cost of every `wb run`
    (docs/benchmarks.md, "Warm `wb run`"); our providers are looked up here, any other name through it.
    Only the dist-info that installed this very code counts: another `weatherballoon-*.dist-info` on
    sys.path (an older install, one on PYTHONPATH or in the current folder) must not shadow it. Without
    one (code run from a source tree) this finds nothing, and importlib.metadata decides.
    """
    info = _own_dist_info()
    if info is None:
        return {}
    try:
        with open(os.path.join(info, "entry_points.txt"), encoding="utf-8") as handle:
            return _group_of(handle.read(), GROUP)
    except OSError:
        return {}


def _own_dist_info() -> str | None:
    here = os.path.realpath(__file__)
    prefix = f"{DISTRIBUTION}-"
    beside: list[str] = []
    for folder in sys.path:
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            continue
        for name in names:
            if not (name.startswith(prefix) and name.endswith(".dist-info")):
                continue
            info = os.path.join(folder or ".", name)
            if _editable_install_of_this(info, here):
                return info
            if os.path.realpath(os.path.join(folder or ".", *_MODULE_PARTS)) == here:
                beside.append(info)  # a wheel install: the package is next to its dist-info
    if len(beside) > 1:  # two dist-infos in one folder: the one whose RECORD has this file's hash
        beside = [info for info in beside if _recorded_hash(info) == _hash_of(here)]
    return beside[0] if beside else None


_MODULE_PARTS = ("weatherballoon", "cli", "providers", "registry.py")


def _editable_install_of_this(info: str, here: str) -> bool:
    """An editable install (direct_url.json, PEP 610) of the source tree this module is in."""
    import json
    from urllib.parse import unquote, urlparse

    try:
        with open(os.path.join(info, "direct_url.json"), encoding="utf-8") as handle:
            direct = json.load(handle)
    except (OSError, ValueError):
        return False
    if not isinstance(direct, dict) or not (direct.get("dir_info") or {}).get("editable"):
        return False
    url = urlparse(str(direct.get("url", "")))
    if url.scheme != "file":
        return False
    source_root = os.path.dirname(os.path.dirname(os.path.dirname(here)))  # the folder holding cli/
    return os.path.realpath(unquote(url.path)) == source_root


def _recorded_hash(info: str) -> str | None:
    wanted = "/".join(_MODULE_PARTS) + ","
    try:
        with open(os.path.join(info, "RECORD"), encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(wanted):
                    return line.split(",")[1] or None
    except OSError:
        pass
    return None


def _hash_of(path: str) -> str:
    """As RECORD writes it (PEP 376 / the wheel spec): sha256=<urlsafe base64, no padding>."""
    import base64
    import hashlib

    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _group_of(text: str, group: str) -> dict[str, str]:
    """The `name = value` lines of one `[group]` section of an entry_points.txt."""
    found: dict[str, str] = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            found[name.strip()] = value.strip()
    return found


def _load(value: str) -> type[Provider]:
    module, _, attr = value.partition(":")
    found: type[Provider] = getattr(importlib.import_module(module.strip()), attr.strip())
    return found


def available() -> dict[str, str]:
    """Provider names mapped to the object reference that implements each."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def provider_class(name: str) -> type[Provider]:
    own = _own_entry_points().get(name)
    if own is not None:
        return _load(own)
    from importlib.metadata import entry_points

    for ep in entry_points(group=GROUP):
        if ep.name == name:
            plugin: type[Provider] = ep.load()
            return plugin
    import difflib

    names = sorted(available())
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ProviderError(
        f"unknown provider {name!r}; valid providers: {', '.join(names) or '(none installed)'}",
        hint=hint + "set provisioner.kind in .weatherballoon.json",
    )
