"""Differential testing at scale: the reference evaluator against the compiled Java.

    python -m pyengine.reliability.differential [--rulesets 40] [--transactions 25000]
                                                [--seed 1] [--work DIR]

Each round writes a random rules directory (pyengine.reliability.randrules),
compiles it with javac, and evaluates random transactions three ways: the
Python reference evaluator, the columnar Java entry point (one call per chunk,
as ``run`` does) and the single-transaction one (as ``Engine.evaluate`` does).
Decision, rule set, fired rules, every output (doubles bit for bit) and every
evaluation error must agree. Exit status 1 on any mismatch, each printed with
its seed, rules directory and transaction so that it can be replayed.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyengine.reference.evaluator import Outcome, evaluate
from pyengine.reliability.randrules import transaction, write_rules_dir


def same_value(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN and 0.0 differs from -0.0 (bit-exact doubles)."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same_value, a, b))
    return type(a) is type(b) and a == b


def difference(expected: Outcome, actual: Outcome) -> str | None:
    """How ``actual`` differs from ``expected``, or None when they agree."""
    want = (expected.ruleset, expected.decision, expected.fired, expected.error)
    got = (actual.ruleset, actual.decision, actual.fired, actual.error)
    if want != got:
        return f"expected {want}, got {got}"
    if expected.outputs.keys() != actual.outputs.keys():
        return f"outputs {sorted(expected.outputs)} != {sorted(actual.outputs)}"
    for name, value in expected.outputs.items():
        if not same_value(value, actual.outputs[name]):
            return f"output {name}: expected {value!r}, got {actual.outputs[name]!r}"
    return None


@dataclass
class Tally:
    """What a differential session compared and found."""

    rulesets: int = 0
    transactions: int = 0
    comparisons: int = 0
    errors_compared: int = 0
    mismatches: list[str] = field(default_factory=list)


def check_rules(compiled: Any, txns: list[dict[str, Any]], tally: Tally, where: str) -> None:
    """Compare the reference with both Java entry points on ``txns``."""
    program = compiled.program
    columnar = compiled.evaluate_records(txns)
    for txn, batch in zip(txns, columnar, strict=True):
        reference = evaluate(program, txn)
        for lane, actual in (("columnar", batch), ("single", compiled.evaluate(txn))):
            problem = difference(reference, actual)
            tally.comparisons += 1
            if problem:
                tally.mismatches.append(f"{where} {lane}: {problem}\n  txn: {json.dumps(txn)}")
        tally.transactions += 1
        tally.errors_compared += reference.error is not None


def run(rulesets: int, transactions: int, seed: int, work: Path) -> Tally:
    """``rulesets`` random rules directories, ``transactions`` random transactions each."""
    from pyengine.errors import SpecError
    from pyengine.pipeline import compile_rules

    tally = Tally()
    for k in range(rulesets):
        rng = random.Random(seed * 1_000_003 + k)
        root = work / f"rules-{seed}-{k}"
        shutil.rmtree(root, ignore_errors=True)
        clients = write_rules_dir(root, rng, sets=rng.randint(1, 4))
        try:
            compiled = compile_rules(root, builder="javac")
        except SpecError as exc:  # the generator writes only valid rules: a bug here
            tally.mismatches.append(f"{root}: does not build:\n{exc.render()}")
            continue
        txns = [transaction(rng, clients) for _ in range(transactions)]
        check_rules(compiled, txns, tally, f"seed {seed} rules {root}")
        tally.rulesets += 1
        if not tally.mismatches:
            shutil.rmtree(root)  # kept only when something is to be investigated
    return tally


def main(argv: list[str] | None = None) -> int:
    """Run a differential session; exit 1 on any mismatch."""
    parser = argparse.ArgumentParser(prog="python -m pyengine.reliability.differential")
    parser.add_argument("--rulesets", type=int, default=40)
    parser.add_argument("--transactions", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("differential-work"))
    args = parser.parse_args(argv)
    started = time.monotonic()
    tally = run(args.rulesets, args.transactions, args.seed, args.work)
    print(f"{tally.rulesets} random rules directories, {tally.transactions:,} random "
          f"transactions ({tally.errors_compared:,} ending in an evaluation error or dead "
          f"letter): {tally.comparisons:,} Java evaluations compared with the reference, "
          f"{len(tally.mismatches)} mismatches ({time.monotonic() - started:.0f} s)")
    for mismatch in tally.mismatches[:20]:
        print(f"  {mismatch}")
    return 1 if tally.mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
