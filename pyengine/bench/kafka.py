"""Benchmark of Kafka mode: Kafka -> pyengine -> Kafka, exactly once, 1 and 2 members.

    python -m pyengine.bench.kafka [--servers 127.0.0.1:9092] [--records 4000000]
                                   [--members 1,2] [--partitions 4] [--runs 3]
                                   [--broker-pid PID]

For each run: a fresh 4-partition input topic filled by ``generate`` (0.1% bad),
then N members (``run --input kafka://...`` processes, one worker thread each) of
a fresh group. Throughput is the input size over the time from the first batch
any member started to the last batch any member committed: JVM start-up and the
idle wait at the end are left out, but not the JIT compiling the hot Java code (about
1.2 s of CPU per member, on a compiler thread) nor the half second the second member to
join the group waits for its partitions. The default input, 14-20 s of work for two
members on a 2-core machine, keeps those to a small part of the window; with 1.2M
messages (6 s) they took a fifth of it, and the figure was one of warming up. A run in
which a member consumed nothing is refused: it would be a figure for fewer members.

What limits a run: the machine's CPU time in that same window (sampled from ``/proc``
every 50 ms, on Linux), split into the members' processes, the broker's (the process
``--broker-pid`` names, by default the one ``scripts/kafka-local`` started) and the
rest, with the share left idle.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pyengine.kafka.generate import produce_transactions
from pyengine.kafka.url import parse_url

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Sample:
    """CPU seconds used so far: by the whole machine (busy and idle), the members, the
    broker; at ``time`` (epoch seconds)."""

    time: float
    busy: float
    idle: float
    members: float
    broker: float


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used, 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:8]]
    idle = ticks[3] + ticks[4]  # idle and waiting for I/O
    return (sum(ticks) - idle) / _TICK, idle / _TICK


class Sampler:
    """Samples CPU use every ``period`` seconds on a thread, until stopped."""

    def __init__(self, members: list[int], broker: int | None, period: float = 0.05):
        self.members, self.broker, self.period = members, broker, period
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._last: dict[int, float] = {}  # a member's CPU when last seen alive
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.samples.append(self._sample())

    def _sample(self) -> Sample:
        busy, idle = _machine_cpu()
        for pid in self.members:  # a member that ended keeps its last figure
            self._last[pid] = max(self._last.get(pid, 0.0), _process_cpu(pid))
        broker = _process_cpu(self.broker) if self.broker else 0.0
        return Sample(time.time(), busy, idle, sum(self._last.values()), broker)

    def stop(self) -> None:
        """Take no more samples."""
        self._stop.set()
        self._thread.join()

    def between(self, first: float, last: float) -> str:
        """Where the machine's CPU time went from ``first`` to ``last`` (epoch seconds)."""
        inside = [s for s in self.samples if first <= s.time <= last]
        if len(inside) < 2:
            return "CPU use not sampled"
        a, b = inside[0], inside[-1]
        total = (b.busy - a.busy) + (b.idle - a.idle)
        if total <= 0:  # no clock tick between them: nothing to divide
            return "CPU use not sampled"
        members, broker = b.members - a.members, b.broker - a.broker
        # The processes' times and the machine's are read a moment apart: "other" can
        # come out a little below zero on a machine doing nothing else.
        other = max(0.0, (b.busy - a.busy) - members - broker)
        return (f"CPU in the window: members {members / total:.0%}, broker {broker / total:.0%},"
                f" other {other / total:.0%}, idle {(b.idle - a.idle) / total:.0%}")


def _broker_pid(given: int | None) -> int | None:
    """The broker's process: ``given``, or the one scripts/kafka-local started, if any."""
    if given is not None:
        return given
    # scripts/kafka-local keeps its state in the repository unless told otherwise.
    default = Path(__file__).resolve().parents[2] / ".kafka-local"
    state = Path(os.environ.get("PYENGINE_KAFKA_STATE", default)) / "broker.pid"
    try:
        return int(state.read_text().strip())
    except (OSError, ValueError):
        return None


def run_once(servers: str, rules: Path, records: int, members: int, partitions: int,
             batch_size: int, broker: int | None = None) -> tuple[float, str]:
    """(transactions per second, where the CPU went) of one run with ``members`` members."""
    tag = uuid.uuid4().hex[:8]
    url = {name: f"kafka://{servers}/bench-{name}-{tag}" for name in ("in", "out", "dlq")}
    produce_transactions(parse_url(url["in"]), records, partitions, seed=1, bad_fraction=0.001)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "pyengine", "run", "--rules", str(rules), "--input", url["in"],
         "--output", url["out"], "--dlq", url["dlq"], "--group", f"bench-{tag}",
         "--member", f"m{k}", "--workers", "1", "--batch-size", str(batch_size),
         "--stop-when-idle", "3s", "--json", "--builder", "javac"],
        stdout=subprocess.PIPE, text=True) for k in range(members)]
    sampler = Sampler([p.pid for p in procs], broker)
    reports = []
    try:
        for proc in procs:
            out, _ = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"a member failed with exit {proc.returncode}")
            reports.append(json.loads(out)["kafka"])
    finally:
        sampler.stop()
    idle = [r["member"] for r in reports if not r["first_batch"]]
    if idle:
        raise SystemExit(f"member {', '.join(idle)} consumed nothing: not a {members}-member run")
    first = min(float(r["first_batch"]) for r in reports)
    last = max(float(r["last_batch"]) for r in reports)
    return records / (last - first), sampler.between(first, last)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the median throughput per member count."""
    parser = argparse.ArgumentParser(prog="python -m pyengine.bench.kafka")
    parser.add_argument("--servers", default="127.0.0.1:9092")
    parser.add_argument("--rules", type=Path, default=Path("examples/rules"))
    parser.add_argument("--records", type=int, default=4_000_000)
    parser.add_argument("--members", default="1,2")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--broker-pid", type=int, default=None,
                        help="the broker's process, for its CPU time (default: the one "
                             "scripts/kafka-local started)")
    args = parser.parse_args(argv)
    broker = _broker_pid(args.broker_pid)
    print(f"{args.records:,} transactions, {args.partitions} partitions, {args.rules}")
    for members in [int(m) for m in args.members.split(",")]:
        runs = [run_once(args.servers, args.rules, args.records, members, args.partitions,
                         args.batch_size, broker) for _ in range(args.runs)]
        figures = [tps for tps, _ in runs]
        median = statistics.median(figures)
        print(f"{members} member{'s' if members > 1 else ' '}: "
              f"{median:10,.0f} transactions/s end to end, exactly once "
              f"(runs: {', '.join(f'{r:,.0f}' for r in figures)})")
        for tps, cpu in runs:
            print(f"    {tps:10,.0f}/s: {cpu}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
