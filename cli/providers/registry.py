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
    """Our own distribution's providers, name -> "module:attr", read from its dist-info on sys.path.

    importlib.metadata would find the same file, but importing it costs ~16 ms on every `wb run` (it pulls
    in email and zipfile); the providers we ship are looked up here, every other name through it.
    """
    prefix = f"{DISTRIBUTION}-"
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith(prefix) and name.endswith(".dist-info"):
                try:
                    with open(os.path.join(folder or ".", name, "entry_points.txt"), encoding="utf-8") as handle:
                        return _group_of(handle.read(), GROUP)
                except OSError:
                    return {}
    return {}


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
