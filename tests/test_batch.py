"""The batch engine: evaluate_batch, run, checkpoints and resume, the DLQ, the report."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyengine.batch.generate import write_transactions
from pyengine.batch.job import JobConfig, run_job
from pyengine.engine import MAX_CHUNK_ROWS, MIN_CHUNK_ROWS, Engine, chunk_plan
from pyengine.errors import ConfigError, EvaluationError, RecordError, SchemaViolation
from pyengine.lang.types import Type
from pyengine.reference.evaluator import evaluate
from pyengine.reliability.crash import checkpoint_position
from tests.conftest import EXAMPLES, ROOT
from tests.helpers import SCHEMA, TXN, write_rules

pytestmark = pytest.mark.jvm


@pytest.fixture(scope="module")
def engine(examples_compiled: Any) -> Iterator[Engine]:
    with Engine(examples_compiled) as engine:
        yield engine


def digest(out: Path) -> dict[str, str]:
    """Content hashes of everything a run leaves that users read."""
    files = [*sorted((out / "results").glob("*.parquet")), out / "dlq.jsonl"]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def read_results(out: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted((out / "results").glob("*"))])


def dlq(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "dlq.jsonl").read_text().splitlines()]


def internal(value: Any) -> Any:
    """Arrow result values as the reference evaluator holds them."""
    if isinstance(value, Decimal):
        return int(value.scaleb(-value.as_tuple().exponent)) if value.as_tuple().exponent < 0 \
            else int(value)
    return value


def check_against_reference(engine: Engine, rows: list[dict[str, Any]], results: pa.Table,
                            letters: list[dict[str, Any]]) -> None:
    by_position = {r["position"]: r for r in results.to_pylist()}
    dead = {d["position"]: d for d in letters}
    assert sorted([*by_position, *dead]) == list(range(len(rows)))  # each exactly once
    for i, row in enumerate(rows):
        expected = evaluate(engine.program, row)
        if expected.error is not None:
            assert dead[i]["error"]["kind"] == expected.error.kind, row
            assert dead[i]["error"]["message"] == expected.error.message
            assert dead[i]["error"]["rule"] == expected.error.rule
            continue
        got = by_position[i]
        assert (got["ruleset"], got["decision"], got["fired"]) == (
            expected.ruleset, expected.decision, expected.fired), row
        for name, value in expected.outputs.items():
            scale = engine.program.outputs[name].scale
            want = Decimal(value).scaleb(-scale) if scale and value is not None else value
            assert got[name] == want, (name, row)


def sample_rows(n: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
            **TXN, "id": f"r{i}", "client_id": rng.choice(["acme", "acme-eu", "globex",
                                                            "initech", "initrode", "x"]),
            "amount": f"{rng.randint(0, 3_000_000) / 100:.2f}",
            "country": rng.choice(["US", "DE", "BY", "IR", "USA"]),
            "channel": rng.choice(["web", "pos", "atm", "mobile"]),
            "mcc": rng.choice([5411, 7995, 6051]), "score": rng.random(),
            "account_age_days": rng.choice([0, 5, 400]), "vip": rng.random() < 0.2,
            "ts": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                  f"{rng.randint(0, 23):02d}:59:59Z",
        }
        # Every row has every key: Arrow takes the columns from the first row.
        row["note"] = rng.choice(["PO-123456", "a test", "x #EXP", "PO-1", None, None, None])
        if rng.random() < 0.05:
            row["amount"] = rng.choice(["1.001", None, "abc"])
        rows.append(row)
    return rows


def test_evaluate_batch_matches_reference(engine: Engine) -> None:
    rows = sample_rows(3000)
    table = pa.Table.from_pylist(rows)
    batch = engine.evaluate_batch(table, workers=2, chunk_rows=700)
    check_against_reference(engine, rows, batch.results, batch.dead_letters)
    batch.results.validate(full=True)  # every code Java wrote is in its dictionary
    assert batch.results.schema.field("decision").type == pa.dictionary(pa.int32(), pa.string())
    assert batch.results.schema.field("fired").type.value_type == pa.dictionary(pa.int32(),
                                                                                 pa.string())


# Outputs of every kind, scalar and list, null in some rows: Java writes them in
# Arrow's layout (validity bitmaps, decimal128 words), which the columns use as they are.
OUTPUT_KINDS = """\
    ruleset: c
    rules:
      - id: big
        when: mcc > 5
        action: review
        set: {fee: amount + 1.25, ratio: score, late: ts, vip_out: vip, code: channel}
    tables:
      - id: fees
        hit: collect
        inputs: [channel]
        outputs: {fees: decimal(2)}
        rows:
          - ['"web", "pos"', amount]
          - ['"web"', -amount]
      - id: flags
        hit: collect
        inputs: [channel]
        outputs: {flags: bool}
        rows:
          - ['"web"', vip]
          - ['"web", "atm"', true]
    """


def test_output_columns_of_every_kind_hold_the_reference_values(tmp_path: Path) -> None:
    from pyengine.engine import load

    engine = load(write_rules(tmp_path / "r", {"c.yaml": OUTPUT_KINDS}), builder="javac")
    rng = random.Random(5)
    rows = [{**TXN, "id": f"r{i}", "mcc": rng.choice([1, 9]), "vip": rng.random() < 0.5,
             "amount": f"{rng.randint(-10_000, 10_000) / 100:.2f}", "score": rng.random(),
             "channel": rng.choice(["web", "pos", "atm", "mobile"])} for i in range(300)]
    results = engine.evaluate_batch(pa.Table.from_pylist(rows), chunk_rows=64).results
    results.validate(full=True)
    empty = dict.fromkeys(engine.program.outputs, 0)  # null, or a list with no items
    for row, got in zip(rows, results.to_pylist(), strict=True):
        for name, value in evaluate(engine.program, row).outputs.items():
            assert got[name] == arrow_value(value, engine.program.outputs[name]), (name, row)
            empty[name] += value is None or value == []
    assert all(0 < n < len(rows) for n in empty.values()), empty


# A collect table of 1,500 rows of decimals: a result row has room for 24 KB of them.
LONG_LISTS = """\
    ruleset: c
    rules:
      - id: big
        when: mcc > 5
        action: review
    tables:
      - id: fees
        hit: collect
        inputs: [amount]
        outputs: {{fees: decimal(2)}}
        rows:
          - ['> 0.00', '0.50']
{rows}
    """


def test_rules_with_long_lists_are_evaluated_in_calls_that_java_can_take(
        tmp_path: Path) -> None:
    # A Java buffer holds 2 GiB: 89,478 such rows. A call of 100,000 rows failed with
    # Java's "capacity < 0" (a traceback from `run`); calls are now cut at what fits.
    from pyengine.engine import load

    never = "\n".join(f"          - ['< -{i}.00', '{i}.50']" for i in range(1, 1500))
    rules = write_rules(tmp_path / "r", {"c.yaml": LONG_LISTS.format(rows=never)})
    engine = load(rules, builder="javac")
    assert engine.compiled.max_chunk_rows == (2**31 - 1) // (1500 * 16) == 89_478
    n = 100_000
    table = pa.Table.from_pylist([TXN]).take([0] * n)
    batch = engine.evaluate_batch(table, workers=2, chunk_rows=n)
    assert batch.results.column("position").to_pylist() == list(range(n))
    fees = batch.results.column("fees").combine_chunks()
    assert fees.flatten().unique().to_pylist() == [Decimal("0.50")]
    assert fees.value_lengths().unique().to_pylist() == [1]
    pq.write_table(table, tmp_path / "in.parquet")
    report = run_job(engine, JobConfig(tmp_path / "in.parquet", tmp_path / "out", 2,
                                       chunk_rows=n))
    assert report["results"] == n
    written = pq.read_table(tmp_path / "out" / "results")
    assert written.select(["position", "fees"]).equals(batch.results.select(["position", "fees"]))


def arrow_value(value: Any, t: Type) -> Any:
    """A reference evaluator's output value as a results column gives it back."""
    if value is None:
        return None
    if t.kind == "list":
        assert t.elem is not None
        return [arrow_value(v, t.elem) for v in value]
    if t.kind == "decimal":
        return Decimal(value).scaleb(-t.scale)
    if t.kind == "timestamp":
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=value)
    return value


def decimal128(unscaled: list[int | None], scale: int) -> pa.Array:
    """A decimal128(38, scale) array of these unscaled values (a null's words left 7s)."""
    import numpy as np

    words = np.full(2 * len(unscaled), 7, np.uint64)
    for i, v in enumerate(unscaled):
        if v is not None:  # two's complement, low word first
            words[2 * i], words[2 * i + 1] = v & (2**64 - 1), (v >> 64) & (2**64 - 1)
    validity = pa.array([v is not None for v in unscaled]).buffers()[1]
    return pa.Array.from_buffers(pa.decimal128(38, scale), len(unscaled),
                                 [validity, pa.py_buffer(words)])


def test_decimals_out_of_the_long_range_are_dead_letters_naming_the_first_bad_field(
        tmp_path: Path) -> None:
    # Java checks an Arrow decimal's range as it reads it (Chunk.outOfRange), also for a
    # decimal no rule reads (fee); Python checks those of rows that failed on other fields.
    from pyengine.engine import load

    rules = write_rules(tmp_path / "r", {"c.yaml": ONE_RULE}, SCHEMA_WITH_FEE)
    engine = load(rules, builder="javac")
    big, small = 2**63, -(2**63)
    cases = [  # amount, fee, mcc: the dead letter's message (None: evaluated)
        (5, None, 1, None), (big - 1, small, 1, None), (small, big - 1, 1, None),
        (7, None, 1, None),  # a null fee's words (7s) are not read
        (big, 5, 1, "field 'amount': out of range for decimal(2)"),
        (small - 1, None, 1, "field 'amount': out of range for decimal(2)"),
        (5, big, 1, "field 'fee': out of range for decimal(3)"),
        (2**100, -(2**100), 1, "field 'amount': out of range for decimal(2)"),
        (big, 5, None, "field 'amount': out of range for decimal(2)"),  # before mcc
        (5, big, None, "field 'mcc' is null"),  # after mcc
    ]
    n = len(cases)
    table = pa.table({
        **{k: pa.array([TXN[k]] * n) for k in ("id", "client_id", "currency", "country",
                                              "channel", "account_age_days", "txn_count_24h",
                                              "vip", "score")},
        "ts": pa.array([dt.datetime(2026, 1, 1, tzinfo=dt.UTC)] * n, pa.timestamp("us", "UTC")),
        "amount": decimal128([c[0] for c in cases], 2),
        "fee": decimal128([c[1] for c in cases], 3),
        "mcc": pa.array([c[2] for c in cases], pa.int64()),
    })
    for chunk_rows in (n, 4):
        batch = engine.evaluate_batch(table.slice(1), chunk_rows=chunk_rows)
        letters = {d["position"] + 1: d["error"] for d in batch.dead_letters}
        assert {i: e["message"] for i, e in letters.items()} == {
            i: c[3] for i, c in enumerate(cases) if c[3] is not None}
        assert {e["kind"] for e in letters.values()} == {"schema"}
        assert [p + 1 for p in batch.results.column("position").to_pylist()] == [
            i for i, c in enumerate(cases[1:], 1) if c[3] is None]
        assert batch.results.column("fired").to_pylist() == [["big"], [], ["big"]]


SCHEMA_WITH_FEE = SCHEMA.replace("  note: string?\n", "  note: string?\n  fee: decimal(3)?\n")
ONE_RULE = """\
    ruleset: c
    rules:
      - id: big
        when: amount > 0.00
        action: flag
"""


@given(st.integers(0, 10**8), st.integers(1, 64),
       st.sampled_from([MAX_CHUNK_ROWS, 89_478, 20_000]))
def test_a_table_is_cut_into_staggered_chunks_that_shrink_towards_its_end(
        rows: int, workers: int, largest: int) -> None:
    plan = chunk_plan(rows, workers, largest)
    end = 0
    for start, size in plan:  # every row once, in order
        assert start == end
        end += size
    assert end == rows
    sizes = [size for _, size in plan]
    assert all(0 < size <= largest for size in sizes)
    staggered = workers - 1  # the first chunks of all workers but one start them apart
    for k, size in enumerate(sizes[:staggered]):
        assert size <= max(1, largest * (k + 1) // workers)
    then = sizes[staggered:-1]  # (the last chunk takes what is left)
    assert then == sorted(then, reverse=True)
    for start, size in plan:
        left = rows - start
        if workers == 1:
            assert size == min(left, largest)
        else:  # at most 2/3 of a worker's share of what is left, unless that is small
            assert size <= max(MIN_CHUNK_ROWS, -(-2 * left // (3 * workers)))


def test_the_default_chunks_give_the_results_of_one_chunk(engine: Engine) -> None:
    # 60,000 rows at 2 workers: a staggered first chunk, a whole one, the rest
    table = pa.Table.from_pylist(sample_rows(60_000, seed=5))
    assert [size for _, size in chunk_plan(table.num_rows, 2)] == [16384, 32768, 10848]
    whole = engine.evaluate_batch(table, workers=2, chunk_rows=table.num_rows)
    planned = engine.evaluate_batch(table, workers=2)
    # (each chunk has its own dictionaries for string outputs: compared as values)
    assert planned.results.to_pylist() == whole.results.to_pylist()
    assert planned.dead_letters == whole.dead_letters and whole.dead_letters


def test_chunks_with_the_same_output_values_share_their_dictionary(engine: Engine) -> None:
    table = pa.Table.from_pylist(sample_rows(2_000, seed=5))
    chunks = engine.evaluate_batch(table, workers=1, chunk_rows=1_000).results
    shared = 0
    for name in ("band", "expense_policy", "reference", "risk_tag"):  # string outputs
        first, second = (chunk.dictionary for chunk in chunks.column(name).chunks)
        if first.to_pylist() == second.to_pylist():
            assert first.buffers()[1].address == second.buffers()[1].address, name
            shared += 1
    assert shared, "some output's values came in the same order in both chunks"
    made = engine.layout.strings(["x", "y"])
    assert engine.layout.strings(["y", "x"]).to_pylist() == ["y", "x"]
    assert engine.layout.strings(["x", "y"]) is made


def test_nan_and_infinities_are_dead_letters_naming_the_first_bad_field(
        engine: Engine) -> None:
    from pyengine.batch.generate import transactions

    table = transactions(3_000, seed=2)
    score = table.column("score").to_pylist()
    mcc = table.column("mcc").to_pylist()
    amount = table.column("amount").to_pylist()
    score[5], score[700], score[701], score[2999] = (math.nan, math.inf, -math.inf,
                                                     math.nan)
    mcc[700] = None  # before score in the schema: its message comes first
    amount[2999] = Decimal("92233720368547758.08")  # not a long: Java checks, before score
    table = table.set_column(table.schema.get_field_index("score"), "score",
                             pa.array(score, pa.float64()))
    table = table.set_column(table.schema.get_field_index("mcc"), "mcc", pa.array(mcc))
    table = table.set_column(table.schema.get_field_index("amount"), "amount",
                             pa.array(amount, pa.decimal128(20, 2)))
    out = engine.evaluate_batch(table, workers=2, chunk_rows=1_000)
    messages = {d["position"]: d["error"]["message"] for d in out.dead_letters}
    nan = "NaN and infinities are not accepted"
    assert messages == {5: f"field 'score': {nan}", 700: "field 'mcc' is null",
                        701: f"field 'score': {nan}",
                        2999: "field 'amount': out of range for decimal(2)"}
    assert {d["error"]["kind"] for d in out.dead_letters} == {"schema"}
    assert out.results.num_rows == 3_000 - 4
    assert 5 not in out.results.column("position").to_pylist()


def test_evaluate_batch_takes_any_arrow_stream_and_refuses_other_things(engine: Engine) -> None:
    # None, a list or a ChunkedArray ended in an AttributeError about column_names.
    import polars as pl

    table = pa.Table.from_pylist(sample_rows(500, seed=2))
    assert engine.evaluate_batch(pl.from_arrow(table)).results.equals(
        engine.evaluate_batch(table).results)
    for wrong, why in ((None, "not NoneType"), ([1, 2], "not list"),
                       (pa.chunked_array([[1]]), "ChunkedArray gives")):
        with pytest.raises(TypeError, match=f"an Arrow stream of records.*{why}"):
            engine.evaluate_batch(wrong)


def test_string_views_and_categoricals_read_as_plain_strings(tmp_path: Path,
                                                             engine: Engine) -> None:
    # polars' strings cross as string views, its categoricals as dictionaries of large
    # strings. A Parquet file written from views reads back as views: with dead letters
    # in a batch, `run` ended in Arrow's "no kernel" for taking them; categorical client
    # ids were refused as not strings.
    source = tmp_path / "plain.parquet"
    write_transactions(source, 3000, seed=2, bad_fraction=0.05)
    plain = pq.read_table(source)
    views = plain.cast(pa.schema([f.with_type(pa.string_view()) if f.type == pa.string()
                                  else f for f in plain.schema]))
    pq.write_table(views, tmp_path / "views.parquet")
    for name in ("plain", "views"):
        run_job(engine, JobConfig(tmp_path / f"{name}.parquet", tmp_path / name, 2, 1000))
    assert read_results(tmp_path / "views").equals(read_results(tmp_path / "plain"))
    assert [{**d, "source": "-"} for d in dlq(tmp_path / "views")] == [
        {**d, "source": "-"} for d in dlq(tmp_path / "plain")]
    categorical = pa.DictionaryArray.from_arrays(
        pa.array(range(plain.num_rows), pa.uint32()),
        plain.column("client_id").combine_chunks().cast(pa.large_string()))
    coded = engine.evaluate_batch(views.set_column(1, "client_id", categorical))
    expected = engine.evaluate_batch(plain)
    assert coded.results.drop_columns("client_id").equals(
        expected.results.drop_columns("client_id"))
    assert coded.results.column("client_id").to_pylist() == expected.results.column(
        "client_id").to_pylist()
    assert len(coded.dead_letters) == len(expected.dead_letters) > 0


def test_chunk_rows_below_one_are_refused(engine: Engine) -> None:
    with pytest.raises(ConfigError, match="chunk_rows must be at least 1, not -5"):
        engine.evaluate_batch(pa.Table.from_pylist(sample_rows(10)), chunk_rows=-5)


def test_a_table_naming_a_column_twice_is_refused(engine: Engine) -> None:
    from pyengine.batch.inputs import InputError

    table = pa.Table.from_pylist(sample_rows(10))
    twice = table.append_column("amount", table.column("amount"))
    with pytest.raises(InputError, match="<table>: the table repeats 'amount'"):
        engine.evaluate_batch(twice)


def test_worker_threads_serve_every_batch_until_close(examples_compiled: Any) -> None:
    table = pa.Table.from_pylist(sample_rows(300))

    def workers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("pyengine-worker")}

    before = workers()
    with Engine(examples_compiled) as engine:
        first = engine.evaluate_batch(table, workers=2, chunk_rows=50).results
        started = workers() - before
        assert len(started) == 2
        again = engine.evaluate_batch(table, workers=2, chunk_rows=50).results
        assert workers() - before == started  # the same threads and evaluators
        assert again.equals(first)
    assert not any(t.is_alive() for t in started)
    # a closed engine starts new workers for its next batch
    assert engine.evaluate_batch(table, workers=2, chunk_rows=50).results.equals(first)
    engine.close()


def test_evaluate_agrees_with_evaluate_batch(engine: Engine) -> None:
    rows = sample_rows(400, seed=11)
    batch = engine.evaluate_batch(pa.Table.from_pylist(rows), workers=1)
    by_position = {r.pop("position"): r for r in batch.results.to_pylist()}
    assert by_position, "some rows evaluate"
    for i, row in enumerate(rows):
        if i not in by_position:
            with pytest.raises(RecordError):
                engine.evaluate(row)
            continue
        got = engine.evaluate(row)
        want = by_position[i]
        assert {k: want[k] for k in ("decision", "fired", "ruleset")} == {
            k: got[k] for k in ("decision", "fired", "ruleset")}, row
        assert got["outputs"] == {name: want[name] for name in engine.program.outputs}, row


def test_evaluate_on_many_threads_agrees_with_one(engine: Engine) -> None:
    # Engine.evaluate picks the calling thread's evaluator and buffers itself: threads
    # that shared them would read each other's transactions.
    rows = [r for r in sample_rows(300, seed=12) if _evaluates(engine, r)]
    assert len(rows) > 100
    expected = [engine.evaluate(r) for r in rows]

    def work(offset: int) -> list[dict[str, Any]]:
        return [engine.evaluate(r) for r in rows[offset:] + rows[:offset]]

    with ThreadPoolExecutor(4) as pool:
        for offset, got in zip(range(0, 80, 20), pool.map(work, range(0, 80, 20)),
                               strict=True):
            assert got == expected[offset:] + expected[:offset]


def _evaluates(engine: Engine, row: dict[str, Any]) -> bool:
    try:
        engine.evaluate(row)
    except RecordError:
        return False
    return True


def test_evaluate_raises_for_dead_letters(engine: Engine) -> None:
    assert engine.evaluate({**TXN, "client_id": "acme"})["ruleset"] == "acme"
    with pytest.raises(SchemaViolation, match="field 'amount'"):
        engine.evaluate({**TXN, "amount": "1.234"})
    with pytest.raises(EvaluationError) as info:
        engine.evaluate({**TXN, "client_id": "globex", "account_age_days": 0})
    assert info.value.rule == "velocity_ratio"


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_run_every_format_with_bad_records(tmp_path: Path, engine: Engine, suffix: str) -> None:
    source = tmp_path / f"in{suffix}"
    write_transactions(source, 3000, clients=7, seed=5, bad_fraction=0.02)
    out = tmp_path / "out"
    report = run_job(engine, JobConfig(source, out, workers=2, checkpoint_every=1000,
                                       chunk_rows=256))
    assert report["complete"] and report["input_records"] == 3000
    assert report["input_records"] == report["results"] + report["dead_letters"]
    letters = dlq(out)
    kinds = {d["error"]["kind"] for d in letters}
    assert kinds == ({"schema", "evaluation"} if suffix == ".parquet"
                     else {"schema", "evaluation", "parse"})
    positions = read_results(out).column("position").to_pylist() + [d["position"]
                                                                      for d in letters]
    assert sorted(positions) == list(range(3000))
    assert all(d["source"] == source.name and d["ruleset_version"] == engine.ruleset_version
               for d in letters)
    assert sorted(p.name for p in (out / "results").iterdir()) == [
        "part-000000.parquet", "part-000001.parquet", "part-000002.parquet"]


def test_results_independent_of_workers_and_chunks(tmp_path: Path, engine: Engine) -> None:
    source = tmp_path / "in.parquet"
    write_transactions(source, 20_000, seed=9, bad_fraction=0.01)
    a = run_job(engine, JobConfig(source, tmp_path / "a", 1, 5000, 4096))
    b = run_job(engine, JobConfig(source, tmp_path / "b", 2, 5000, 777))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert a["decisions"] == b["decisions"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_text_inputs_with_bad_records_give_the_same_bytes_every_time(
        tmp_path: Path, engine: Engine, suffix: str) -> None:
    # A batch with records the fast readers left to Python has its client ids in the
    # parts' dictionaries laid end to end: one entry a row, repeated. Handed to the
    # Parquet writer as a dictionary, that wrote the ids one a row into the file's
    # dictionary page, and bytes that changed from run to run.
    source = tmp_path / f"in{suffix}"
    write_transactions(source, 20_000, seed=9, bad_fraction=0.01)
    for out in ("a", "b"):  # a segment in one chunk: its row group is that chunk's table
        run_job(engine, JobConfig(source, tmp_path / out, 2, 5000, 65_536))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    for part in sorted((tmp_path / "a" / "results").iterdir()):
        group = pq.ParquetFile(part).metadata.row_group(0)
        names = [group.column(i).path_in_schema for i in range(group.num_columns)]
        ids = group.column(names.index("client_id"))
        assert ids.total_uncompressed_size < 2 * group.num_rows  # a few distinct ids


def test_results_independent_of_chunks_when_pages_fill_up(tmp_path: Path, engine: Engine) -> None:
    # Long ids would fill pages of Arrow's default size (1 MiB) before PAGE_ROWS rows
    # (batch/parts.py): where a page ends must not depend on where chunks ended.
    from pyengine.batch.generate import transactions

    table = transactions(30_000, seed=4)
    ids = pa.array([f"{i:0120d}" for i in range(table.num_rows)])
    source = tmp_path / "in.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("id"), "id", ids), source)
    run_job(engine, JobConfig(source, tmp_path / "a", 2, 30_000, 65_536))
    run_job(engine, JobConfig(source, tmp_path / "b", 2, 30_000, 1_111))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_part_files_hold_client_ids_dictionary_encoded(tmp_path: Path, engine: Engine,
                                                      suffix: str) -> None:
    # Parquet's dictionary is passed on as read; text inputs' ids get one made by the
    # part writer. With dead letters among them, the ids are cut to the results' rows.
    from pyengine.batch.generate import transactions

    source = tmp_path / f"in{suffix}"
    write_transactions(source, 3000, seed=6, bad_fraction=0.05)
    assert run_job(engine, JobConfig(source, tmp_path / "out", 2, 3000, 700))["dead_letters"]
    results = read_results(tmp_path / "out")
    assert results.schema.field("client_id").type == pa.dictionary(pa.int32(), pa.string())
    clients = transactions(3000, seed=6).column("client_id").to_pylist()
    assert results.column("client_id").to_pylist() == [
        clients[p] for p in results.column("position").to_pylist()]


def test_evaluate_batch_keeps_the_client_ids_encoding(engine: Engine) -> None:
    from pyengine.batch.generate import transactions

    table = transactions(2000, seed=4)
    plain = engine.evaluate_batch(table).results
    coded = engine.evaluate_batch(table.set_column(
        1, "client_id", table.column("client_id").dictionary_encode())).results
    assert plain.schema.field("client_id").type == pa.string()
    assert coded.schema.field("client_id").type == pa.dictionary(pa.int32(), pa.string())
    assert coded.column("client_id").to_pylist() == plain.column("client_id").to_pylist()
    assert coded.drop_columns("client_id").equals(plain.drop_columns("client_id"))


def test_parts_dictionary_encode_repetitive_columns_and_list_values(
        tmp_path: Path, engine: Engine) -> None:
    source = tmp_path / "in.parquet"
    write_transactions(source, 5000, seed=3)
    run_job(engine, JobConfig(source, tmp_path / "out", 2, 5000, 1024))
    meta = pq.ParquetFile(tmp_path / "out" / "results" / "part-000000.parquet").metadata
    columns = [meta.row_group(0).column(i) for i in range(meta.num_columns)]
    dictionary = {c.path_in_schema for c in columns if "RLE_DICTIONARY" in c.encodings}
    assert {"client_id", "decision", "fired.list.element", "notes.list.element"} <= dictionary
    assert not {"id", "position"} & dictionary  # unique values: a dictionary page is waste
    assert "DELTA_BINARY_PACKED" in columns[0].encodings  # position
    # never null, and declared so: no definition levels for them (a fired list's only
    # level tells an empty list from one with ids)
    schema = meta.schema
    levels = {c.path: c.max_definition_level for c in map(schema.column, range(len(schema)))}
    assert {path for path, level in levels.items() if level == 0} == {
        "position", "id", "client_id", "ruleset", "decision", "ruleset_version"}
    assert levels["fired.list.element"] == 1 and levels["notes.list.element"] == 3


def test_rerun_on_complete_output_changes_nothing(tmp_path: Path, engine: Engine) -> None:
    source = tmp_path / "in.jsonl"
    write_transactions(source, 500, seed=2, bad_fraction=0.05)
    config = JobConfig(source, tmp_path / "out", 2, 200, 64)
    first = run_job(engine, config)
    before = digest(tmp_path / "out")
    stamp = (tmp_path / "out" / "report.json").stat().st_mtime_ns
    assert run_job(engine, config) == first
    assert digest(tmp_path / "out") == before
    assert (tmp_path / "out" / "report.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(("codec", "parquet_name"), [
    ("snappy", "SNAPPY"), ("lz4", "LZ4"), ("none", "UNCOMPRESSED")])
def test_results_compression(tmp_path: Path, engine: Engine, codec: str,
                             parquet_name: str) -> None:
    source = tmp_path / "in.parquet"
    write_transactions(source, 3000, seed=5, bad_fraction=0.01)
    run_job(engine, JobConfig(source, tmp_path / "zstd", 2, 1000, 512))
    run_job(engine, JobConfig(source, tmp_path / codec, 2, 1000, 512, compression=codec))
    for name, expected in (("zstd", "ZSTD"), (codec, parquet_name)):
        parts = sorted((tmp_path / name / "results").glob("*.parquet"))
        meta = [pq.ParquetFile(p).metadata for p in parts]
        assert len(meta) == 3 and {m.row_group(0).column(i).compression for m in meta
                                   for i in range(m.num_columns)} == {expected}
    assert read_results(tmp_path / codec).equals(read_results(tmp_path / "zstd"))
    assert dlq(tmp_path / codec) == dlq(tmp_path / "zstd")


def test_unknown_compression_is_refused(tmp_path: Path) -> None:
    from pyengine.batch.job import OutputError

    with pytest.raises(OutputError, match="compression 'brotli': not one of zstd, snappy"):
        JobConfig(tmp_path / "in.parquet", tmp_path / "out", 1, compression="brotli")


@pytest.mark.parametrize("sla", [0.0, -1.0, math.nan, math.inf, 366 * 24 * 3600 + 1.0])
def test_an_sla_of_no_time_or_forever_is_refused(tmp_path: Path, sla: float) -> None:
    # The report projects the records an SLA window holds (a NaN or endless window
    # failed there, at the end of the run).
    with pytest.raises(ConfigError, match="it must be more than 0 and at most 31,622,400 s"):
        JobConfig(tmp_path / "in.parquet", tmp_path / "out", 1, sla_seconds=sla)


@pytest.mark.parametrize(("settings", "message"), [
    ({"workers": 0}, "0 workers: from 1 to 256 are allowed"),
    ({"workers": 257}, "257 workers: from 1 to 256 are allowed"),
    ({"workers": 2, "checkpoint_every": 0}, "checkpoint_every must be at least 1, not 0"),
    ({"workers": 2, "chunk_rows": -5}, "chunk_rows must be at least 1, not -5"),
])
def test_a_job_of_no_or_too_many_workers_or_empty_chunks_is_refused(
        tmp_path: Path, settings: dict[str, int], message: str) -> None:
    # Each worker holds chunks in memory; a chunk of 0 rows never ended, and a
    # checkpoint every 0 records divided by 0.
    with pytest.raises(ConfigError, match=message):
        JobConfig(tmp_path / "in.parquet", tmp_path / "out", **settings)


@pytest.mark.parametrize("workers", [0, -1, 257])
def test_evaluate_batch_refuses_no_or_too_many_workers(engine: Engine, workers: int) -> None:
    table = pa.Table.from_pylist([TXN])
    with pytest.raises(ConfigError, match=f"{workers} workers: from 1 to 256 are allowed"):
        engine.evaluate_batch(table, workers=workers)
    assert isinstance(ConfigError("x"), ValueError)  # an argument out of its range


def test_output_of_another_job_is_refused(tmp_path: Path, engine: Engine) -> None:
    from pyengine.batch.job import OutputMismatch, _checksum

    first = tmp_path / "a.parquet"
    second = tmp_path / "b.parquet"
    write_transactions(first, 100, seed=1)
    write_transactions(second, 100, seed=2)
    run_job(engine, JobConfig(first, tmp_path / "out", 1, 50, 50))
    with pytest.raises(OutputMismatch, match="another input"):
        run_job(engine, JobConfig(second, tmp_path / "out", 1, 50, 50))
    with pytest.raises(OutputMismatch, match="another compression"):
        run_job(engine, JobConfig(first, tmp_path / "out", 1, 50, 50, compression="snappy"))
    # A checkpoint from before the codec was recorded in it: its parts are zstd.
    path = tmp_path / "out" / "checkpoint.json"
    saved = json.loads(path.read_text())
    del saved["compression"], saved["checksum"]
    path.write_text(json.dumps({**saved, "checksum": _checksum(saved)}))
    assert run_job(engine, JobConfig(first, tmp_path / "out", 1, 50, 50))["complete"]
    with pytest.raises(OutputMismatch, match="another compression"):
        run_job(engine, JobConfig(first, tmp_path / "out", 1, 50, 50, compression="lz4"))
    (tmp_path / "out" / "checkpoint.json").write_text("{ not json")
    with pytest.raises(OutputMismatch, match="damaged checkpoint"):
        run_job(engine, JobConfig(first, tmp_path / "out", 1, 50, 50))


def test_an_output_holding_other_files_or_being_a_file_is_refused_untouched(
        tmp_path: Path, engine: Engine) -> None:
    # A run wrote its files among the user's (`--output /` filled the root), and a
    # dlq.jsonl it had not written was truncated to the checkpoint's 0 bytes.
    from pyengine.batch.job import OutputMismatch

    source = tmp_path / "in.parquet"
    write_transactions(source, 100, seed=1)
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("notes.txt", "dlq.jsonl", "a", "b"):
        (mine / name).write_text("keep me")
    with pytest.raises(OutputMismatch, match=r"mine: holds files of no run \(a, b, dlq.jsonl, "
                                             r"\.\.\.\); choose a new or empty --output"):
        run_job(engine, JobConfig(source, mine, 1))
    assert sorted(p.name for p in mine.iterdir()) == ["a", "b", "dlq.jsonl", "notes.txt"]
    assert {(mine / n).read_text() for n in ("notes.txt", "dlq.jsonl")} == {"keep me"}
    with pytest.raises(OutputMismatch, match=r"in\.parquet: not a directory"):
        run_job(engine, JobConfig(source, source, 1))
    orphan = tmp_path / "orphan"
    (orphan / "results").mkdir(parents=True)
    (orphan / "results" / "part-000000.parquet").write_bytes(b"PAR1")
    with pytest.raises(OutputMismatch, match="orphan: has results but no checkpoint"):
        run_job(engine, JobConfig(source, orphan, 1))
    # What a run killed before its first checkpoint leaves is its own: it resumes there.
    early = tmp_path / "early"
    (early / "results").mkdir(parents=True)
    (early / "checkpoint.json.tmp").write_text("{")
    (early / "report.json").write_text("{}")
    report = run_job(engine, JobConfig(source, early, 1))
    assert report["complete"] and report["input_records"] == 100


def test_dlq_replay_into_its_own_run_or_among_other_files_is_refused(
        tmp_path: Path, engine: Engine) -> None:
    from pyengine.batch.inputs import InputError
    from pyengine.batch.job import OutputMismatch
    from pyengine.batch.replay import prepare_replay

    source = tmp_path / "in.jsonl"
    write_transactions(source, 300, seed=3, bad_fraction=0.1)
    run_job(engine, JobConfig(source, tmp_path / "out", 1))
    with pytest.raises(InputError, match="out: the output of the run replayed"):
        prepare_replay(tmp_path / "out", tmp_path / "out")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("keep me")
    with pytest.raises(OutputMismatch, match=r"other: holds files of no run \(x.txt\)"):
        prepare_replay(tmp_path / "out", tmp_path / "other")
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["x.txt"]
    assert not (tmp_path / "out" / "replay-input.jsonl").exists()


@contextlib.contextmanager
def held_by_another_process(out: Path) -> Iterator[None]:
    """OUT's lock, held by another process (as a run writing there holds it)."""
    code = ("import sys; from pathlib import Path; from pyengine.batch.job import writing_alone\n"
            "with writing_alone(Path(sys.argv[1])): print('held', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0


def test_a_second_process_writing_into_the_same_output_is_refused(
        tmp_path: Path, engine: Engine) -> None:
    # Two runs into one OUT at once wrote every dead letter twice.
    from pyengine.batch.job import OutputBusy
    from pyengine.batch.replay import prepare_replay

    source = tmp_path / "in.jsonl"
    write_transactions(source, 300, seed=3, bad_fraction=0.1)
    out, out2 = tmp_path / "out", tmp_path / "out2"
    with held_by_another_process(out):
        with pytest.raises(OutputBusy, match="out: another process is writing into it"):
            run_job(engine, JobConfig(source, out, 1))
        assert [p.name for p in out.iterdir()] == [".run.lock"]  # nothing written
    assert run_job(engine, JobConfig(source, out, 1))["complete"]  # once it is done
    with held_by_another_process(out2):
        with pytest.raises(OutputBusy, match="out2: another process is writing into it"):
            prepare_replay(out, out2)
        assert [p.name for p in out2.iterdir()] == [".run.lock"]
    replayed = run_job(engine, JobConfig(prepare_replay(out, out2), out2, 1))
    assert replayed["input_records"] == len((out / "dlq.jsonl").read_text().splitlines()) > 0


def test_a_filesystem_that_cannot_lock_does_not_stop_a_run(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import pyengine.batch.job as job

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    source = tmp_path / "in.parquet"
    write_transactions(source, 100, seed=1)
    monkeypatch.setattr(job.fcntl, "flock", no_locks)
    assert run_job(engine, JobConfig(source, tmp_path / "out", 1))["complete"]


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pyengine", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())


def kill_after(proc: subprocess.Popen[str], out: Path, target: int, rng: random.Random,
               sig: signal.Signals = signal.SIGKILL) -> bool:
    """Send ``sig`` to ``proc`` once its checkpoint has reached position ``target``, a random part
    of its last checkpoint interval later: a moment within a segment, chosen by progress
    rather than by time, so that a fast run cannot finish first. True if it landed."""
    deadline = time.monotonic() + 120
    position, gap, since = checkpoint_position(out), 0.0, None
    while position < target:
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        now = checkpoint_position(out)
        if now != position:
            moment = time.monotonic()
            gap = 0.0 if since is None else moment - since  # two checkpoints of this attempt
            position, since = now, moment
        time.sleep(0.001)
    time.sleep(rng.uniform(0.0, 1.0) * min(gap, 0.2))
    if proc.poll() is not None:
        return False
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return True


@pytest.mark.parametrize(("sig", "status", "message"), [
    (signal.SIGTERM, 143, "pyengine: terminated\n"),
    (signal.SIGINT, 130, "pyengine: interrupted\n"),
])
def test_sigterm_and_ctrl_c_stop_a_run_with_one_line_and_it_resumes(
        tmp_path: Path, sig: signal.Signals, status: int, message: str) -> None:
    # The JVM's own SIGTERM handler shut Java down under the workers (a JVMNotRunning
    # traceback); Ctrl-C ended the process with no word. Both signals are Python's now.
    source = tmp_path / "in.parquet"
    write_transactions(source, 100_000, seed=4, bad_fraction=0.001)
    common = ["run", "--rules", str(EXAMPLES), "--input", str(source), "--builder", "javac",
              "--checkpoint-every", "10000", "--chunk-size", "5000", "--quiet"]
    clean = run_cli(*common, "--output", str(tmp_path / "clean"))
    assert clean.wait(timeout=600) == 0
    out = tmp_path / "stopped"
    proc = run_cli(*common, "--output", str(out))
    assert kill_after(proc, out, 20_000, random.Random(3), sig)
    assert proc.returncode == status
    assert proc.stderr is not None and proc.stderr.read() == message
    assert run_cli(*common, "--output", str(out)).wait(timeout=600) == 0
    assert digest(out) == digest(tmp_path / "clean")


def test_sigkill_and_resume_end_like_an_uninterrupted_run(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    write_transactions(source, 300_000, seed=4, bad_fraction=0.001)
    common = ["run", "--rules", str(EXAMPLES), "--input", str(source), "--builder", "javac",
              "--checkpoint-every", "20000", "--chunk-size", "5000", "--quiet"]
    clean = run_cli(*common, "--output", str(tmp_path / "clean"))
    assert clean.wait(timeout=600) == 0, clean.stderr.read() if clean.stderr else ""
    rng = random.Random(11)
    out = tmp_path / "killed"
    kills = 0
    for target in sorted(rng.sample(range(20_000, 240_000, 20_000), 4)):
        # Each attempt resumes at the last checkpoint and is killed some way past the
        # next target: after its first segment at the earliest, with segments to spare.
        proc = run_cli(*common, "--output", str(out), "--workers", str(rng.choice([1, 2])))
        kills += kill_after(proc, out, target, rng)
    final = run_cli(*common, "--output", str(out))
    assert final.wait(timeout=600) == 0
    assert kills >= 3  # each attempt stops at a checkpoint with segments to spare
    assert digest(out) == digest(tmp_path / "clean")
    report = json.loads((out / "report.json").read_text())
    assert report["input_records"] == 300_000 == report["results"] + report["dead_letters"]


def test_cli_run_json_and_strict_sla(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_transactions(source, 300, seed=3, bad_fraction=0.1)
    base = ["run", "--rules", str(EXAMPLES), "--input", str(source), "--builder", "javac"]
    ok = subprocess.run([sys.executable, "-m", "pyengine", *base, "--output",
                         str(tmp_path / "a"), "--json"], cwd=ROOT, capture_output=True,
                        text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    for key in ("input_records", "results", "dead_letters", "decisions", "workers",
                "wall_seconds", "tps", "ruleset_version", "sla", "complete"):
        assert key in report
    missed = subprocess.run([sys.executable, "-m", "pyengine", *base, "--output",
                             str(tmp_path / "b"), "--sla", "0.001s", "--strict-sla", "--quiet"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert missed.returncode == 1 and "beyond the SLA" in missed.stderr
    for sla in ("0s", "nan", "1e400h", "-1", "8785h"):
        refused = subprocess.run([sys.executable, "-m", "pyengine", *base, "--output",
                                  str(tmp_path / "d"), f"--sla={sla}"],
                                 cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2, sla
        assert "argument --sla: not a duration from 0 to 366 days" in refused.stderr
    for workers, why in (("0", "at least 1, got 0"), ("257", "at most 256, got 257")):
        refused = subprocess.run([sys.executable, "-m", "pyengine", *base, "--output",
                                  str(tmp_path / "d"), f"--workers={workers}"],
                                 cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2 and f"argument --workers: must be {why}" in refused.stderr
    missing = subprocess.run([sys.executable, "-m", "pyengine", *base[:4], str(tmp_path / "no"),
                              "--output", str(tmp_path / "c"), "--builder", "javac"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_explain_and_generate_cli(tmp_path: Path) -> None:
    txn = json.dumps({**TXN, "client_id": "acme", "amount": "15000.00"})
    result = subprocess.run([sys.executable, "-m", "pyengine", "explain", "--rules",
                             str(EXAMPLES), "--txn", txn, "--builder", "javac"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "decision: flag" in result.stdout
    assert "[fired   ] high_value_usd -> flag: amount > 10000.00" in result.stdout
    assert "fee_bps = 25" in result.stdout
    for bad, reason in [("{not json", "Expecting property name"),
                        ("[" * 20_000 + "]" * 20_000, "nested too deeply")]:
        refused = subprocess.run([sys.executable, "-m", "pyengine", "explain", "--rules",
                                  str(EXAMPLES), "--txn", bad], cwd=ROOT,
                                 capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2
        assert refused.stderr.startswith(f"pyengine: error: --txn is not valid JSON: {reason}")
        assert "Traceback" not in refused.stderr
    one = tmp_path / "a.jsonl"
    two = tmp_path / "b.jsonl"
    for path in (one, two):
        subprocess.run([sys.executable, "-m", "pyengine", "generate", "--count", "200", "--out",
                        str(path), "--seed", "7", "--bad-fraction", "0.1"], cwd=ROOT,
                       check=True, capture_output=True, timeout=120)
    assert one.read_bytes() == two.read_bytes()
    for option, why in (("--seed=-5", "--seed: must be at least 0, got -5"),
                        ("--clients=1000001", "--clients: must be at most 1000000, got 1000001")):
        refused = subprocess.run([sys.executable, "-m", "pyengine", "generate", "--count", "9",
                                  "--out", str(tmp_path / "c.jsonl"), option], cwd=ROOT,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and f"argument {why}" in refused.stderr


@pytest.mark.parametrize(("settings", "message"), [
    # numpy's seeding raised a ValueError traceback for a negative seed; each client id
    # was named, used or not: 10**8 of them took 80 s for a thousand transactions.
    ({"seed": -1}, "seed -1: a seed is a whole number from 0"),
    ({"clients": 0}, "0 clients: from 1 to 1,000,000 are allowed"),
    ({"clients": 10**8}, "100000000 clients: from 1 to 1,000,000 are allowed"),
])
def test_generate_refuses_a_negative_seed_and_no_or_too_many_clients(
        settings: dict[str, int], message: str) -> None:
    from pyengine.batch.generate import transactions

    with pytest.raises(ConfigError, match=message):
        transactions(10, **settings)


@pytest.mark.parametrize(("line", "reason"), [
    ("not json", "Expecting value"),
    ("[1, 2]", "a JSON object with a 'record' is expected"),
    ('{"position": 3}', "a JSON object with a 'record' is expected"),
    ("[" * 5_000 + "]" * 5_000, "nested too deeply"),
])
def test_dlq_replay_refuses_lines_that_are_not_dead_letters(tmp_path: Path, line: str,
                                                            reason: str) -> None:
    from pyengine.batch.inputs import InputError
    from pyengine.batch.replay import prepare_replay

    (tmp_path / "out").mkdir()
    good = json.dumps({"position": 0, "source": "a.jsonl", "record": {"id": "x"}})
    (tmp_path / "out" / "dlq.jsonl").write_text(f"{good}\n{line}\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"dlq.jsonl:2: not a dead letter: {reason}"):
        prepare_replay(tmp_path / "out", tmp_path / "out2")
    assert not (tmp_path / "out2" / "replay-input.jsonl").exists()


def test_dlq_replay_after_fixing_the_rules(tmp_path: Path) -> None:
    import shutil

    source = tmp_path / "in.jsonl"
    write_transactions(source, 2000, seed=8, bad_fraction=0.05)
    first = ["run", "--rules", str(EXAMPLES), "--input", str(source), "--output",
             str(tmp_path / "out"), "--builder", "javac", "--quiet"]
    assert subprocess.run([sys.executable, "-m", "pyengine", *first], cwd=ROOT,
                          timeout=300).returncode == 0
    letters = dlq(tmp_path / "out")
    evaluation = [d for d in letters if d["error"]["kind"] == "evaluation"]
    assert evaluation
    # The fix: the velocity rule guards against zero-day-old accounts.
    fixed = tmp_path / "rules"
    shutil.copytree(EXAMPLES, fixed)
    text = (fixed / "globex.yaml").read_text()
    (fixed / "globex.yaml").write_text(text.replace(
        "when: txn_count_24h / account_age_days > 5",
        "when: account_age_days > 0 && txn_count_24h / account_age_days > 5"))
    replay = ["dlq", "replay", str(tmp_path / "out"), "--rules", str(fixed), "--output",
              str(tmp_path / "out2"), "--builder", "javac", "--json", "--compression", "snappy"]
    result = subprocess.run([sys.executable, "-m", "pyengine", *replay], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["input_records"] == len(letters)
    assert report["results"] == len(evaluation)  # fixed: evaluated now
    remaining = dlq(tmp_path / "out2")
    assert {d["error"]["kind"] for d in remaining} == {"schema", "parse"}
    positions = sorted([d["position"] for d in remaining]
                       + read_results(tmp_path / "out2").column("position").to_pylist())
    assert positions == list(range(len(letters)))
    part = next((tmp_path / "out2" / "results").glob("*.parquet"))
    assert pq.ParquetFile(part).metadata.row_group(0).column(0).compression == "SNAPPY"


def test_empty_inputs(tmp_path: Path, engine: Engine) -> None:
    empty = engine.evaluate_batch(pa.Table.from_pylist([TXN]).slice(0, 0))
    assert empty.results.num_rows == 0 and empty.dead_letters == []
    (tmp_path / "empty.jsonl").write_text("")
    report = run_job(engine, JobConfig(tmp_path / "empty.jsonl", tmp_path / "out", 2))
    assert report["complete"] and report["input_records"] == 0


def test_hostile_jsonl_lines(tmp_path: Path, engine: Engine) -> None:
    good = json.dumps({**TXN, "client_id": "acme"})
    lines = [good.encode(), b"\xff\xfe{not utf8}", b"", b"[1, 2]", b"null", b"{\"id\": 1}",
             b'{"id": "a", "id": "b"}', b"{" * 5000, good.encode().replace(b"12.00", b"1e999"),
             "\ufeff".encode() + good.encode(), good.encode() + b"\r"]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    report = run_job(engine, JobConfig(source, tmp_path / "out", 2, 4, 2))
    assert report["input_records"] == len(lines) == report["results"] + report["dead_letters"]
    letters = dlq(tmp_path / "out")
    raw = (tmp_path / "out" / "dlq.jsonl").read_bytes()
    raw.decode("ascii")  # always valid, whatever the input bytes were
    kinds = {d["position"]: d["error"]["kind"] for d in letters}
    assert kinds[1] == "parse" and letters[0]["record"].startswith("\\xff\\xfe")
    assert kinds[2] == "parse" and kinds[7] == "parse" and kinds[9] == "parse"
    assert kinds[3] == kinds[4] == kinds[5] == kinds[6] == "schema"
    assert kinds[8] == "schema"  # an amount of 1e999 is not a decimal(2)
    positions = sorted([*kinds, *read_results(tmp_path / "out").column("position").to_pylist()])
    assert positions == list(range(len(lines)))


def test_batch_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from pyengine.bench.batch import main

    assert main(["--rules", str(EXAMPLES), "--records", "3000", "--runs", "1",
                 "--workers", "1,2", "--single-calls", "500"]) == 0
    out = capsys.readouterr().out
    assert "workers 1: java loop" in out and "workers 2: java loop" in out
    assert "Engine.evaluate (one thread):" in out


def test_batch_benchmark_pools_forked_processes(capsys: pytest.CaptureFixture[str]) -> None:
    from pyengine.bench.batch import main

    assert main(["--rules", str(EXAMPLES), "--records", "2000", "--runs", "2", "--forks", "2",
                 "--workers", "1", "--single-calls", "300"]) == 0
    out = capsys.readouterr().out
    assert "2,000 transactions" in out and "2 processes" in out
    ratios = out.split("forks' ratios ")[1].split()[0:2]
    assert len(ratios) == 2 and all(float(r.rstrip(",")) > 0 for r in ratios)


def test_run_benchmark_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pyengine.bench.run import main

    assert main(["--rules", str(EXAMPLES), "--records", "3000,1000", "--runs", "1",
                 "--data", str(tmp_path), "--floor"]) == 0
    out = capsys.readouterr().out
    assert "3,000 records" in out and "peak memory 3,000 / 1,000 records" in out
    assert out.count("floor: reading") == 2
    # the floor wrote the same results again: as many rows, the same values
    again = pq.read_table(tmp_path / "out" / "floor")
    assert again.equals(pq.read_table(tmp_path / "out" / "results"))


def test_bench_scaling_writes_table_json_and_chart(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pyengine", "bench", "scaling", "--rules",
                          str(EXAMPLES), "--records", "3000", "--runs", "1", "--workers", "1,2",
                          "--out", str(tmp_path), "--builder", "javac"],
                         capture_output=True, text=True, check=True).stdout
    assert "← optimal" in out and "per 2-hour SLA window" in out
    result = json.loads((tmp_path / "scaling.json").read_text())
    assert [r["workers"] for r in result["matrix"]] == [1, 2]
    assert result["matrix"][0]["scaling"] == 1.0 and result["optimal_workers"] in (1, 2)
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_directory_is_read_file_by_file_in_name_order(tmp_path: Path,
                                                        engine: Engine) -> None:
    source = tmp_path / "in"
    sizes = {"a.jsonl": 300, "b.csv": 200, "c.parquet": 250}
    for seed, (name, count) in enumerate(sizes.items()):
        write_transactions(source / name, count, seed=seed, bad_fraction=0.05)
    # Not read, as Arrow's datasets do not read them: what other programs leave there.
    (source / "._a.parquet").write_bytes(b"\0\5\26\7 macOS's AppleDouble")
    (source / ".hidden.jsonl").write_text("not json\n")
    (source / "_tmp.csv").write_text("x\n")
    (source / "_SUCCESS").write_text("")
    (source / "notes.txt").write_text("hi")
    (source / "sub.parquet").mkdir()
    report = run_job(engine, JobConfig(source, tmp_path / "out", 2, 100, 64))
    assert report["input_records"] == sum(sizes.values())
    results, letters = [], []
    first = 0  # a file's first position in the directory
    for name, count in sizes.items():
        run_job(engine, JobConfig(source / name, tmp_path / name, 1))
        alone = read_results(tmp_path / name).to_pylist()
        results += [{**r, "position": r["position"] + first} for r in alone]
        letters += [{**d, "position": d["position"] + first} for d in dlq(tmp_path / name)]
        first += count
    assert read_results(tmp_path / "out").to_pylist() == results
    assert dlq(tmp_path / "out") == letters
    assert {d["source"] for d in letters} == set(sizes)


def test_reading_parquet_keeps_memory_bounded(tmp_path: Path) -> None:
    """Arrow memory while streaming a file stays near one batch, whatever the file size."""
    from pyengine.batch.inputs import read_input

    source = tmp_path / "big.parquet"
    table = pa.concat_tables([pa.Table.from_pylist(sample_rows(2000, seed=s)) for s in range(20)])
    pq.write_table(table, source, row_group_size=2000)  # 20 row groups
    baseline = pa.total_allocated_bytes()
    peak = 0
    for item in read_input(source, 2000, {"client_id", "country"}):
        peak = max(peak, pa.total_allocated_bytes() - baseline)
        del item
    one_group = table.slice(0, 2000).nbytes
    assert peak < 4 * one_group, (peak, one_group)


def test_disk_full_stops_cleanly_and_the_rerun_completes(tmp_path: Path, engine: Engine,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import pyengine.batch.parts as parts
    from pyengine.batch.job import OutputError

    source = tmp_path / "in.parquet"
    write_transactions(source, 12_000, seed=12, bad_fraction=0.01)
    clean = run_job(engine, JobConfig(source, tmp_path / "clean", 2, 3000, 1000))
    real = parts.pq.ParquetWriter

    def failing(*args: Any, **kwargs: Any) -> Any:
        if "part-000002" in str(args[0]):  # the third part file hits a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(parts.pq, "ParquetWriter", failing)
    out = tmp_path / "out"
    with pytest.raises(OutputError, match="No space left on device") as info:
        run_job(engine, JobConfig(source, out, 2, 3000, 1000))
    assert isinstance(info.value.__cause__, OSError)
    state = json.loads((out / "checkpoint.json").read_text())["state"]
    assert state["parts"] == 2 and not state["complete"]
    monkeypatch.setattr(parts.pq, "ParquetWriter", real)  # the disk has room again
    resumed = run_job(engine, JobConfig(source, out, 2, 3000, 1000))
    assert digest(out) == digest(tmp_path / "clean")
    assert resumed["results"] == clean["results"]
