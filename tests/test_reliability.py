"""The crash harness in its quick version: killed runs end like an uninterrupted one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES, ROOT


def test_crash_harness_quick(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pyengine.reliability.crash", "--records",
                           "200000", "--kills", "4", "--seed", "3", "--rules", str(EXAMPLES),
                           "--work", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # A kill may come too late when an attempt finishes first: most must land.
    kills = re.search(r"(\d+) kills in \d+ attempts", done.stdout)
    assert kills and int(kills.group(1)) >= 2, done.stdout
    assert "IDENTICAL to the uninterrupted run" in done.stdout


def test_digest_sees_every_difference(tmp_path: Path) -> None:
    from pyengine.reliability.crash import digest

    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "results" / "part-000000.parquet").write_bytes(b"a")
    (out / "dlq.jsonl").write_text("")
    (out / "report.json").write_text(
        '{"input_records": 1, "results": 1, "dead_letters": 0, "decisions": {},'
        ' "dead_letter_kinds": {}, "ruleset_version": "v", "wall_seconds": 1}')
    before = digest(out)
    (out / "report.json").write_text((out / "report.json").read_text().replace(
        '"wall_seconds": 1', '"wall_seconds": 2'))
    assert digest(out) == before  # timings may differ between runs
    (out / "dlq.jsonl").write_text("{}\n")
    assert digest(out)["dlq.jsonl"] != before["dlq.jsonl"]


@settings(max_examples=300)
@given(text=st.text())
def test_yaml_string_reads_back_as_the_same_text(text: str) -> None:
    """Regression: characters beyond the BMP were escaped as ``\\uXXXXX``, which YAML
    reads as a four-digit escape and a stray digit (a lone surrogate in the rules)."""
    import yaml

    from pyengine.reliability.randrules import yaml_string

    assert yaml.safe_load(yaml_string(text)) == text
