"""The crash harness in its quick version: killed runs end like an uninterrupted one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, ROOT


def test_crash_harness_quick(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pyengine.reliability.crash", "--records",
                           "60000", "--kills", "4", "--seed", "3", "--rules", str(EXAMPLES),
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
