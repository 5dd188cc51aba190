"""The wheel carries what an installed pyengine needs; the CI workflow is valid."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(out), str(ROOT)], check=True, capture_output=True)
    (path,) = out.glob("pyengine-*.whl")
    return path


def test_wheel_carries_templates_runtime_and_build_script(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "pyengine/_data/build.gradle" in names
    assert "pyengine/_data/templates/Chunk.java.j2" in names
    assert "pyengine/_data/java/src/main/java/pyengine/runtime/Ops.java" in names
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("METADATA"))).decode()
    for extra in ("kafka", "bench", "dev"):
        assert f"Provides-Extra: {extra}" in metadata
    assert "Requires-Python: >=3.11" in metadata


@pytest.mark.jvm
def test_installed_wheel_builds_rules_outside_the_repository(wheel: Path,
                                                             tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True)
    rules = shutil.copytree(EXAMPLES, tmp_path / "rules")
    work = tmp_path / "elsewhere"
    work.mkdir()
    # The installed copy comes first on the path; the checkout is nowhere near.
    env = {**os.environ, "PYTHONPATH": str(site), "PYENGINE_CACHE_DIR": str(tmp_path / "c")}
    where = subprocess.run([sys.executable, "-c", "import pyengine; print(pyengine.__file__)"],
                           env=env, cwd=work, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(site))
    for builder in ("javac", "gradle"):
        built = subprocess.run(
            [sys.executable, "-m", "pyengine", "build-rules", str(rules), "--out",
             str(work / builder), "--builder", builder],
            env={**env, "PYENGINE_CACHE_DIR": str(tmp_path / builder)},  # both compile
            cwd=work, capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
        assert f"compiled with {builder}" in built.stdout
        assert (work / builder / "rules.jar").exists()
    tested = subprocess.run([sys.executable, "-m", "pyengine", "test-rules", str(rules),
                             "--builder", "javac"], env=env, cwd=work, capture_output=True,
                            text=True)
    assert tested.returncode == 0 and " 0 failed" in tested.stdout, tested.stdout


def test_ci_workflow_passes_actionlint() -> None:
    actionlint = Path(sys.executable).parent / "actionlint"
    result = subprocess.run([str(actionlint), ".github/workflows/ci.yml"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
