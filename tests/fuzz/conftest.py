"""The fuzz suite's settings: a fixed seed (derandomize), no example database, Hypothesis's own files in a
temp folder (nothing is written in the checkout), no per-example deadline (the machine is shared), and
example counts scaled by WB_FUZZ_SCALE (1 in CI; raise it for a deeper run on your own machine)."""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# A failing run writes a patch of its examples; it goes to a temp folder, never into the checkout.
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="wb-hypothesis-"))

settings.register_profile(
    "wb-fuzz",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
settings.load_profile("wb-fuzz")

SCALE = float(os.environ.get("WB_FUZZ_SCALE", "1"))


def examples(count: int) -> int:
    return max(1, int(count * SCALE))
