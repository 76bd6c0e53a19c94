"""Name-keyed registry of providers, loaded from the `weatherballoon.providers` entry-point group."""

from __future__ import annotations

import difflib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from ..errors import ProviderError

if TYPE_CHECKING:
    from .base import Provider

GROUP = "weatherballoon.providers"


def available() -> dict[str, str]:
    """Provider names mapped to the object reference that implements each."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def provider_class(name: str) -> type[Provider]:
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            cls: type[Provider] = ep.load()
            return cls
    names = sorted(available())
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ProviderError(
        f"unknown provider {name!r}; valid providers: {', '.join(names) or '(none installed)'}",
        hint=hint + "set provisioner.kind in .weatherballoon.json",
    )
