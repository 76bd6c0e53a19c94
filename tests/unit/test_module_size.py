"""Small modules with one job: none over 400 lines, and the median under 150 (issue 10's "done means").

Lines are counted plainly (blank lines and comments included) over every .py file of the five code folders.
A module past the limit is split along its seams, not trimmed of comments."""

from __future__ import annotations

import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("cli", "infra", "lambdas", "remote", "sandbox")
MAX_LINES = 400
MEDIAN_UNDER = 150


def module_lines() -> dict[str, int]:
    return {
        str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
        for folder in FOLDERS
        for path in sorted((REPO / folder).rglob("*.py"))
        if "cdk.out" not in path.parts and "__pycache__" not in path.parts
    }


def test_no_module_is_over_400_lines() -> None:
    sizes = module_lines()
    assert len(sizes) > 100, "the five code folders were not found"
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert over == {}, f"split these along their seams: {over}"


def test_the_median_module_is_under_150_lines() -> None:
    median = statistics.median(module_lines().values())
    assert median < MEDIAN_UNDER, f"the median module has {median} lines"
