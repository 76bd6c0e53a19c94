"""Import paramiko without `invoke`.

paramiko imports invoke only to run `ProxyCommand`s from ssh_config files, which wb never reads; it costs
about 60 ms of every `wb run`. Marking it absent makes paramiko take its own ImportError fallback.
"""

from __future__ import annotations

import logging
import sys
from types import ModuleType
from typing import cast


def paramiko() -> ModuleType:
    module = sys.modules.get("paramiko")
    if module is None:
        sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]
        import paramiko as module

        # paramiko's transport thread logs its own tracebacks; wb reports every failure itself.
        logger = logging.getLogger("paramiko")
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    return cast(ModuleType, module)
