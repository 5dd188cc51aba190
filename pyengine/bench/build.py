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
            cold = []
            for run in range(args.runs):
                seconds, work = _timed_build(rules, root / f"{builder}{run}", builder,
                                             root / f"cache-{builder}{run}")
                assert work == "compiled"
                cold.append(seconds)
            print(f"{builder:6} cold build:        median {statistics.median(cold):6.2f} s  "
                  f"(runs: {', '.join(f'{s:.2f}' for s in cold)})")
            again = []
            for _ in range(max(5, args.runs)):
                seconds, work = _timed_build(rules, root / f"{builder}0", builder,
                                             root / f"cache-{builder}0")
                assert work == "none"
                again.append(seconds)
            print(f"{builder:6} unchanged rebuild: median {statistics.median(again):6.3f} s  "
                  f"(runs: {', '.join(f'{s:.3f}' for s in again)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
