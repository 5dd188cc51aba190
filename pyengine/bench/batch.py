"""Benchmark of ``evaluate_batch`` against the Java loop alone, in one run.

    python -m pyengine.bench.batch [--rules examples/rules] [--records 2000000]
                                   [--workers 1,2] [--runs 3] [--single-calls 100000]

"java loop" times only ``Evaluator.evaluateChunk`` over columns converted and bound
beforehand, one Java thread per worker over disjoint row ranges: the physical limit
of the compiled rules. "evaluate_batch" times the Python API end to end on an
in-memory Arrow table: conversion, the Java calls, building the Arrow results.
"Engine.evaluate" times single transactions (dicts as JSON gives them) on one thread.
Each run times the Java loop and then ``evaluate_batch``; the ratio printed is the
median of the runs' ratios, with their range.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from pyengine.batch.chunk import json_safe
from pyengine.batch.convert import convert_batch
from pyengine.batch.generate import transactions
from pyengine.engine import Engine, load
from pyengine.errors import RecordError


def java_loop_seconds(engine: Engine, table: Any, workers: int) -> float:
    """Seconds for ``workers`` Java threads to evaluate the whole table once."""
    compiled = engine.compiled
    columns = convert_batch(compiled.program.schema, table.combine_chunks().to_batches()[0])
    bounds = [columns.n * k // workers for k in range(workers + 1)]
    # Bind one chunk per worker over that worker's rows, outside the timed part.
    bound = [compiled.bind_columns(columns, bounds[k], bounds[k + 1]) for k in range(workers)]
    barrier = threading.Barrier(workers + 1)

    def work(k: int) -> None:
        evaluator = compiled.rules_class.newEvaluator()
        evaluator.evaluateChunk(bound[k].chunk, 0, bound[k].rows)  # warm up this thread
        barrier.wait()
        evaluator.evaluateChunk(bound[k].chunk, 0, bound[k].rows)
        barrier.wait()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    barrier.wait()
    seconds = time.perf_counter() - start
    for t in threads:
        t.join()
    return seconds


def single_calls_per_second(engine: Engine, table: Any, calls: int) -> float:
    """``Engine.evaluate`` calls per second on one thread, over the table's first rows."""
    rows = [json_safe(r) for r in table.slice(0, calls).to_pylist()]

    def call_each(rows: list[dict[str, Any]]) -> None:
        # try/except, not contextlib.suppress: entering a context manager per call
        # would add about 0.4 µs to each call measured
        for row in rows:
            try:  # noqa: SIM105 (see above)
                engine.evaluate(row)
            except RecordError:
                pass  # a dead letter costs the same call

    call_each(rows[: calls // 10])  # JIT warm-up
    start = time.perf_counter()
    call_each(rows)
    return len(rows) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the medians and ratios."""
    parser = argparse.ArgumentParser(prog="python -m pyengine.bench.batch")
    parser.add_argument("--rules", type=Path, default=Path("examples/rules"))
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--builder", default="javac")
    parser.add_argument("--single-calls", type=int, default=100_000)
    args = parser.parse_args(argv)
    engine = load(args.rules, builder=args.builder)
    table = transactions(args.records, seed=1)
    print(f"{args.records:,} transactions, {args.rules}")
    base: dict[int, float] = {}
    for workers in [int(w) for w in args.workers.split(",")]:
        # Warm up this many workers' threads and their Java evaluators first, as the
        # Java loop warms each of its threads: the first call starts them. Two calls
        # over the whole table: the first two in a process ran at about 50% and 80% of
        # the later ones' speed (the process grows to hold a table's results).
        for _ in range(2):
            engine.evaluate_batch(table, workers=workers)
        java, api = [], []
        for _ in range(args.runs):
            # back to back, so that both see the machine at the same speed: on this
            # VM, the Java loop's time alone varies by up to a fifth from run to run
            java.append(java_loop_seconds(engine, table, workers))
            start = time.perf_counter()
            engine.evaluate_batch(table, workers=workers)
            api.append(time.perf_counter() - start)
        ratios = [j / a for j, a in zip(java, api, strict=True)]
        batch = args.records / statistics.median(api)
        base.setdefault(1, batch)
        print(f"workers {workers}: java loop {args.records / statistics.median(java):12,.0f}/s"
              f"   evaluate_batch {batch:12,.0f}/s   ratio {statistics.median(ratios):.2f}"
              f" ({min(ratios):.2f}-{max(ratios):.2f})"
              f"   scaling vs 1 worker {batch / base[1]:.2f}")
    single = statistics.median(single_calls_per_second(engine, table, args.single_calls)
                               for _ in range(args.runs))
    print(f"Engine.evaluate (one thread): {single:12,.0f} calls/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
