"""Import paramiko without `invoke`.

paramiko imports invoke only to run `ProxyCommand`s from ssh_config files, which wb never reads; it costs
about 60 ms of every `wb run`. Marking it absent makes paramiko take its own ImportError fallback.
"""

from __future__ import annotations

import sys
from types import ModuleType


def paramiko() -> ModuleType:
    module = sys.modules.get("paramiko")
    if module is None:
        sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]
        import paramiko as module
    return module
