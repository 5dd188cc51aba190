"""Write faults: a full disk at any write, a read-only OUT, a damaged checkpoint.

Each must stop the run with a clear error and leave OUT so that, once the fault
is gone, the same command ends exactly like a run that never met it. Faults
are injected into a subprocess by pyengine.reliability.faults (LD_PRELOAD).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyengine.batch.generate import write_transactions
from pyengine.batch.job import JobConfig, OutputMismatch, run_job
from pyengine.engine import Engine
from pyengine.reliability.faults import fault_env
from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.jvm


def run(source: Path, out: Path,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyengine", "run", "--rules", str(EXAMPLES),
                           "--input", str(source), "--output", str(out), "--quiet",
                           "--builder", "javac", "--checkpoint-every", "2000",
                           "--chunk-size", "1000"],
                          cwd=ROOT, capture_output=True, text=True, env=env)


def tree(out: Path) -> dict[str, str]:
    """Content hash of every file in OUT (the report's timings excepted)."""
    return {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(out.rglob("*")) if f.is_file() and f.name != "report.json"}


def results(out: Path) -> dict[str, str]:
    return {k: v for k, v in tree(out).items() if k != "checkpoint.json"}


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """An input with dead letters and the output of its uninterrupted run."""
    work = tmp_path_factory.mktemp("faults")
    source = work / "in.jsonl"
    write_transactions(source, 10_000, seed=21, bad_fraction=0.01)
    clean = run(source, work / "clean")
    assert clean.returncode == 0, clean.stderr
    return source, results(work / "clean")


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyengine: error: "), stderr
    return lines[0]


def test_enospc_sweep_harness_quick(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pyengine.reliability.faults", "--records",
                           "12000", "--faults", "3", "--seed", "5", "--rules", str(EXAMPLES),
                           "--work", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 did not" in done.stdout


@pytest.mark.parametrize("nth", [1, 4, 40])
def test_disk_full_at_the_nth_write(tmp_path: Path, job: tuple[Path, dict[str, str]],
                                    nth: int) -> None:
    source, clean = job
    out = tmp_path / "out"
    out.mkdir()
    faulty = run(source, out, fault_env(out, enospc_at=nth))
    assert faulty.returncode == 1
    assert "No space left on device" in one_line(faulty.stderr)
    again = run(source, out, fault_env(out, enospc_at=1))  # still full: same clean stop
    assert again.returncode == 1 and "No space left" in one_line(again.stderr)
    assert run(source, out).returncode == 0  # room again
    assert results(out) == clean


def test_read_only_output(tmp_path: Path, job: tuple[Path, dict[str, str]]) -> None:
    source, clean = job
    out = tmp_path / "out"
    out.mkdir()
    refused = run(source, out, fault_env(out, readonly=True))
    assert refused.returncode == 1 and "Permission denied" in one_line(refused.stderr)
    assert list(out.iterdir()) == []
    # Half done, then read-only: the resume stops without touching what is there.
    assert run(source, out, fault_env(out, enospc_at=60)).returncode == 1
    before = tree(out)
    refused = run(source, out, fault_env(out, readonly=True))
    assert refused.returncode == 1 and "Permission denied" in one_line(refused.stderr)
    assert tree(out) == before
    assert run(source, out).returncode == 0
    assert results(out) == clean


@pytest.fixture
def half_done(tmp_path: Path, examples_compiled: Any) -> tuple[Engine, JobConfig, JobConfig]:
    """An OUT stopped by a full disk after some checkpoints, and the clean job's config."""
    import errno

    engine = Engine(examples_compiled)
    source = tmp_path / "in.parquet"
    write_transactions(source, 6_000, seed=8, bad_fraction=0.02)
    clean = JobConfig(source, tmp_path / "clean", 2, 1000, 500)
    run_job(engine, clean)
    config = JobConfig(source, tmp_path / "out", 2, 1000, 500)
    seen = []

    def full_after_three(report: Any) -> None:
        seen.append(report)
        if len(seen) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        run_job(engine, config, full_after_three)
    return engine, config, clean


def test_a_failed_run_leaves_no_writer_behind(
        half_done: tuple[Engine, JobConfig, JobConfig]) -> None:
    """Regression: part writers went on after run_job had raised, so a part file could
    appear in OUT later, racing a rerun in the same process."""
    import threading

    _, config, _ = half_done
    assert not [t for t in threading.enumerate() if t.name.startswith("pyengine-writer")]
    assert not list(config.output.rglob("*.tmp"))


def damage(path: Path, how: str) -> None:
    text = path.read_text()
    if how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "empty":
        path.write_text("")
    elif how == "edited":  # valid JSON, plausible, wrong
        doc = json.loads(text)
        doc["state"]["next_position"] += 1000
        path.write_text(json.dumps(doc))
    else:
        path.write_bytes(b"\x00" * len(text))


@pytest.mark.parametrize("how", ["truncated", "empty", "edited", "zeroed"])
def test_damaged_checkpoint_is_refused_then_resumes_once_restored(
        half_done: tuple[Engine, JobConfig, JobConfig], how: str) -> None:
    engine, config, clean = half_done
    checkpoint = config.output / "checkpoint.json"
    saved = checkpoint.read_bytes()
    damage(checkpoint, how)
    before = tree(config.output)
    with pytest.raises(OutputMismatch, match="damaged checkpoint"):
        run_job(engine, config)
    assert tree(config.output) == before  # nothing overwritten
    checkpoint.write_bytes(saved)
    report = run_job(engine, config)
    assert report["complete"] and results(config.output) == results(clean.output)


def test_lost_part_file_or_dlq_is_refused(half_done: tuple[Engine, JobConfig, JobConfig]) -> None:
    engine, config, _ = half_done
    part = config.output / "results" / "part-000001.parquet"
    saved = part.read_bytes()
    part.unlink()
    with pytest.raises(OutputMismatch, match=r"part-000001\.parquet: missing"):
        run_job(engine, config)
    part.write_bytes(saved)
    dlq = config.output / "dlq.jsonl"
    kept = dlq.read_bytes()
    dlq.write_bytes(kept[: len(kept) // 2])
    with pytest.raises(OutputMismatch, match="the checkpoint counts"):
        run_job(engine, config)
    dlq.write_bytes(kept)
    assert run_job(engine, config)["complete"]


def test_failed_run_says_why_in_its_report(tmp_path: Path,
                                           job: tuple[Path, dict[str, str]]) -> None:
    source, _ = job
    out = tmp_path / "out"
    out.mkdir()
    # The results' disk is full from the first write; report.json, outside it, says so.
    env = fault_env(out / "results", enospc_at=1)
    assert run(source, out, env).returncode == 1
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] is False
    assert report["error"]["kind"] == "OutputError"
    assert "No space left on device" in report["error"]["message"]


def test_checkpoint_of_another_format_is_refused(
        half_done: tuple[Engine, JobConfig, JobConfig]) -> None:
    engine, config, _ = half_done
    checkpoint = config.output / "checkpoint.json"
    doc = json.loads(checkpoint.read_text())
    doc["format"] = 1
    del doc["checksum"]  # as pyengine wrote it before checkpoints had checksums
    checkpoint.write_text(json.dumps(doc))
    with pytest.raises(OutputMismatch, match=r"another pyengine version \(checkpoint format 1\)"):
        run_job(engine, config)
