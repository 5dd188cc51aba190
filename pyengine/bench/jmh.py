"""``pyengine bench jmh``: the compiled rules under JMH, the pure-Java baseline.

The transactions ``bench compare`` uses are converted to columns exactly as the
bridge converts them, and the Chunk calls that would bind them
(:meth:`CompiledRules.chunk_bindings`) are written to ``DIR/data``: one file per
input buffer and a ``bindings.txt`` naming them. ``java/src/jmh/java``'s
``RulesBenchmark`` replays those calls and times ``Evaluator.evaluateChunk``;
Gradle's ``jmh`` task (build.gradle) compiles it against the rules jar and runs
JMH once per thread count. JMH's JSON results are merged into ``DIR/jmh.json``,
which ``bench compare --jmh`` reads; its printed report (with any profiler's output)
is kept as ``DIR/jmh-THREADS.txt``.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pyengine import resources
from pyengine.batch.convert import convert_batch
from pyengine.batch.generate import transactions
from pyengine.build.compiler import gradle_project
from pyengine.engine import Engine
from pyengine.errors import BuildError
from pyengine.jvm.rules import RESULT_BINDINGS

# For a check that it runs, not a figure: one fork, one short iteration.
QUICK = "-f 1 -wi 1 -w 1s -i 1 -r 1s"


def write_data(engine: Engine, table: pa.Table, out: Path) -> int:
    """Write ``table``'s bound columns for RulesBenchmark; returns the row count."""
    compiled = engine.compiled
    columns = convert_batch(compiled.program.schema, table.combine_chunks().to_batches()[0])
    bindings, _ = compiled.chunk_bindings(columns, 0, columns.n)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"rows {columns.n}"]
    for k, (method, args) in enumerate(bindings):
        words = [method]
        for j, arg in enumerate(args):
            if arg is None:
                words.append("-")
            elif not isinstance(arg, np.ndarray):
                words.append(str(arg))
            elif method in RESULT_BINDINGS:  # Java writes them: sizes only
                words.append(f"zeros:{max(arg.nbytes, 1)}")
            else:
                name = f"{k}-{j}.bin"
                np.ascontiguousarray(arg).tofile(out / name)
                words.append(name)
        lines.append(" ".join(words))
    (out / "bindings.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return columns.n


def run_jmh(jar: Path, data: Path, rows: int, threads: int, jmh_args: str,
            result: Path) -> list[dict[str, Any]]:
    """Run RulesBenchmark through Gradle on ``threads`` threads; JMH's JSON entries."""
    args = (f"{jmh_args} -t {threads} -p data={data} -p rows={rows} -rf json -rff {result} "
            "RulesBenchmark")
    with tempfile.TemporaryDirectory(prefix="pyengine-jmh-") as work:
        project = Path(work)
        gradle = gradle_project(project, "jmh")
        cmd = [gradle, "--quiet", "--no-daemon", f"-PrulesJar={jar}",
               f"-PjmhSrc={resources.jmh_dir()}", f"-PjmhArgs={args}", "jmh"]
        done = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    # JMH's own report (and any profiler's, e.g. --jmh-args '-prof stack') beside the JSON.
    result.with_suffix(".txt").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0 or not result.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise BuildError(f"JMH through Gradle failed (exit {done.returncode}):\n{tail}")
    entries: list[dict[str, Any]] = json.loads(result.read_text())
    return entries


def run(engine: Engine, records: int, threads: list[int], jmh_args: str, out: Path) -> str:
    """Write the data, run JMH per thread count, write ``out/jmh.json``; returns a table."""
    rows = write_data(engine, transactions(records, seed=1), out / "data")
    entries = []
    for t in threads:
        entries += run_jmh(engine.compiled.loader.jar, (out / "data").resolve(), rows, t,
                           jmh_args, (out / f"jmh-{t}.json").resolve())
    (out / "jmh.json").write_text(json.dumps(entries, indent=2) + "\n")
    lines = [f"JMH RulesBenchmark.evaluateChunk, {rows:,} transactions per operation",
             f"{'threads':>7} {'tx/s':>14} {'± (99.9%)':>12}"]
    for e in entries:
        metric = e["primaryMetric"]
        error = float(metric["scoreError"])  # "NaN" (a string) after a single iteration
        spread = "-" if math.isnan(error) else f"{error * rows:,.0f}"
        lines.append(f"{e['threads']:>7} {metric['score'] * rows:>14,.0f} {spread:>12}")
    return "\n".join(lines)
