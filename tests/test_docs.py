"""Every command in the user docs runs: each ```sh and ```python block, in a scratch dir.

Blocks run in order per page, in a directory holding a copy of ``examples/``, with
this environment's ``pyengine`` first on the PATH. The install block (``git clone``,
``make``) is what CI itself does, so it is not repeated here; Kafka pages run against
the local broker the Kafka tests use, without starting or stopping it.
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
        if "git clone" in code:
            continue
        if lang == "sh":
            code = "\n".join(line for line in code.splitlines()
                             if not line.startswith("scripts/kafka-local"))
        found.append((lang, code))
    return found


def run_page(page: Path, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for lang, code in blocks(page):
        command = ["bash", "-euo", "pipefail", "-c", code] if lang == "sh" else [
            sys.executable, "-c", code]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{page.name}:\n{code}\n{done.stdout}\n{done.stderr}"


@pytest.mark.jvm
@pytest.mark.parametrize("page", ["getting-started.md", "commands.md"])
def test_commands_in_docs_run(page: str, tmp_path: Path) -> None:
    assert blocks(DOCS / page), "the page has commands"
    run_page(DOCS / page, tmp_path)


@pytest.mark.kafka
def test_kafka_quick_start_runs(broker: str, tmp_path: Path) -> None:
    run_page(DOCS / "kafka.md", tmp_path)


def test_readme_and_docs_link_to_existing_pages() -> None:
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
