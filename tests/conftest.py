"""Session fixtures: one build cache and one JVM per test session."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# CI (.ci/run) draws the same examples for a given commit, so its verdict depends on the
# change alone; other runs draw new examples each time, and a failing one is kept in
# .hypothesis/ and tried first next time.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "rules"
KAFKA_LOCAL = ROOT / "scripts" / "kafka-local"


@pytest.fixture(scope="session", autouse=True)
def build_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh build cache per session: no test sees a jar from an older pyengine."""
    path = tmp_path_factory.mktemp("pyengine-cache")
    old = os.environ.get("PYENGINE_CACHE_DIR")
    os.environ["PYENGINE_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("PYENGINE_CACHE_DIR", None)
    else:
        os.environ["PYENGINE_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def examples_program():  # type: ignore[no-untyped-def]
    """The resolved examples/rules program."""
    from pyengine.pipeline import load_program

    return load_program(EXAMPLES)


@pytest.fixture(scope="session")
def examples_compiled():  # type: ignore[no-untyped-def]
    """examples/rules compiled with javac and loaded in this session's JVM."""
    from pyengine.pipeline import compile_rules

    return compile_rules(EXAMPLES, builder="javac")


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """The local broker, started for the session unless it already runs."""
    started = subprocess.run([KAFKA_LOCAL, "status"]).returncode != 0
    if started:
        subprocess.run([KAFKA_LOCAL, "start"], check=True)
    yield "127.0.0.1:9092"
    if started:
        subprocess.run([KAFKA_LOCAL, "stop"], check=True)
