"""Name-keyed registry of providers, loaded from the `weatherballoon.providers` entry-point group."""

from __future__ import annotations

import difflib
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points
from typing import TYPE_CHECKING

from ..errors import ProviderError

if TYPE_CHECKING:
    from .base import Provider

GROUP = "weatherballoon.providers"


def _own_entry_points() -> list[EntryPoint]:
    # Reading our own distribution's entry points takes well under a millisecond; scanning every installed
    # distribution for the group takes ~30 ms, so it is done only for names we do not ship ourselves.
    try:
        return [ep for ep in distribution("weatherballoon").entry_points if ep.group == GROUP]
    except PackageNotFoundError:
        return []


def available() -> dict[str, str]:
    """Provider names mapped to the object reference that implements each."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def provider_class(name: str) -> type[Provider]:
    for ep in _own_entry_points():
        if ep.name == name:
            cls: type[Provider] = ep.load()
            return cls
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            plugin: type[Provider] = ep.load()
            return plugin
    names = sorted(available())
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ProviderError(
        f"unknown provider {name!r}; valid providers: {', '.join(names) or '(none installed)'}",
        hint=hint + "set provisioner.kind in .weatherballoon.json",
    )
