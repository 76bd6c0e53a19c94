"""The reaper bundle: same sources, same bytes (so the S3 key is stable), and an importable handler."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from weatherballoon.cli.aws_account.reaper_zip import HANDLER, build_bundle, package_dir


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


# What the Lambda Python runtime itself provides (boto3 and its dependencies): the runtime's own, not the zip's.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six")


def runtime_dir(tmp_path: Path) -> Path:
    import importlib.util

    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return runtime


def import_from(zip_path: Path, runtime: Path) -> subprocess.CompletedProcess[str]:
    """Import the handler module as Lambda would: the zip first, then the runtime, no site-packages."""
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import weatherballoon.lambdas.reaper as handler, aws_lambda_powertools, aws_xray_sdk\n"
        "print(aws_lambda_powertools.__file__); print(callable(handler.handler))\n"
    )
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(zip_path), str(runtime)], capture_output=True, text=True
    )


def test_a_vendored_bundle_imports_the_handler_with_powertools_only_from_the_zip(tmp_path: Path) -> None:
    runtime = runtime_dir(tmp_path)
    vendored, plain = tmp_path / "vendored.zip", tmp_path / "plain.zip"
    vendored.write_bytes(build_bundle(vendor=True).data)
    plain.write_bytes(build_bundle().data)
    # PowertoolsLayerVersion=0 with the plain zip was the Lambda's ImportModuleError:
    missing = import_from(plain, runtime)
    assert missing.returncode != 0 and "No module named 'aws_lambda_powertools'" in missing.stderr
    found = import_from(vendored, runtime)
    assert found.returncode == 0, found.stderr
    location, callable_handler = found.stdout.split()
    assert location.startswith(str(vendored)) and callable_handler == "True"
    names = zipfile.ZipFile(io.BytesIO(vendored.read_bytes())).namelist()
    assert not [n for n in names if n.endswith((".so", ".pyd", ".pyc"))]  # nothing built for this machine


def test_vendoring_without_powertools_installed_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from weatherballoon.cli.aws_account import reaper_zip

    monkeypatch.setattr(reaper_zip, "VENDORED", ("aws-lambda-powertools", "no-such-distribution-wb"))
    with pytest.raises(reaper_zip.MissingVendoredPackages) as info:
        build_bundle(vendor=True)
    assert info.value.names == ["no-such-distribution-wb"]


def test_bootstrap_bundles_for_the_partition_or_refuses_clearly() -> None:
    from weatherballoon.cli.aws_account.plan import reaper_bundle
    from weatherballoon.cli.aws_account.template import shipped_template
    from weatherballoon.cli.errors import UsageError

    template = shipped_template()
    for region in ("us-east-1", "eu-central-2", "cn-north-1", "us-gov-west-1", "us-gov-east-1"):
        assert "aws_lambda_powertools/__init__.py" not in reaper_bundle(template, region, "27").files
    with pytest.raises(UsageError, match="no public Lambda layer in cn-northwest-1") as info:
        reaper_bundle(template, "cn-northwest-1", "27")
    assert "--powertools-layer 0" in (info.value.hint or "")
    vendored = reaper_bundle(template, "cn-northwest-1", "0")
    assert "aws_lambda_powertools/__init__.py" in vendored.files
