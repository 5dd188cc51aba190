"""The hostile input corpus (tests/corpus/make.py) through ``run``, every format.

Every record must end exactly once in the results or the DLQ, each dead letter
with the kind and reason the corpus expects; a file that cannot be read at all
gives a one-line error and exit 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pyengine.batch.inputs import InputError
from pyengine.batch.job import JobConfig, run_job
from pyengine.engine import Engine
from tests.conftest import EXAMPLES, ROOT
from tests.corpus.make import names, write_corpus

pytestmark = pytest.mark.jvm


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("corpus")
    return directory, write_corpus(directory)


@pytest.fixture(scope="module")
def engine(examples_compiled: Any) -> Engine:
    return Engine(examples_compiled)


def records_in(path: Path) -> int:
    """How many records the file holds, counted independently of pyengine's readers."""
    if path.suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return max(0, len(lines) - 1) if path.suffix == ".csv" else len(lines)


@pytest.mark.parametrize("name", names())
def test_corpus_file(tmp_path: Path, corpus: tuple[Path, dict[str, Any]], engine: Engine,
                     name: str) -> None:
    directory, expected = corpus
    source, expect = directory / name, expected[name]
    if "error" in expect:
        with pytest.raises(InputError, match=expect["error"]):
            run_job(engine, JobConfig(source, tmp_path / "out", 2, 4, 2))
        return
    report = run_job(engine, JobConfig(source, tmp_path / "out", 2, 4, 2))
    parts = sorted((tmp_path / "out" / "results").glob("*.parquet"))
    results = [p for part in parts for p in pq.read_table(part).column("position").to_pylist()]
    raw = (tmp_path / "out" / "dlq.jsonl").read_bytes()
    raw.decode("ascii")  # always valid, whatever the input held
    letters = {d["position"]: d for d in map(json.loads, raw.splitlines())}
    total = records_in(source)
    assert report["input_records"] == total == report["results"] + report["dead_letters"]
    assert sorted([*results, *letters]) == list(range(total))  # each exactly once
    assert sorted(letters) == sorted(int(p) for p in expect)
    for position, (kind, reason) in expect.items():
        error = letters[int(position)]["error"]
        assert error["kind"] == kind and reason in error["message"], (position, error)


@pytest.mark.parametrize("name", ["truncated.parquet", "empty.parquet", "not_parquet.parquet",
                                  "repeated_column.csv", "header_not_utf8.csv"])
def test_unreadable_file_is_one_line_and_exit_2(tmp_path: Path,
                                                corpus: tuple[Path, dict[str, Any]],
                                                name: str) -> None:
    directory, expected = corpus
    assert "error" in expected[name]
    done = subprocess.run([sys.executable, "-m", "pyengine", "run", "--rules", str(EXAMPLES),
                           "--input", str(directory / name), "--output", str(tmp_path / "o"),
                           "--quiet", "--builder", "javac"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"pyengine: error: {directory / name}: ")
