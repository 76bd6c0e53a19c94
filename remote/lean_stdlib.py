"""The agent's start-time shortcuts: a few standard-library features taken from their C modules.

Every agent command is a fresh python3, so its imports are paid on each one (docs/benchmarks.md, "Sync
against rsync and rclone" and "remote side"). Three public modules cost more than the little the agent
takes from them: `signal` imports `enum`, `json` imports `re`, `hashlib` loads OpenSSL. Their C halves
carry the same functions, and this module is the one place that reaches for them, each only when first
used, with a fallback to the public module where a C half is missing. It imports nothing else.
"""

from __future__ import annotations

import _signal as sig  # signal's functions and SIG* numbers as plain ints (built into CPython: free)

TYPE_CHECKING = False  # not typing's: importing typing costs more than this module saves
if TYPE_CHECKING:
    from _json import encode_basestring_ascii as json_quote

__all__ = ["json_quote", "sha256_hex", "sig"]


def __getattr__(name: str) -> object:
    """`json_quote` is loaded on first use: the sync's commands never need it."""
    if name != "json_quote":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from _json import encode_basestring_ascii as quote
    except ImportError:  # an interpreter without the C accelerator
        from json.encoder import encode_basestring_ascii as quote
    globals()["json_quote"] = quote
    return quote


def sha256_hex(data: bytes) -> str:
    try:
        from _sha2 import sha256  # python >= 3.12
    except ImportError:
        try:
            from _sha256 import sha256  # python < 3.12
        except ImportError:
            from hashlib import sha256  # a python built without them
    return sha256(data).hexdigest()
