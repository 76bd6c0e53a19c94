"""paramiko is imported once, safely, even when several threads connect at the same moment."""

from __future__ import annotations

import subprocess
import sys


def test_threads_never_see_a_half_imported_paramiko() -> None:
    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from weatherballoon.cli.session.lazy_paramiko import paramiko\n"
        "with ThreadPoolExecutor(8) as pool:\n"
        "    found = list(pool.map(lambda _: paramiko().Transport.__name__, range(8)))\n"
        "import sys\n"
        "print(set(found), sys.modules['invoke'] is None)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "{'Transport'} True"
