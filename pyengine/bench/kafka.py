"""Benchmark of Kafka mode: Kafka -> pyengine -> Kafka, exactly once, 1 and 2 members.

    python -m pyengine.bench.kafka [--servers 127.0.0.1:9092] [--records 1200000]
                                   [--members 1,2] [--partitions 4] [--runs 3]

For each run: a fresh 4-partition input topic filled by ``generate`` (0.1% bad),
then N members (``run --input kafka://...`` processes, one worker thread each) of
a fresh group. Throughput is the input size over the time from the first batch
any member started to the last batch any member committed: JVM start-up and the
idle wait at the end are left out. Members start together but join the group up to a
second or so apart, the first working alone meanwhile: the default input is large
enough (about 10 s of work) for that not to decide the figure. A run in which a member
consumed nothing is refused: it would be a figure for fewer members.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

from pyengine.kafka.generate import produce_transactions
from pyengine.kafka.url import parse_url


def run_once(servers: str, rules: Path, records: int, members: int, partitions: int,
             batch_size: int) -> float:
    """Transactions per second of one run with ``members`` members."""
    tag = uuid.uuid4().hex[:8]
    url = {name: f"kafka://{servers}/bench-{name}-{tag}" for name in ("in", "out", "dlq")}
    produce_transactions(parse_url(url["in"]), records, partitions, seed=1, bad_fraction=0.001)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "pyengine", "run", "--rules", str(rules), "--input", url["in"],
         "--output", url["out"], "--dlq", url["dlq"], "--group", f"bench-{tag}",
         "--member", f"m{k}", "--workers", "1", "--batch-size", str(batch_size),
         "--stop-when-idle", "3s", "--json", "--builder", "javac"],
        stdout=subprocess.PIPE, text=True) for k in range(members)]
    reports = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a member failed with exit {proc.returncode}")
        reports.append(json.loads(out)["kafka"])
    idle = [r["member"] for r in reports if not r["first_batch"]]
    if idle:
        raise SystemExit(f"member {', '.join(idle)} consumed nothing: not a {members}-member run")
    first = min(float(r["first_batch"]) for r in reports)
    last = max(float(r["last_batch"]) for r in reports)
    return records / (last - first)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the median throughput per member count."""
    parser = argparse.ArgumentParser(prog="python -m pyengine.bench.kafka")
    parser.add_argument("--servers", default="127.0.0.1:9092")
    parser.add_argument("--rules", type=Path, default=Path("examples/rules"))
    parser.add_argument("--records", type=int, default=1_200_000)
    parser.add_argument("--members", default="1,2")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{args.records:,} transactions, {args.partitions} partitions, {args.rules}")
    for members in [int(m) for m in args.members.split(",")]:
        runs = [run_once(args.servers, args.rules, args.records, members, args.partitions,
                         args.batch_size) for _ in range(args.runs)]
        print(f"{members} member{'s' if members > 1 else ' '}: "
              f"{statistics.median(runs):10,.0f} transactions/s end to end, exactly once "
              f"(runs: {', '.join(f'{r:,.0f}' for r in runs)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
