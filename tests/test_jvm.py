"""The JVM layer: JDK discovery, class loaders, error codes, threads."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyengine.errors import JvmError
from pyengine.jvm.rules import CompiledRules, error_details
from pyengine.jvm.runtime import java_feature_version, java_home, jvm_options
from pyengine.reference import ops
from pyengine.reference.evaluator import evaluate
from pyengine.spec.resolver import load_rules
from tests.conftest import ROOT
from tests.helpers import TXN, one_rule, write_rules


def test_java_home_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JvmError, match="does not contain bin/java"):
        java_home()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JvmError, match="no Java found"):
        java_home()


def test_feature_version_and_options(tmp_path: Path) -> None:
    (tmp_path / "release").write_text('JAVA_VERSION="25.0.1"\n')
    assert java_feature_version(tmp_path) == 25
    assert "--enable-native-access=ALL-UNNAMED" in jvm_options(25)
    (tmp_path / "release").write_text('JAVA_VERSION="17.0.15"\n')
    assert java_feature_version(tmp_path) == 17
    assert "--enable-native-access=ALL-UNNAMED" not in jvm_options(17)


def test_the_heap_is_sized_unless_the_user_sizes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYENGINE_JVM_OPTIONS", raising=False)
    assert {"-XX:+DisableExplicitGC", "-Xmn32m"} <= set(jvm_options(17))
    monkeypatch.setenv("PYENGINE_JVM_OPTIONS", "-Xmx16m -Dx=1")
    options = jvm_options(17)
    assert "-Xmn32m" not in options
    assert options[-2:] == ["-Xmx16m", "-Dx=1"]


# Python's heap grows by 20 MB between collections, in malloc's heap, which JPype
# watches: past its limit (10 MB of growth), JPype's hook at the end of a collection
# calls System.gc(), a full Java collection (checked: this fails without the option).
_GROWING_HEAP = """
import gc, jpype
from pyengine.jvm.runtime import start
start()
beans = jpype.JClass("java.lang.management.ManagementFactory").getGarbageCollectorMXBeans()
def collections():
    return {str(b.getName()): int(b.getCollectionCount()) for b in beans}
before = collections()
held = []
for _ in range(10):
    held.append([bytes(2000) for _ in range(10_000)])  # malloc, not mmap
    gc.collect()
print(before == collections(), sorted(collections()))
"""


@pytest.mark.jvm
def test_python_collections_do_not_make_java_collect() -> None:
    result = subprocess.run([sys.executable, "-c", _GROWING_HEAP], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ", 1)[0] == "True", result.stdout


def test_a_broken_java_home_fails_clearly_in_a_fresh_process(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").write_text("#!/bin/sh\n")
    code = ("from pyengine.jvm.runtime import start\n"
            "from pyengine.errors import JvmError\n"
            "try:\n    start()\nexcept JvmError as e:\n    print('JvmError:', e)\n")
    env = {**os.environ, "JAVA_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("JvmError: no libjvm found under")


@pytest.mark.jvm
def test_java_error_codes_match_python(examples_compiled: Any) -> None:
    java_codes = examples_compiled.loader.cls("pyengine.runtime.ErrorCode")
    for name in ("OVERFLOW", "DIVISION_BY_ZERO", "MISSING_VALUE", "UNIQUE_VIOLATION",
                 "ANY_CONFLICT", "CONVERSION", "INTERNAL", "UNKNOWN_CLIENT", "REGEX_LIMIT",
                 "OUT_OF_RANGE"):
        assert int(getattr(java_codes, name)) == getattr(ops, name), name


@pytest.mark.jvm
def test_jar_from_other_rules_is_refused(tmp_path: Path, examples_compiled: Any) -> None:
    other = load_rules(write_rules(tmp_path / "r", {"c.yaml": one_rule("true")}))
    with pytest.raises(JvmError, match="was built from other rules"):
        CompiledRules(other, examples_compiled.loader.jar)


@pytest.mark.jvm
def test_a_chunk_evaluated_again_keeps_one_detail_per_failed_row(tmp_path: Path) -> None:
    from pyengine.batch.convert import columns_from_records
    from pyengine.pipeline import compile_rules

    compiled = compile_rules(write_rules(tmp_path / "r", {"c.yaml": one_rule("mcc > 1")}),
                             "javac")
    raws = [{**TXN, "client_id": client} for client in ("c", "x1", "c", "x2")]
    columns = columns_from_records(compiled.program.schema, raws)
    bound = compiled.bind_columns(columns, 0, columns.n)
    for start in (0, 0, 2):  # evaluated again: all of it, then from row 2 on
        compiled.evaluator().evaluateChunk(bound.chunk, start, bound.rows)
        assert list(bound.chunk.errorRows()) == [1, 3]
        assert error_details(bound.chunk) == {1: "x1", 3: "x2"}


@pytest.mark.jvm
def test_java_writes_every_validity_bit_of_the_outputs(examples_compiled: Any) -> None:
    from pyengine.batch.convert import columns_from_records

    cases = [(c, a) for c in ("acme", "globex", "initech", "other") for a in ("5.00", "9000.00")]
    raws = [{**TXN, "id": f"t{i}", "client_id": client, "amount": amount}
            for i, (client, amount) in enumerate(cases)]
    columns = columns_from_records(examples_compiled.program.schema, raws)
    bound = examples_compiled.bind_columns(columns, 0, columns.n)
    for _, valid, _ in bound.result.outputs.values():
        valid[:] = 0xFF  # what an earlier evaluation of the chunk may have left
    examples_compiled.evaluator().evaluateChunk(bound.chunk, 0, bound.rows)
    seen = set()
    for i, raw in enumerate(raws):
        expected = evaluate(examples_compiled.program, raw)
        assert expected.error is None
        row = int(bound.result.result_row[i])
        for name, (_, valid, _) in bound.result.outputs.items():
            bit = (int(valid[row >> 3]) >> (row & 7)) & 1
            assert bit == (expected.outputs[name] is not None), (name, raw)
            seen.add(bit)
    assert seen == {0, 1}


@pytest.mark.jvm
def test_two_versions_side_by_side(tmp_path: Path) -> None:
    from pyengine.pipeline import compile_rules

    a = compile_rules(write_rules(tmp_path / "a", {"c.yaml": one_rule("mcc > 1")}), "javac")
    b = compile_rules(write_rules(tmp_path / "b", {"c.yaml": one_rule("mcc > 1", "reject")}),
                      "javac")
    txn = {**TXN, "client_id": "c", "mcc": 5}
    assert a.evaluate(txn).decision == "flag"
    assert b.evaluate(txn).decision == "reject"
    assert a.evaluate(txn).decision == "flag"  # each jar keeps its own classes


@pytest.mark.jvm
def test_threads_share_nothing(examples_compiled: Any) -> None:
    program = examples_compiled.program
    txns = [{**TXN, "client_id": c, "mcc": m, "amount": f"{m}.00", "note": f"n{m}"}
            for c in ("acme", "globex", "initech", "zzz") for m in range(0, 3000, 7)]
    expected = [evaluate(program, t) for t in txns]

    def work(offset: int) -> list[Any]:
        mine = txns[offset:] + txns[:offset]
        return [examples_compiled.evaluate(t) for t in mine]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(0, 40, 10)))
    for offset, got in zip(range(0, 40, 10), results, strict=True):
        assert got == expected[offset:] + expected[:offset]


def test_single_transactions_with_long_and_unusual_strings(examples_compiled: Any) -> None:
    # Strings travel as UTF-8 bytes after the fixed part of the input buffer: a long one
    # grows the buffer, and each is found by the lengths of those before it (the unread
    # id comes first).
    program = examples_compiled.program
    for n in (3, 3000, 70_000, 5):
        for text in ("é" * n, "a\x00b" * n, "\U0001f600" * n):
            txn = {**TXN, "client_id": "globex", "id": text, "country": "DE",
                   "note": "PO-" + text}
            assert examples_compiled.evaluate(txn) == evaluate(program, txn), (n, text[:6])
    assert examples_compiled.evaluate({**TXN, "client_id": "globex", "note": "PO-123456"}) \
        == evaluate(program, {**TXN, "client_id": "globex", "note": "PO-123456"})


def test_single_string_outputs_across_dictionary_generations(examples_compiled: Any) -> None:
    # Java remembers at most 4096 distinct values of a string output for single
    # transactions, then starts a new generation, and Python's copies must follow.
    program = examples_compiled.program
    for k in range(9000):
        note = f"PO-{k if k % 3 else 7:06d}"  # new values, and one from the first generation
        txn = {**TXN, "client_id": "globex", "note": note}
        got = examples_compiled.evaluate(txn)
        assert got.outputs["reference"] == note, k
        if k % 97 == 0:
            assert got == evaluate(program, txn), k


def test_public_string_outputs_across_dictionary_generations(examples_compiled: Any) -> None:
    # Engine.evaluate looks codes up unchecked and falls back to the checked lookup
    # (which copies the new values) on an IndexError: each new value takes that path.
    for k in range(10_000, 19_000):  # values the test above did not see
        note = f"PO-{k if k % 3 else 10_007:06d}"
        txn = {**TXN, "client_id": "globex", "note": note}
        got = examples_compiled.evaluate_public(txn)
        assert got["outputs"]["reference"] == note, k
        assert got["ruleset"] == "globex"


def test_chunks_keep_their_results_and_java_pins_no_memory(examples_compiled: Any) -> None:
    import gc
    import weakref

    import numpy as np

    from pyengine.batch.convert import convert_batch
    from pyengine.batch.generate import transactions

    def columns(rows: int, seed: int) -> Any:
        batch = transactions(rows, clients=7, seed=seed).combine_chunks().to_batches()[0]
        return convert_batch(examples_compiled.program.schema, batch)

    def seen(result: Any) -> list[Any]:
        """Each row's error code, or its decision, fired codes and outputs."""
        rows: list[Any] = []
        for i, row in enumerate(result.result_row[:-1].tolist()):
            if result.result_row[i + 1] == row:
                rows.append(int(result.error[i]))
                continue
            fired = result.fired_codes[result.fired_offsets[row]:result.fired_offsets[row + 1]]
            rows.append((int(result.decision[row]), fired.tolist(),
                         {name: result.value(name, i) for name in result.outputs}))
        return rows

    one, other = columns(300, 1), columns(5000, 3)
    first = examples_compiled.evaluate_columns(one)
    expected = seen(first)
    examples_compiled.evaluate_columns(other)
    assert seen(first) == expected, "a later chunk leaves earlier results alone"
    assert len(first.fired_codes) == first.fired_offsets[first.count], "compacted"
    assert examples_compiled.evaluate_columns(one, 7, 7).count == 0  # no rows, no buffers
    # Java writes each result row's position, from a first one beyond 32 bits.
    first_position = 2**40 + 2**31 + 5
    bound = examples_compiled.bind_columns(other, 100, 4100, first_position)
    examples_compiled.run_bound(bound)
    rows = np.flatnonzero(np.diff(bound.result.result_row) > 0)
    assert len(rows) > 0
    assert bound.result.position[:len(rows)].tolist() == (rows + first_position).tolist()
    # Compacting shrank the arrays under Java's buffers: the chunk cannot run again.
    bound = examples_compiled.bind_columns(one, 0, 10)
    examples_compiled.run_bound(bound)
    result = examples_compiled.collect(bound)
    assert len(result.fired_codes) == result.fired_offsets[result.count]
    with pytest.raises(ValueError, match="evaluated once"):
        examples_compiled.run_bound(bound)
    # Java's buffers hold no reference to the memory under them: it is freed with the
    # last Python reference, not when Java gets round to collecting its buffers.
    result = examples_compiled.evaluate_columns(other)
    alive = [weakref.ref(a) for a in (other.columns["amount"].values, result.decision)]
    del other, result
    gc.collect()
    assert [ref() is None for ref in alive] == [True, True], "memory outlives its arrays"


@pytest.mark.jvm
def test_java_exceptions_are_wrapped(examples_compiled: Any) -> None:
    import jpype
    import numpy as np

    from pyengine.batch.convert import columns_from_records

    columns = columns_from_records(examples_compiled.program.schema, [{**TXN, "client_id": "acme"}])
    columns.columns["client_id"].values[:] = np.int32(99)  # a code outside the dictionary
    with pytest.raises(JvmError, match="the compiled rules failed") as info:
        examples_compiled.evaluate_columns(columns)
    assert isinstance(info.value.__cause__, jpype.JException)


@pytest.mark.jvm
def test_utf8_cache_returns_each_value_it_is_given(examples_compiled: Any) -> None:
    import jpype

    cache = examples_compiled.loader.cls("pyengine.runtime.Utf8Cache")()
    byte_order = jpype.JClass("java.nio.ByteOrder")
    little_endian, big_endian = byte_order.LITTLE_ENDIAN, byte_order.BIG_ENDIAN
    edges = ["", "a", "a\x00", "\x00", "\x00a", "US", "USD", "é", "😀", "12345678", "1234567",
             "123456789", "x" * 64, "y" * 65, "initrode", "initrodf", "ab\x00\x00",
             "0123456789abcdef", "0123456789abcdeg", "0123456789abcdef0", "0123456789abcde"]

    text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.one_of(st.sampled_from(edges), text), min_size=1, max_size=60))
    def check(values: list[str]) -> None:
        data = b"".join(v.encode() for v in values)
        buffer = jpype.nio.convertToDirectBuffer(bytearray(data or b"\x00"))
        # Short values are read as longs, in the buffer's byte order: both orders must
        # key a value the same way, including its last bytes, read one by one.
        for order in (little_endian, big_endian, little_endian):
            buffer.order(order)
            at = 0
            for v in values:
                size = len(v.encode())
                assert str(cache.get(buffer, at, at + size)) == v
                at += size

    check()


@pytest.mark.jvm
def test_utf8_cache_decodes_a_repeated_value_once(examples_compiled: Any) -> None:
    import jpype

    cache = examples_compiled.loader.cls("pyengine.runtime.Utf8Cache")()
    identity = jpype.JClass("java.lang.System").identityHashCode
    for value in ["USD", "initrode", "0123456789abcdef", "x" * 40]:
        # the same value twice, then followed by other bytes, then at the buffer's end
        size = len(value)
        data = (value * 2 + "tail" * 8 + value).encode()
        buffer = jpype.nio.convertToDirectBuffer(bytearray(data))
        starts = [0, size, len(data) - size]
        decoded = {identity(cache.get(buffer, at, at + size)) for at in starts}
        assert len(decoded) == 1, value


@pytest.mark.jvm
def test_case_mapped_comparisons_agree_with_mapping_first(examples_compiled: Any) -> None:
    # Str.equalsAscii and the others stand for s.lowerAscii().equals(other) and the
    # like in generated code, without making the mapped string.
    str_class = examples_compiled.loader.cls("pyengine.runtime.Str")
    letters = st.text(st.sampled_from("aAzZ@[`{é\u0130Ω0 "), max_size=6)

    @settings(max_examples=150, deadline=None)
    @given(letters, letters, st.booleans())
    def check(s: str, other: str, upper: bool) -> None:
        mapped = str(str_class.upperAscii(s) if upper else str_class.lowerAscii(s))
        assert bool(str_class.equalsAscii(s, upper, other)) == (mapped == other)
        assert bool(str_class.containsAscii(s, upper, other)) == (other in mapped)
        assert bool(str_class.startsWithAscii(s, upper, other)) == mapped.startswith(other)
        assert bool(str_class.endsWithAscii(s, upper, other)) == mapped.endswith(other)

    check()


def test_a_chunk_binds_through_a_few_windows_however_its_arrays_lie(
        examples_compiled: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    import pyengine.jvm.rules as rules
    from pyengine.batch.convert import convert_batch
    from pyengine.batch.generate import transactions

    batch = transactions(3000, clients=7, seed=4).combine_chunks().to_batches()[0]
    columns = convert_batch(examples_compiled.program.schema, batch)
    bindings, _ = examples_compiled.chunk_bindings(columns, 0, columns.n)
    windows, _, keep = rules.pack_bindings(bindings)
    arrays = sum(isinstance(a, np.ndarray) for _, args in bindings for a in args)
    assert len(keep) == arrays and len(windows) < arrays / 4
    # results (written by Java) and inputs (read only) never share a window
    assert any(w.isReadOnly() for w in windows) and not all(w.isReadOnly() for w in windows)

    def seen() -> Any:
        result = examples_compiled.evaluate_columns(columns)
        return (result.decision[:result.count].tolist(), result.fired_codes.tolist(),
                {name: [result.value(name, i) for i in range(columns.n)
                        if result.result_row[i + 1] > result.result_row[i]]
                 for name in result.outputs})

    expected = seen()
    monkeypatch.setattr(rules, "_WINDOW_MAX", 1)  # a window for each array
    one_each = rules.pack_bindings(bindings)[0]
    assert len(one_each) == arrays
    assert seen() == expected
