"""``pyengine bench compare``: pyengine beside the engines users would otherwise pick.

One run, the same transactions, the same rules. Each lane is timed (median of
``--runs`` for the batch lanes, one pass over a sample for the per-record ones)
and, except the Java loop, checked to give every row the decision, rule set and
fired ids that ``evaluate_batch`` gives it (failures must fail in both):

- ``evaluate_batch`` with 1..cores workers: the product;
- ``java loop``: the compiled rules alone over pre-bound columns, the physical limit
  (JMH's figure instead when ``--jmh FILE`` gives a JMH JSON result);
- ``Engine.evaluate``: one JPype call per transaction, the seed's callback pattern;
- ``reference``: the Python reference evaluator, the semantic oracle;
- ``polars``: the rules translated to polars expressions (pyengine.peers.to_polars);
- ``zen``: the rules translated to a GoRules ZEN decision (pyengine.peers.to_zen),
  through its per-record API and its batch API.

Results go to ``compare.json`` and a bar chart to ``compare.png``.
"""

from __future__ import annotations

import gc
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from pyengine.batch.chunk import json_safe
from pyengine.batch.generate import transactions
from pyengine.bench.batch import java_loop_seconds
from pyengine.engine import BatchResult, Engine, default_workers
from pyengine.errors import RecordError
from pyengine.peers import FAILED, Key, outcome_key
from pyengine.pipeline import load_program
from pyengine.reference.evaluator import evaluate

# The goals: pyengine's 2-worker evaluate_batch against each lane.
GOALS = {"polars": 1.5, "reference": 20.0, "zen per record": 100.0, "java loop": 0.9}


@dataclass
class Lane:
    """One measured way of evaluating the rules."""

    name: str
    workers: int
    records: int  # how many transactions were timed per run
    tps: float
    checked: int  # rows compared with evaluate_batch (0: not comparable)
    mismatches: int
    note: str = ""  # a line for the table
    detail: str = ""  # the whole story, for compare.json


def batch_keys(result: BatchResult, count: int) -> list[Key]:
    """Each row's key from an ``evaluate_batch`` result."""
    keys: list[Key] = [FAILED] * count
    rows = result.results.select(["position", "ruleset", "decision", "fired"]).to_pylist()
    for row in rows:
        keys[row["position"]] = (row["ruleset"], row["decision"], tuple(row["fired"]))
    return keys


def timed(action: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median seconds of ``runs`` calls, and the last call's value.

    Objects that exist before timing (the transactions, earlier lanes' results) are
    frozen out of the cyclic GC: otherwise every collection a lane triggers rescans
    millions of them, and a lane that allocates many dicts (ZEN's batch API) would be
    charged for the size of the others' data.
    """
    seconds, value = [], None
    gc.collect()
    gc.freeze()
    for _ in range(runs):
        start = time.perf_counter()
        value = action()
        seconds.append(time.perf_counter() - start)
    gc.unfreeze()
    return statistics.median(seconds), value


def count_mismatches(expected: list[Key], got: Iterable[Key]) -> tuple[int, int]:
    """(rows compared, rows that differ)."""
    pairs = list(zip(expected, got, strict=False))
    return len(pairs), sum(a != b for a, b in pairs)


class Comparison:
    """The lanes of one ``bench compare`` run over one table."""

    def __init__(self, engine: Engine, table: pa.Table, runs: int, sample: int):
        self.engine, self.table, self.runs = engine, table, runs
        self.rows = [json_safe(r) for r in table.slice(0, sample).to_pylist()]
        self.lanes: list[Lane] = []
        self.expected: list[Key] = []

    def add(self, name: str, workers: int, records: int, seconds: float,
            keys: Iterable[Key] | None, note: str = "", detail: str = "") -> None:
        """Record a lane, comparing its keys with evaluate_batch's."""
        checked, bad = count_mismatches(self.expected, keys) if keys is not None else (0, 0)
        self.lanes.append(Lane(name, workers, records, records / seconds, checked, bad, note,
                               detail))

    def batch(self, workers: list[int]) -> None:
        n = self.table.num_rows
        self.engine.evaluate_batch(self.table.slice(0, min(n, 200_000)), workers=1)  # JIT
        for w in workers:
            def once(w: int = w) -> BatchResult:
                return self.engine.evaluate_batch(self.table, w)

            seconds, result = timed(once, self.runs)
            if not self.expected:
                self.expected = batch_keys(result, n)
            self.add("evaluate_batch", w, n, seconds, batch_keys(result, n))

    def java_loop(self, workers: list[int], jmh: dict[int, float]) -> None:
        n = self.table.num_rows
        for w in workers:
            if w in jmh:
                self.lanes.append(Lane("java loop", w, n, jmh[w], 0, 0, "JMH"))
                continue
            seconds = statistics.median(java_loop_seconds(self.engine, self.table, w)
                                        for _ in range(self.runs))
            self.add("java loop", w, n, seconds, None, "in-process timing")

    def single_calls(self) -> None:
        def one(row: dict[str, Any]) -> Key:
            try:
                out = self.engine.evaluate(row)
            except RecordError:
                return FAILED
            return out["ruleset"], out["decision"], tuple(out["fired"])

        for row in self.rows[: len(self.rows) // 10]:
            one(row)  # JIT warm-up
        seconds, keys = timed(lambda: [one(r) for r in self.rows], 1)
        self.add("Engine.evaluate", 1, len(self.rows), seconds, keys)

    def reference(self, sample: int) -> None:
        program = self.engine.program

        rows = self.rows[:sample]
        seconds, keys = timed(lambda: [outcome_key(evaluate(program, r)) for r in rows], 1)
        self.add("reference", 1, len(rows), seconds, keys)

    def peers(self, rules: Path, sample: int) -> None:
        """The polars and ZEN lanes, timed in a child process without a JVM.

        A started JVM slows ZEN's batch API several times over in this process
        (measured: 14.7K/s without a JVM, 3K/s with one, for 20,000 records; why is not
        established), which is no fault of ZEN's: each peer runs as it would on its own.
        """
        with tempfile.TemporaryDirectory(prefix="pyengine-compare-") as work:
            out = Path(work) / "lanes.pickle"
            subprocess.run([sys.executable, "-m", "pyengine.bench.compare", str(rules),
                            str(self.table.num_rows), str(self.runs), str(sample), str(out)],
                           check=True)
            lanes: list[PeerLane] = pickle.loads(out.read_bytes())
        for lane in lanes:
            self.add(*lane)


# (name, workers, records, seconds, keys, note, detail), the arguments of Comparison.add
PeerLane = tuple[str, int, int, float, list[Key], str, str]


def peer_lanes(rules: Path, records: int, runs: int, sample: int) -> list[PeerLane]:
    """Time polars and ZEN over ``transactions(records, seed=1)``: the lanes with the
    keys each gave, for the parent's check against evaluate_batch."""
    import polars as pl

    from pyengine.peers.to_polars import translate as to_polars
    from pyengine.peers.to_zen import translate as to_zen

    program = load_program(rules)
    table = transactions(records, seed=1)
    polars = to_polars(program)
    seconds, frame = timed(lambda: polars.evaluate(table), runs)
    keys = [FAILED if r["failed"] else (r["ruleset"], r["decision"], tuple(r["fired"]))
            for r in frame.select(["ruleset", "decision", "fired", "failed"])
            .iter_rows(named=True)]
    lanes: list[PeerLane] = [("polars", pl.thread_pool_size(), records, seconds, keys,
                              "polars thread pool", "")]
    zen = to_zen(program)
    rows = [json_safe(r) for r in table.slice(0, sample).to_pylist()]
    seconds, keys = timed(lambda: [zen.evaluate(r) for r in rows], 1)
    lanes.append(("zen per record", 1, len(rows), seconds, keys, zen.note, zen.detail))
    seconds, keys = timed(lambda: zen.evaluate_many(rows), 1)
    lanes.append(("zen batch API", 1, len(rows), seconds, keys, zen.note, zen.detail))
    return lanes


def measure(engine: Engine, rules: Path, records: int, workers: list[int], runs: int,
            sample: int, jmh: dict[int, float]) -> dict[str, Any]:
    """Every lane over the same ``records`` transactions, as a JSON-able dict."""
    table = transactions(records, seed=1)
    c = Comparison(engine, table, runs, min(records, sample * 10))
    c.batch(workers)
    c.java_loop(workers, jmh)
    c.single_calls()
    c.reference(min(records, sample))
    c.peers(rules, min(records, sample))
    return {"records": records, "runs": runs, "cores": default_workers(),
            "rules": engine.ruleset_version, "lanes": [asdict(lane) for lane in c.lanes],
            "goals": goals(c.lanes, max(workers))}


def goals(lanes: list[Lane], workers: int) -> list[dict[str, Any]]:
    """pyengine's throughput at ``workers`` against each goal's lane."""
    ours = next((x.tps for x in lanes if x.name == "evaluate_batch" and x.workers == workers),
                0.0)
    rows = []
    for name, goal in GOALS.items():
        same = [x for x in lanes if x.name == name and x.tps > 0]
        at = [x for x in same if x.workers == workers] or same
        if at:
            ratio = ours / at[0].tps
            rows.append({"lane": name, "goal": goal, "ratio": ratio, "met": ratio >= goal})
    return rows


def table_text(result: dict[str, Any]) -> str:
    """Throughput, ratio and agreement per lane, then the goals."""
    lanes = result["lanes"]
    best = max((x["tps"] for x in lanes if x["name"] == "evaluate_batch"), default=0.0)
    lines = [f"{result['records']:,} transactions, {result['cores']} cores, "
             f"median of {result['runs']} runs (per-record lanes: one pass over a sample)",
             f"{'lane':<16} {'workers':>7} {'records':>10} {'tx/s':>12} {'vs pyengine':>11}"
             f"  same decisions",
             "─" * 80]
    for x in lanes:
        ratio = f"{x['tps'] / best:10.3f}x" if best and x["tps"] else "         -"
        same = (f"{x['checked'] - x['mismatches']:,}/{x['checked']:,}" if x["checked"]
                else "not compared")
        lines.append(f"{x['name']:<16} {x['workers']:>7} {x['records']:>10,} {x['tps']:>12,.0f} "
                     f"{ratio:>11}  {same}{'  (' + x['note'] + ')' if x['note'] else ''}")
    lines.append("")
    for g in result["goals"]:
        verdict = "met" if g["met"] else "missed"
        lines.append(f"goal: evaluate_batch >= {g['goal']}x {g['lane']}: {g['ratio']:.2f}x, "
                     f"{verdict}")
    return "\n".join(lines)


def write_chart(result: dict[str, Any], path: Path) -> None:
    """Throughput per lane as horizontal bars (log scale: the lanes span 4 decades)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lanes = [x for x in result["lanes"] if x["tps"] > 0]
    labels = [f"{x['name']} ({x['workers']}w)" for x in lanes]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(lanes) + 1.5))
    colors = ["#4472c4" if x["name"] == "evaluate_batch" else "#a5a5a5" for x in lanes]
    ax.barh(labels, [x["tps"] for x in lanes], color=colors)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("transactions per second (log scale)")
    ax.set_title(f"bench compare: {result['records']:,} transactions, {result['cores']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_jmh(path: Path | None) -> dict[int, float]:
    """Transactions/s per thread count from a JMH JSON result (see docs/benchmarks.md)."""
    if path is None:
        return {}
    figures: dict[int, float] = {}
    for entry in json.loads(path.read_text()):
        metric = entry["primaryMetric"]
        if metric["scoreUnit"] != "ops/s":
            continue
        rows = int(entry.get("params", {}).get("rows", 1))
        figures[int(entry["threads"])] = metric["score"] * rows
    return figures


def run(engine: Engine, rules: Path, records: int, workers: list[int], runs: int, sample: int,
        out: Path, jmh: Path | None = None) -> str:
    """Measure, write ``out/compare.json`` and ``out/compare.png``; returns the table.
    ``rules`` is the rules directory ``engine`` was built from (for the peers' process)."""
    result = measure(engine, rules, records, workers, runs, sample, read_jmh(jmh))
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    write_chart(result, out / "compare.png")
    return table_text(result)


def main(argv: list[str] | None = None) -> int:
    """The peers' process: ``RULES RECORDS RUNS SAMPLE OUT`` (see Comparison.peers)."""
    rules, records, runs, sample, out = argv or sys.argv[1:]
    lanes = peer_lanes(Path(rules), int(records), int(runs), int(sample))
    Path(out).write_bytes(pickle.dumps(lanes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
