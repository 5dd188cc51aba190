"""Benchmark of ``evaluate_batch`` against the Java loop alone, in one run.

    python -m pyengine.bench.batch [--rules examples/rules] [--records 2000000]
                                   [--workers 1,2] [--runs 3] [--forks 1]
                                   [--single-calls 100000] [--json]

"java loop" times only ``Evaluator.evaluateChunk`` over columns converted and bound
beforehand, one Java thread per worker over disjoint row ranges: the physical limit
of the compiled rules. "evaluate_batch" times the Python API end to end on an
in-memory Arrow table: conversion, the Java calls, building the Arrow results.
"Engine.evaluate" times single transactions (dicts as JSON gives them) on one thread.
Each run times the Java loop and then ``evaluate_batch``; the ratio printed is the
median of the runs' ratios, with their range. With ``--forks N`` the runs are made in N
processes one after the other (each its own JVM, as JMH forks), and the medians are
over all of them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
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
    bound = [compiled.bind_columns(columns, bounds[k], bounds[k + 1], bounds[k])
             for k in range(workers)]
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


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """This process's timings: per worker count, the seconds of each run's Java loop and
    ``evaluate_batch`` (``"java"``, ``"api"``); the ``Engine.evaluate`` rates (``"single"``)."""
    engine = load(args.rules, builder=args.builder)
    table = transactions(args.records, seed=1)
    timings: dict[str, Any] = {"workers": {}, "single": []}
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
        timings["workers"][str(workers)] = {"java": java, "api": api}
    timings["single"] = [single_calls_per_second(engine, table, args.single_calls)
                         for _ in range(args.runs)]
    return timings


def forked(args: argparse.Namespace, argv: list[str]) -> list[dict[str, Any]]:
    """:func:`measure` in ``args.forks`` new processes, one after the other.

    One process's median of 15 runs at 2 workers differed from the next one's by up to
    0.14 (0.81 and 0.95, the same code) while the example rules still allocated, and by
    0.03 since: what a process draws (its JIT's compilation, its memory layout, when its
    collections come) all its runs share. Pooling the runs of several processes
    averages over those draws, as JMH's forks do.
    """
    command = [sys.executable, "-m", "pyengine.bench.batch", *argv, "--forks", "1", "--json"]
    return [timings for _ in range(args.forks)
            for timings in json.loads(subprocess.run(command, check=True, capture_output=True,
                                                     text=True).stdout)]


def _ratios(timings: dict[str, list[float]]) -> list[float]:
    """Each paired run's Java loop time over its ``evaluate_batch`` time."""
    return [j / a for j, a in zip(timings["java"], timings["api"], strict=True)]


def report(records: int, forks: list[dict[str, Any]]) -> None:
    """Print the medians over every run of every fork, and the ratios' range."""
    base: dict[int, float] = {}
    for key in forks[0]["workers"]:
        workers = int(key)
        java = [s for f in forks for s in f["workers"][key]["java"]]
        api = [s for f in forks for s in f["workers"][key]["api"]]
        ratios = _ratios({"java": java, "api": api})
        batch = records / statistics.median(api)
        base.setdefault(1, batch)
        line = (f"workers {workers}: java loop {records / statistics.median(java):12,.0f}/s"
                f"   evaluate_batch {batch:12,.0f}/s   ratio {statistics.median(ratios):.2f}"
                f" ({min(ratios):.2f}-{max(ratios):.2f})"
                f"   scaling vs 1 worker {batch / base[1]:.2f}")
        if len(forks) > 1:
            medians = sorted(statistics.median(_ratios(f["workers"][key])) for f in forks)
            line += "   forks' ratios " + ", ".join(f"{m:.2f}" for m in medians)
        print(line)
    single = statistics.median(r for f in forks for r in f["single"])
    print(f"Engine.evaluate (one thread): {single:12,.0f} calls/s")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the medians and ratios."""
    parser = argparse.ArgumentParser(prog="python -m pyengine.bench.batch")
    parser.add_argument("--rules", type=Path, default=Path("examples/rules"))
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--runs", type=int, default=3, help="runs per process")
    parser.add_argument("--forks", type=int, default=1,
                        help="processes to measure in, one after the other; 1: this one")
    parser.add_argument("--builder", default="javac")
    parser.add_argument("--single-calls", type=int, default=100_000)
    parser.add_argument("--json", action="store_true",
                        help="print each process's timings as a JSON list, not the medians")
    args = parser.parse_args(argv)
    if args.forks > 1:
        forks = forked(args, list(sys.argv[1:] if argv is None else argv))
    else:
        forks = [measure(args)]
    if args.json:
        print(json.dumps(forks))
        return 0
    print(f"{args.records:,} transactions, {args.rules}"
          + (f", {args.forks} processes" if args.forks > 1 else ""))
    report(args.records, forks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
