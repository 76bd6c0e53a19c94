"""Output globs: what a job owns (never deleted or uploaded) and what `outputs-pack` sends back."""

from __future__ import annotations

from pathlib import Path

import pytest
from weatherballoon.remote.sync.globs import GlobSet, literal_prefix, max_depth, outside_root
from weatherballoon.remote.sync.outputs import find_outputs


@pytest.mark.parametrize(
    ("pattern", "path", "matches", "covers"),
    [
        ("outputs", "outputs", True, True),
        ("outputs", "outputs/run1/model.pt", False, True),
        ("outputs/", "outputs/a", False, True),
        ("./outputs/**", "outputs/a/b", True, True),
        ("outputs/**", "outputs", False, False),
        ("*.pt", "model.pt", True, True),
        ("*.pt", "ckpt/model.pt", False, False),
        ("**/*.pt", "model.pt", True, True),
        ("**/*.pt", "a/b/c/model.pt", True, True),
        ("runs/*/metrics.json", "runs/7/metrics.json", True, True),
        ("runs/*/metrics.json", "runs/7/x/metrics.json", False, False),
        ("runs/**/last", "runs/last", True, True),
        ("runs/**/last", "runs/a/b/last/file", False, True),
        ("log?.txt", "log1.txt", True, True),
        ("log[0-9].txt", "logx.txt", False, False),
        ("log[!0-9].txt", "logx.txt", True, True),
        ("*", ".hidden", True, True),
        ("a.b", "axb", False, False),
        ("/abs", "abs/x", False, True),
    ],
)
def test_match_and_cover(pattern: str, path: str, matches: bool, covers: bool) -> None:
    globs = GlobSet([pattern])
    assert globs.matches(path) is matches
    assert globs.covers(path) is covers


def test_an_empty_set_matches_nothing() -> None:
    globs = GlobSet(["", "  "])
    assert not globs
    assert not globs.covers("anything")


def test_literal_prefix_and_depth_bound_the_walk() -> None:
    assert literal_prefix("outputs/**/*.pt") == ("outputs", False)
    assert literal_prefix("results/final.json") == ("results/final.json", True)
    assert literal_prefix("*.log") == ("", False)
    assert max_depth("runs/*/metrics.json") == 3
    assert max_depth("runs/**/x") is None


@pytest.mark.parametrize("pattern", ["../*", "a/../../b", "/etc/*", "~/x", "a\0b"])
def test_globs_outside_the_root_are_named(pattern: str) -> None:
    assert outside_root(pattern)


@pytest.mark.parametrize("pattern", ["out/**", "./x", "a..b/c", "..x", "**/*.pt"])
def test_globs_inside_the_root_are_fine(pattern: str) -> None:
    assert outside_root(pattern) is None


def test_outputs_pack_never_walks_outside_its_root(tmp_path: Path) -> None:
    """`-o '../*'` once streamed every file next to the project (51,007 of them)."""
    root = tmp_path / "project"
    (root / "out").mkdir(parents=True)
    (root / "out" / "mine.txt").write_text("x")
    (tmp_path / "foreign.txt").write_text("y")
    found = [rel for rel, _ in find_outputs(str(root), ["../*", "/etc/host*", "out/*"])]
    assert found == ["out/mine.txt"]
