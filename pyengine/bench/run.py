"""Benchmark of ``pyengine run`` end to end: Parquet in, Parquet results out.

    python -m pyengine.bench.run [--rules examples/rules] [--records 10000000,1000000]
                                 [--runs 3] [--workers 2] [--data DIR] [--polars] [--floor]
                                 [--compression zstd]

Each size is generated once (with 0.1% bad records) into --data, then run --runs
times as a separate ``python -m pyengine run`` process into a fresh output
directory, checkpoints included. Throughput is the report's (records over the
wall time of the run, JVM start excluded); peak memory is the process's maximum
resident set size. With ``--polars``, each size also runs the pyarrow + polars
script (pyengine.bench.polars_script) over the same file, in the same session. With
``--floor``, each size also measures the least CPU any run of it needs
(pyengine.bench.floor: reading, the Java loop and writing alone) and the throughput
that allows on these cores. ``--compression`` is passed to ``run``, and the script and
the floor write their results with the same codec.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pyengine.batch import COMPRESSIONS, DEFAULT_COMPRESSION


def run_once(rules: Path, source: Path, out: Path, workers: int,
             compression: str) -> tuple[float, int]:
    """(transactions per second, peak RSS in bytes) of one ``run`` process."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "pyengine", "run", "--rules", str(rules), "--input",
               str(source), "--output", str(out), "--workers", str(workers),
               "--compression", compression, "--quiet", "--json"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    report = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"run failed with exit {proc.returncode}: {' '.join(command)}")
    return float(json.loads(report)["tps"]), usage.ru_maxrss * 1024


def polars_once(rules: Path, source: Path, out: Path, compression: str) -> float:
    """Transactions per second of one pyarrow + polars script process."""
    out.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "pyengine.bench.polars_script", str(rules),
                           str(source), str(out), compression],
                          check=True, capture_output=True, text=True)
    return float(json.loads(done.stdout)["tps"])


def floor_once(rules: Path, source: Path, results: Path, workers: int,
               compression: str) -> dict[str, float]:
    """The floor of ``source`` (pyengine.bench.floor), in a process of its own, with
    Arrow's allocator set as the ``pyengine`` command sets it."""
    env = {**os.environ, "MIMALLOC_ALLOW_THP": os.environ.get("MIMALLOC_ALLOW_THP", "0")}
    done = subprocess.run([sys.executable, "-m", "pyengine.bench.floor", "--rules", str(rules),
                           "--input", str(source), "--results", str(results),
                           "--workers", str(workers), "--compression", compression],
                          check=True, capture_output=True, text=True, env=env)
    floor: dict[str, float] = json.loads(done.stdout)
    return floor


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the medians per size."""
    parser = argparse.ArgumentParser(prog="python -m pyengine.bench.run")
    parser.add_argument("--rules", type=Path, default=Path("examples/rules"))
    parser.add_argument("--records", default="10000000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "pyengine-bench")
    parser.add_argument("--polars", action="store_true",
                        help="also time the pyarrow + polars script on each file")
    parser.add_argument("--floor", action="store_true",
                        help="also measure the least CPU a run of each file needs")
    parser.add_argument("--compression", choices=COMPRESSIONS, default=DEFAULT_COMPRESSION,
                        help="codec of the results' files (run's --compression)")
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    peaks: dict[int, int] = {}
    for n in [int(x) for x in args.records.split(",")]:
        source = args.data / f"transactions-{n}.parquet"
        if not source.exists():
            # In a child process: a forked child starts with this process's peak memory
            # as its own, so this process must stay small.
            subprocess.run([sys.executable, "-m", "pyengine", "generate", "--count", str(n),
                            "--out", str(source), "--seed", "1", "--bad-fraction", "0.001"],
                           check=True, stdout=subprocess.DEVNULL)
        runs = [run_once(args.rules, source, args.data / "out", args.workers, args.compression)
                for _ in range(args.runs)]
        tps = statistics.median(r[0] for r in runs)
        peaks[n] = max(r[1] for r in runs)
        print(f"{n:>12,} records, {args.workers} workers: {tps:12,.0f} transactions/s "
              f"(runs: {', '.join(f'{r[0]:,.0f}' for r in runs)}), "
              f"peak memory {peaks[n] / 2**20:,.0f} MiB")
        if args.polars:
            script = [polars_once(args.rules, source, args.data / "polars.parquet",
                                  args.compression) for _ in range(args.runs)]
            median = statistics.median(script)
            print(f"{'':>12}  pyarrow + polars script: {median:12,.0f} transactions/s "
                  f"(runs: {', '.join(f'{r:,.0f}' for r in script)}); run / script "
                  f"{tps / median:.2f}x")
        if args.floor:
            f = floor_once(args.rules, source, args.data / "out" / "results", args.workers,
                           args.compression)
            print(f"{'':>12}  floor: reading {f['reading_cpu_seconds']:.2f}, Java loop "
                  f"{f['java_loop_cpu_seconds']:.2f}, writing {f['writing_cpu_seconds']:.2f} "
                  f"CPU-s; at best {f['best_tps']:12,.0f} transactions/s on "
                  f"{args.workers} cores; run is {tps / f['best_tps']:.2f}x of it")
    if len(peaks) > 1:
        small, large = min(peaks), max(peaks)
        print(f"peak memory {large:,} / {small:,} records: {peaks[large] / peaks[small]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
