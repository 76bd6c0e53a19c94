"""The reaper bundle: same sources, same bytes (so the S3 key is stable), and an importable handler."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from weatherballoon.cli.aws.reaper_zip import HANDLER, build_bundle, package_dir


def test_bundle_is_deterministic_and_content_addressed() -> None:
    first, second = build_bundle(), build_bundle()
    assert first.data == second.data
    assert first.key == f"reaper/{first.sha256}.zip"


def test_bundle_holds_the_handler_module_and_data(tmp_path: Path) -> None:
    bundle = build_bundle()
    names = set(zipfile.ZipFile(io.BytesIO(bundle.data)).namelist())
    module = HANDLER.rsplit(".", 1)[0].replace(".", "/") + ".py"
    assert {"weatherballoon/__init__.py", "weatherballoon/lambdas/__init__.py", module} <= names
    assert "weatherballoon/lambdas/prices.json" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_a_changed_source_changes_the_key(tmp_path: Path) -> None:
    copy = tmp_path / "lambdas"
    shutil.copytree(package_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = build_bundle(copy)
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "x.pyc").write_bytes(b"noise")
    assert build_bundle(copy).key == before.key
    (copy / "schema.py").write_text((copy / "schema.py").read_text() + "\n# changed\n")
    assert build_bundle(copy).key != before.key
