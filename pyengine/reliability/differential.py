"""Differential testing at scale: the reference evaluator against the compiled Java.

    python -m pyengine.reliability.differential [--rulesets 40] [--transactions 25000]
                                                [--seed 1] [--work DIR]

Each round writes a random rules directory (pyengine.reliability.randrules),
compiles it with javac, and evaluates random transactions three ways: the
Python reference evaluator, the columnar Java entry point (one call per chunk,
as ``run`` does), the single-transaction one, and ``Engine.evaluate``'s public
answer built from it.
Decision, rule set, fired rules, every output (doubles bit for bit) and every
evaluation error must agree. With ``--polars`` the polars translation
(pyengine.peers.to_polars) is held to the same decisions, fired rules and outputs,
and must fail exactly where the reference does. Exit status 1 on any mismatch, each printed with
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
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from pyengine.errors import RecordError
from pyengine.records import convert_record, public_value
from pyengine.reference.evaluator import ErrorInfo, Outcome, evaluate
from pyengine.reliability.randrules import transaction, write_rules_dir
from pyengine.spec.program import Program, Schema


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


def public_outcome(compiled: Any, txn: dict[str, Any]) -> Outcome:
    """``Engine.evaluate``'s answer for ``txn`` as an Outcome; the error it raised as the
    ErrorInfo of its kind."""
    try:
        got = compiled.evaluate_public(txn)
    except RecordError as exc:
        return Outcome(error=ErrorInfo(exc.kind, exc.kind, exc.rule, exc.message))
    return Outcome(got["ruleset"], got["decision"], got["fired"], got["outputs"])


def publicly(program: Program, expected: Outcome) -> Outcome:
    """What ``Engine.evaluate`` gives for the reference's ``expected``: outputs as users
    see them (Decimal, datetime); an error as the exception it raises, which names its
    kind, rule and message only."""
    error = expected.error
    if error is not None:
        return Outcome(error=ErrorInfo(error.kind, error.kind, error.rule, error.message))
    outputs = {name: public_value(value, program.outputs[name])
               for name, value in expected.outputs.items()}
    return Outcome(expected.ruleset, expected.decision, expected.fired, outputs)


def check_rules(compiled: Any, txns: list[dict[str, Any]], tally: Tally, where: str) -> None:
    """Compare the reference with the Java entry points on ``txns``: the columnar one, the
    single-transaction one, and ``Engine.evaluate``'s public answer."""
    program = compiled.program
    columnar = compiled.evaluate_records(txns)
    for txn, batch in zip(txns, columnar, strict=True):
        reference = evaluate(program, txn)
        lanes = (("columnar", reference, batch), ("single", reference, compiled.evaluate(txn)),
                 ("public", publicly(program, reference), public_outcome(compiled, txn)))
        for lane, expected, actual in lanes:
            problem = difference(expected, actual)
            tally.comparisons += 1
            if problem:
                tally.mismatches.append(f"{where} {lane}: {problem}\n  txn: {json.dumps(txn)}")
        tally.transactions += 1
        tally.errors_compared += reference.error is not None


def records_table(schema: Schema, records: list[dict[str, Any]]) -> pa.Table:
    """Converted records (see pyengine.records) as an Arrow table of the schema's types."""
    columns = {}
    for name, f in schema.fields.items():
        values = [r[name] for r in records]
        if f.type.kind == "decimal":
            scale = f.type.scale
            columns[name] = pa.array([None if v is None else Decimal(v).scaleb(-scale)
                                      for v in values], pa.decimal128(38, scale))
        elif f.type.kind == "timestamp":
            columns[name] = pa.array(values, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        else:
            columns[name] = pa.array(values, _ARROW[f.type.kind])
    return pa.table(columns)


_ARROW = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "string": pa.string()}


def check_polars(program: Program, txns: list[dict[str, Any]], tally: Tally, where: str) -> None:
    """Compare the reference with the polars translation on ``txns`` (those that convert)."""
    from pyengine.peers.to_polars import translate

    pairs = []
    for txn in txns:
        try:
            pairs.append((txn, convert_record(program.schema, txn)))
        except RecordError:
            continue  # a schema dead letter: the polars lane reads typed columns only
    rows = translate(program).evaluate(records_table(program.schema, [r for _, r in pairs]))
    for (txn, _), row in zip(pairs, rows.iter_rows(named=True), strict=True):
        reference = evaluate(program, txn)
        problem = polars_difference(reference, row)
        tally.comparisons += 1
        if problem:
            tally.mismatches.append(f"{where} polars: {problem}\n  txn: {json.dumps(txn)}")


def polars_difference(expected: Outcome, row: dict[str, Any]) -> str | None:
    """How a row of ``PolarsRules.evaluate`` differs from the reference, or None."""
    if expected.error is not None:
        ruleset = None if expected.error.kind == "unknown_client" else expected.ruleset
        failed = (row["failed"], row["ruleset"])
        return None if failed == (True, ruleset) else f"expected {expected.error}, got {row}"
    want = (False, expected.ruleset, expected.decision, expected.fired)
    got = (row["failed"], row["ruleset"], row["decision"], row["fired"])
    if want != got:
        return f"expected {want}, got {got}"
    for name, value in expected.outputs.items():
        if not same_value(value, row[name]):
            return f"output {name}: expected {value!r}, got {row[name]!r}"
    return None


def run(rulesets: int, transactions: int, seed: int, work: Path,
        polars: bool = False) -> Tally:
    """``rulesets`` random rules directories, ``transactions`` random transactions each;
    with ``polars``, the polars translation is compared too."""
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
        if polars:
            check_polars(compiled.program, txns, tally, f"seed {seed} rules {root}")
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
    parser.add_argument("--polars", action="store_true",
                        help="also compare the polars translation (pyengine.peers.to_polars)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    tally = run(args.rulesets, args.transactions, args.seed, args.work, args.polars)
    print(f"{tally.rulesets} random rules directories, {tally.transactions:,} random "
          f"transactions ({tally.errors_compared:,} ending in an evaluation error or dead "
          f"letter): {tally.comparisons:,} evaluations compared with the reference, "
          f"{len(tally.mismatches)} mismatches ({time.monotonic() - started:.0f} s)")
    for mismatch in tally.mismatches[:20]:
        print(f"  {mismatch}")
    return 1 if tally.mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
