"""Import paramiko without `invoke`, once, from any thread.

paramiko imports invoke only to run `ProxyCommand`s from ssh_config files, which wb never reads; it costs
about 60 ms of every `wb run`. Marking it absent makes paramiko take its own ImportError fallback.
The lock matters: threads that connect in parallel must not see a half-imported paramiko in sys.modules.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import ModuleType

_lock = threading.Lock()
_module: ModuleType | None = None


def paramiko() -> ModuleType:
    global _module
    if _module is not None:
        return _module
    with _lock:
        if _module is None:
            sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]
            import paramiko as module

            # paramiko's transport thread logs its own tracebacks; wb reports every failure itself.
            logger = logging.getLogger("paramiko")
            logger.addHandler(logging.NullHandler())
            logger.propagate = False
            _module = module
    return _module
