"""pytest-benchmark suite for the hot paths (not part of the default test run).

    .venv/bin/pytest tests/benchmarks -m bench                        # measure
    .venv/bin/pytest tests/benchmarks -m bench --benchmark-compare    # against the baseline
    .venv/bin/pytest tests/benchmarks -m bench --benchmark-disable    # quick: still runs?

See docs/benchmarks.md for saving a new baseline.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pyengine.batch.chunk import ResultLayout, _results_table, json_safe, process_chunk
from pyengine.batch.convert import convert_batch
from pyengine.batch.generate import transactions
from pyengine.batch.job import _atomic_write
from pyengine.batch.parts import PartWriter
from pyengine.jvm.rules import CompiledRules

pytestmark = pytest.mark.bench
ROWS = 65_536  # one default chunk


@pytest.fixture(scope="module")
def chunk() -> pa.RecordBatch:
    return transactions(ROWS, seed=9).combine_chunks().to_batches()[0]


@pytest.fixture(scope="module")
def layout(examples_compiled: CompiledRules) -> ResultLayout:
    return ResultLayout(examples_compiled.program)


@pytest.mark.parametrize("call", ["evaluate", "evaluate_public"])
def test_bridge_call(benchmark: Any, examples_compiled: CompiledRules,
                     chunk: pa.RecordBatch, call: str) -> None:
    """One transaction through the single-call bridge: ``evaluate`` gives the Outcome
    the reference evaluator gives, ``evaluate_public`` the dict ``Engine.evaluate`` gives."""
    txn = json_safe(chunk.slice(0, 1).to_pylist()[0])
    single = getattr(examples_compiled, call)
    for _ in range(20_000):
        single(txn)  # let the JIT compile the Java side first
    got = benchmark(single, txn)
    decision = got["decision"] if isinstance(got, dict) else got.decision
    assert decision in ("approve", "flag", "review", "reject")


def test_input_conversion(benchmark: Any, examples_compiled: CompiledRules,
                          chunk: pa.RecordBatch) -> None:
    """Arrow record batch -> typed columns, validated."""
    columns = benchmark(convert_batch, examples_compiled.program.schema, chunk)
    assert columns.ok.all()


def test_chunk_evaluation(benchmark: Any, examples_compiled: CompiledRules,
                          chunk: pa.RecordBatch) -> None:
    """Binding the columns and one evaluateChunk call in Java."""
    columns = convert_batch(examples_compiled.program.schema, chunk)
    for _ in range(5):
        examples_compiled.evaluate_columns(columns)  # JIT warm-up
    result = benchmark(examples_compiled.evaluate_columns, columns)
    assert result.count == ROWS


def test_result_building(benchmark: Any, examples_compiled: CompiledRules,
                         layout: ResultLayout, chunk: pa.RecordBatch) -> None:
    """Java's result buffers -> the Arrow results table."""
    columns = convert_batch(examples_compiled.program.schema, chunk)
    result = examples_compiled.evaluate_columns(columns)
    table = benchmark(_results_table, examples_compiled, layout, columns, result, None)
    assert table.num_rows == ROWS


def test_whole_chunk(benchmark: Any, examples_compiled: CompiledRules, layout: ResultLayout,
                     chunk: pa.RecordBatch) -> None:
    """A worker's whole job for one chunk: convert, evaluate, results, dead letters."""
    for _ in range(5):
        process_chunk(examples_compiled, layout, chunk, 0, "bench")  # JIT warm-up
    out = benchmark(process_chunk, examples_compiled, layout, chunk, 0, "bench")
    assert out.results.num_rows == ROWS


def test_part_write(benchmark: Any, examples_compiled: CompiledRules, layout: ResultLayout,
                    chunk: pa.RecordBatch, tmp_path: Path) -> None:
    """A row group of results (two chunks' tables) written by ``run``'s part writer:
    the largest cost of a Parquet run."""
    table = process_chunk(examples_compiled, layout, chunk, 0, "bench").results
    path = tmp_path / "part-000000.parquet"

    def write() -> None:
        writer = PartWriter(path, layout, threading.Semaphore(2))
        writer.add(table)
        writer.add(table)
        writer.close().result()

    benchmark(write)
    assert pq.ParquetFile(path).metadata.num_rows == 2 * table.num_rows


def test_checkpoint_write(benchmark: Any, tmp_path: Path) -> None:
    """A checkpoint: temp file, fsync, rename, directory fsync."""
    data = b'{"state": {"next_position": 1000000}}\n' * 20
    benchmark(_atomic_write, tmp_path / "checkpoint.json", data)
    assert (tmp_path / "checkpoint.json").read_bytes() == data
