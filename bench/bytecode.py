"""wb's processes in a benchmark get a bytecode cache of their own.

Some machines (this one) set PYTHONDONTWRITEBYTECODE for every process, so an editable install of wb would
compile every changed module at every start: a cost no installed wb pays (pip compiles at install time).
The variable is dropped for wb's processes and PYTHONPYCACHEPREFIX points them at a folder of the bench's
own, which the first (untimed) run fills.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def with_bytecode_cache(env: Mapping[str, str], pycache: Path) -> dict[str, str]:
    found = {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    found["PYTHONPYCACHEPREFIX"] = str(pycache)
    return found
