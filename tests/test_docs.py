"""Every command in the user docs runs: each ```sh and ```python block, in a scratch dir.

Blocks run in order per page, in a directory holding a copy of ``examples/``, with
this environment's ``pyengine`` first on the PATH. Blocks that install or test
(``git clone``, ``make``, ``pytest``) are what CI itself does, so they are not
repeated; Kafka pages run against the local broker the Kafka tests use, without
starting or stopping it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[tuple[str, str]]:
    """(language, code) of the runnable blocks of a page."""
    found = []
    for lang, code in BLOCK.findall(page.read_text()):
        if any(skip in code for skip in ("git clone", "make ", "pytest")):
            continue  # installing and testing: what CI itself does
        if lang == "sh":
            code = "\n".join(line for line in code.splitlines()
                             if not line.startswith("scripts/kafka-local"))
        found.append((lang, code))
    return found


def run_page(page: Path, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)  # .venv/bin/pyengine
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for lang, code in blocks(page):
        command = ["bash", "-euo", "pipefail", "-c", code] if lang == "sh" else [
            sys.executable, "-c", code]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{page.name}:\n{code}\n{done.stdout}\n{done.stderr}"


@pytest.mark.jvm
@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md", "docs/commands.md"])
def test_commands_in_docs_run(page: str, tmp_path: Path) -> None:
    assert blocks(ROOT / page), "the page has commands"
    run_page(ROOT / page, tmp_path)


def test_every_page_with_commands_is_run() -> None:
    """A new page with ```sh or ```python blocks must be added to the tests above."""
    tested = {"README.md", "getting-started.md", "commands.md", "kafka.md",
              "benchmarks.md"}  # benchmarks: run with small sizes in test_batch.py
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        if blocks(page):
            assert page.name in tested, f"{page.name} has commands that no test runs"


@pytest.mark.kafka
def test_kafka_quick_start_runs(broker: str, tmp_path: Path) -> None:
    run_page(DOCS / "kafka.md", tmp_path)


def test_readme_and_docs_link_to_existing_pages() -> None:
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
