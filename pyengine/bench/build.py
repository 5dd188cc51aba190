"""Benchmark of ``build-rules``: cold builds with each builder and the unchanged rebuild.

    python -m pyengine.bench.build [--sets 100] [--rules 20] [--runs 3]

Each cold run uses an empty build cache and a new output directory; the unchanged rebuild
re-runs on the output of a finished build. Prints the median of the runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from pyengine.bench.rulesgen import write_rules_dir
from pyengine.build.builder import build_rules


def _timed_build(rules: Path, out: Path, builder: str, cache: Path) -> tuple[float, str]:
    os.environ["PYENGINE_CACHE_DIR"] = str(cache)
    start = time.perf_counter()
    result = build_rules(rules, out, builder)
    return time.perf_counter() - start, result.work


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per measurement."""
    parser = argparse.ArgumentParser(prog="python -m pyengine.bench.build")
    parser.add_argument("--sets", type=int, default=100)
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pyengine-bench-") as tmp:
        root = Path(tmp)
        rules = write_rules_dir(root / "rules", args.sets, args.rules)
        print(f"rules: {args.sets} rule sets x {args.rules} rules")
        for builder in ("gradle", "javac"):
            # Cold: a new output and an empty cache each run. Unchanged: run 0's output again.
            cold = [_timed_build(rules, root / f"{builder}{run}", builder,
                                 root / f"cache-{builder}{run}") for run in range(args.runs)]
            again = [_timed_build(rules, root / f"{builder}0", builder, root / f"cache-{builder}0")
                     for _ in range(max(5, args.runs))]
            assert {w for _, w in cold} == {"compiled"} and {w for _, w in again} == {"none"}
            _report(f"{builder:6} cold build:       ", [s for s, _ in cold])
            _report(f"{builder:6} unchanged rebuild:", [s for s, _ in again])
    return 0


def _report(label: str, seconds: list[float]) -> None:
    runs = ", ".join(f"{s:.3f}" for s in seconds)
    print(f"{label} median {statistics.median(seconds):7.3f} s  (runs: {runs})")


if __name__ == "__main__":
    raise SystemExit(main())
