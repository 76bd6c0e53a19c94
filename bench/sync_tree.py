"""A generated project tree for sync benchmarks: about 5,000 files and 200 MB, deterministic.

4,940 source-like files (1-16 KiB of words: compressible, as code and configs are) in nested folders,
plus 50 binary files of about 3 MiB (random bytes: checkpoints and media do not compress), a few
executables and symlinks, in a git repository with a .gitignore.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

WORDS = [
    "import", "def", "return", "self", "class", "tensor", "batch", "model", "loss", "epoch", "config",
    "data", "train", "eval", "for", "in", "if", "else", "None", "True", "weight", "grad", "step", "x", "y",
]  # fmt: skip


def _text(rng: random.Random, size: int) -> bytes:
    out: list[str] = []
    length = 0
    while length < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + "\n"
        out.append(line)
        length += len(line)
    return "".join(out).encode()[:size]


def make_tree(root: Path, *, small: int = 4940, large: int = 50, large_size: int = 3 << 20, seed: int = 7) -> Path:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for index in range(small):
        folder = root / f"pkg{index % 40:02d}" / f"mod{index % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"file{index:05d}.py"
        path.write_bytes(_text(rng, rng.randint(1 << 10, 16 << 10)))
        if index % 500 == 0:
            path.chmod(0o755)
    data = root / "data"
    data.mkdir(exist_ok=True)
    for index in range(large):
        (data / f"blob{index:03d}.bin").write_bytes(rng.randbytes(large_size))
    (root / "latest").symlink_to("data/blob000.bin")
    (root / ".gitignore").write_text("*.log\n__pycache__/\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def tree_size(root: Path) -> tuple[int, int]:
    files = total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            files += 1
            total += os.lstat(os.path.join(folder, name)).st_size
    return files, total
