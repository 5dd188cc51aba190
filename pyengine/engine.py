"""The Python API: ``pyengine.load(rules)`` -> :class:`Engine`.

    engine = pyengine.load("rules/")
    engine.evaluate({"id": "t1", ...})         # dict, or a PyEngineError subclass
    batch = engine.evaluate_batch(table, workers=2)
    batch.results, batch.dead_letters
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from pyengine.batch import MAX_WORKERS
from pyengine.batch.chunk import Batch, ChunkOutput, ResultLayout, process_chunk
from pyengine.batch.inputs import plain_schema, refuse_repeats
from pyengine.batch.malloc import tune_malloc
from pyengine.errors import ConfigError
from pyengine.jvm.rules import CompiledRules
from pyengine.pipeline import compile_rules

MAX_CHUNK_ROWS = 262_144  # evaluate_batch's chunks (see chunk_plan)
MIN_CHUNK_ROWS = 32_768


@dataclass
class BatchResult:
    """The outcome of :meth:`Engine.evaluate_batch`."""

    results: pa.Table
    dead_letters: list[dict[str, Any]]


def default_workers() -> int:
    """The number of cores this process may use (at most ``MAX_WORKERS``)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, MAX_WORKERS)


def check_workers(workers: int) -> int:
    """``workers`` itself, if a run can use that many worker threads; else ConfigError."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"{workers!r} workers: from 1 to {MAX_WORKERS} are allowed")
    return workers


class Engine:
    """Compiled rules, ready to evaluate transactions."""

    def __init__(self, compiled: CompiledRules):
        tune_malloc()  # chunks reuse the memory earlier ones freed (batch/malloc.py)
        self.compiled = compiled
        self.program = compiled.program
        self.layout = ResultLayout(compiled.program)
        self._threads = compiled.threads  # each thread's evaluators (see evaluate)
        # Worker threads by pool size, kept between calls: each thread's Java evaluator,
        # warm and with its caches of decoded strings, serves every batch it evaluates.
        self._pools: dict[int, ThreadPoolExecutor] = {}
        self._pools_lock = threading.Lock()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the engine's worker threads (the next batch starts new ones). The JVM and
        the loaded rules stay: they live as long as the process."""
        with self._pools_lock:
            pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.shutdown(wait=True)

    def _pool(self, workers: int) -> ThreadPoolExecutor:
        """The engine's pool of ``workers`` threads, started on first use."""
        with self._pools_lock:
            pool = self._pools.get(workers)
            if pool is None:
                pool = self._pools[workers] = ThreadPoolExecutor(
                    workers, thread_name_prefix="pyengine-worker")
            return pool

    @property
    def ruleset_version(self) -> str:
        """sha256 of the normalized rules."""
        return self.program.version

    def evaluate(self, txn: dict[str, Any]) -> dict[str, Any]:
        """Evaluate one transaction: ``{decision, fired, ruleset, outputs}``.

        Outputs are the Python values of the batch result columns (decimals as
        Decimal, timestamps as UTC datetimes). Raises SchemaViolation,
        UnknownClient or EvaluationError for a transaction that a batch would send
        to the dead-letter queue.
        """
        # CompiledRules.evaluate_public's body, not a call to it: the frame it saves is
        # 1-2% of a call (in-process A/B, 11 rounds of 100,000 calls)
        return self._threads.single.evaluate(txn)

    def evaluate_batch(self, table: pa.Table | pa.RecordBatch, workers: int | None = None,
                       chunk_rows: int | None = None) -> BatchResult:
        """Evaluate an Arrow table of transactions on ``workers`` threads (or any table
        that exports an Arrow stream, such as a polars DataFrame).

        Results keep the input order whatever the number of workers; ``position``
        is the row index in ``table``. ``chunk_rows`` fixes the rows of each chunk
        the workers take in turn (at most ``compiled.max_chunk_rows``, what one Java
        call of these rules takes); by default, :func:`chunk_plan` cuts the table.
        """
        table = _as_table(table)
        workers = default_workers() if workers is None else check_workers(workers)
        plan = self._plan(table.num_rows, workers, chunk_rows)
        # combine_chunks() leaves one batch per (non-empty) slice
        chunks = [(start, table.slice(start, size).combine_chunks().to_batches()[0])
                  for start, size in plan]
        outputs = run_chunks(self, chunks, workers, source="<table>")
        results = [o.results for o in outputs]
        combined = pa.concat_tables(results) if results else self.layout.schema.empty_table()
        return BatchResult(combined, [d for o in outputs for d in o.dead_letters])

    def _plan(self, rows: int, workers: int, chunk_rows: int | None) -> list[tuple[int, int]]:
        """evaluate_batch's chunks: ``chunk_rows`` each, or :func:`chunk_plan`'s; at most
        what one Java call of the rules takes."""
        largest = self.compiled.max_chunk_rows
        if chunk_rows is None:
            return chunk_plan(rows, workers, min(MAX_CHUNK_ROWS, largest))
        if chunk_rows < 1:  # a negative step would make no chunks, and no results, silently
            raise ConfigError(f"chunk_rows must be at least 1, not {chunk_rows}")
        step = min(chunk_rows, largest)
        return [(start, step) for start in range(0, rows, step)]


def _as_table(data: Any) -> pa.Table:
    """``data`` as the table evaluate_batch reads: a Table, a RecordBatch, or any object
    that exports an Arrow stream (``__arrow_c_stream__``: a polars DataFrame, a DuckDB
    result), with string views as plain strings; TypeError for anything else."""
    if isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.Table):
        table = data
    else:
        wanted = ("evaluate_batch takes a pyarrow.Table or RecordBatch, or an object that "
                  "exports an Arrow stream of records")
        if not hasattr(data, "__arrow_c_stream__"):
            raise TypeError(f"{wanted}, not {type(data).__name__}")
        try:
            table = pa.table(data)
        except pa.ArrowException as exc:  # a stream of values, not of records
            raise TypeError(f"{wanted}: {type(data).__name__} gives {exc}") from exc
    refuse_repeats("<table>", "table", table.column_names)
    plain = plain_schema(table.schema)
    return table if plain is None else table.cast(plain)


def chunk_plan(rows: int, workers: int,
               largest: int = MAX_CHUNK_ROWS) -> list[tuple[int, int]]:
    """(first row, rows) of the chunks ``evaluate_batch`` cuts ``rows`` into, in order.

    Chunks of ``largest`` rows (``MAX_CHUNK_ROWS`` unless the rules' Java calls take
    fewer): each chunk costs its worker about half a millisecond
    of Python whatever its size (the Java time of 3,000 rows), a third of the Python
    time of a chunk of 65,536 rows. Near the end they shrink, down to
    ``MIN_CHUNK_ROWS``, each at most two thirds of a worker's share of what is left:
    workers take the next chunk when they are free, so they finish about together. With
    equal chunks, one worker's last chunk ran alone for up to 11 ms of a 200 ms table
    (2M rows, 2 workers): Java's speed varies from chunk to chunk. Shrinking faster and
    less far than that (half a share, down to 16,384 rows: 18 chunks for 2M rows at 2
    workers, now 14) made the table 2-4% slower: a chunk's Python, which runs with
    caches that the other worker's Java has just filled, costs more than the ends' wait.

    The first chunks of all workers but the last are 1/W, 2/W, ... of their size: with
    equal first chunks, workers ended their Java calls at about the same moments, chunk
    after chunk, and waited for each other's turn for Python (``batch/chunk._TURNS``):
    2-16 ms of a 2M-row table at 2 workers, 0-7 ms with this, which made the table 3%
    faster (median of 15 pairs).
    """
    plan: list[tuple[int, int]] = []
    start = 0
    while start < rows:
        left = rows - start
        share = -(-2 * left // (3 * workers))  # two thirds of a worker's share, rounded up
        size = largest if workers <= 1 else max(MIN_CHUNK_ROWS, share)
        size = min(size, largest, left)
        if len(plan) < workers - 1:  # staggered starts (see above)
            size = max(1, size * (len(plan) + 1) // workers)
        plan.append((start, size))
        start += size
    return plan


def run_chunks(engine: Engine, chunks: Sequence[tuple[int, Batch]], workers: int,
               source: str) -> list[ChunkOutput]:
    """Process chunks on the engine's pool of ``workers`` threads (in this thread when
    one would do); outputs in chunk order."""
    def work(item: tuple[int, Batch]) -> ChunkOutput:
        start, batch = item
        return process_chunk(engine.compiled, engine.layout, batch, start, source)

    if workers <= 1 or len(chunks) <= 1:
        return [work(c) for c in chunks]
    return list(engine._pool(workers).map(work, chunks))


def load(rules: str | Path, builder: str = "gradle") -> Engine:
    """Build (cached) and load rules: a rules directory or a build-rules output."""
    return Engine(compile_rules(rules, builder=builder))
