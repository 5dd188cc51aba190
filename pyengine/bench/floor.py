"""The least CPU any ``run`` of a Parquet file needs: its three unavoidable parts alone.

    python -m pyengine.bench.floor --rules DIR --input FILE --results OUT/results
                                   [--workers N] [--java-rows 2000000] [--compression zstd]

Each part is timed on its own, in this process, in CPU-seconds (user + system, all
threads):

- *reading*: the input streamed as ``run`` reads it (same batches, same columns read
  dictionary-encoded), and nothing else;
- *the Java loop*: the compiled rules over columns converted and bound beforehand
  (:func:`pyengine.bench.batch.java_loop_seconds`) on the first ``--java-rows`` rows,
  its wall time times its threads, scaled to the whole input;
- *writing*: the results of a finished run (``--results``), read into memory first,
  then written again by ``run``'s part writer, in chunks of ``run``'s size, with
  ``--compression``.

Their sum over the cores is the best throughput ``run`` could reach on this machine
with nothing else to do: no conversion, no result building, no JIT, no checkpoints.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pyengine.batch import COMPRESSIONS, DEFAULT_COMPRESSION
from pyengine.batch.inputs import read_input
from pyengine.batch.job import JobConfig, dictionary_fields
from pyengine.batch.parts import PartWriter
from pyengine.bench.batch import java_loop_seconds
from pyengine.engine import Engine, load


def cpu_seconds() -> float:
    """User and system CPU-seconds of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(work: Callable[[], object]) -> float:
    """CPU-seconds ``work()`` took."""
    start = cpu_seconds()
    work()
    return cpu_seconds() - start


def reading_seconds(engine: Engine, source: Path) -> tuple[float, int]:
    """(CPU-seconds, records) of streaming ``source`` as ``run`` reads it."""
    strings = dictionary_fields(engine.program)
    records = 0

    def read() -> None:
        nonlocal records
        for item in read_input(source, JobConfig.chunk_rows, strings):
            records += len(item)

    return timed(read), records


def writing_seconds(engine: Engine, results: Path, out: Path, compression: str) -> float:
    """CPU-seconds of writing the part files in ``results`` again, as ``run`` writes them."""
    parts = sorted(results.glob("part-*.parquet"))
    if not parts:
        raise SystemExit(f"{results}: no part files (run the input first)")
    tables = [pq.read_table(p) for p in parts]  # read before the clock starts
    out.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        for k, table in enumerate(tables):
            writer = PartWriter(out / f"part-{k:06d}.parquet", engine.layout,
                                threading.Semaphore(4), compression)
            for batch in table.to_batches(JobConfig.chunk_rows):
                writer.add(pa.Table.from_batches([batch]))  # a chunk's results
            writer.close().result()

    return timed(write)


def java_seconds(engine: Engine, source: Path, rows: int, workers: int) -> tuple[float, int]:
    """(CPU-seconds, rows) of the Java loop over the first ``rows`` rows of ``source``."""
    first = pa.Table.from_batches([next(pq.ParquetFile(source).iter_batches(batch_size=rows))])
    # The loop's threads are busy from its start to its end: CPU is wall time per thread.
    return java_loop_seconds(engine, first, workers) * workers, first.num_rows


def main(argv: list[str] | None = None) -> int:
    """Time the three parts and print them, their sum and the throughput it allows."""
    parser = argparse.ArgumentParser(prog="python -m pyengine.bench.floor")
    parser.add_argument("--rules", type=Path, default=Path("examples/rules"))
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--java-rows", type=int, default=2_000_000)
    parser.add_argument("--compression", choices=COMPRESSIONS, default=DEFAULT_COMPRESSION)
    parser.add_argument("--scratch", type=Path, default=None,
                        help="where the results are written again (default: next to --results)")
    args = parser.parse_args(argv)
    if args.input.suffix != ".parquet":  # text is parsed on the workers, not when read
        parser.error(f"{args.input}: the floor is measured for a .parquet file")
    engine = load(args.rules, builder="javac")
    reading, records = reading_seconds(engine, args.input)
    java, rows = java_seconds(engine, args.input, args.java_rows, args.workers)
    java *= records / rows
    writing = writing_seconds(engine, args.results, args.scratch or args.results.parent / "floor",
                              args.compression)
    total = reading + java + writing
    print(json.dumps({"records": records, "workers": args.workers,
                      "reading_cpu_seconds": round(reading, 3),
                      "java_loop_cpu_seconds": round(java, 3),
                      "writing_cpu_seconds": round(writing, 3),
                      "total_cpu_seconds": round(total, 3),
                      "best_tps": round(records / (total / args.workers))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
