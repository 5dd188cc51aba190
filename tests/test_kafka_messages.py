"""Kafka result messages, without a broker: each is the JSON of its result row.

CLI.md asks for result messages with the same fields as the file outputs; their values
are written as dead letters write theirs (``json_safe``: decimals as text, timestamps
in RFC 3339), whatever the column's type and however hostile its strings.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyengine.batch.chunk import json_safe
from pyengine.errors import JvmError
from pyengine.jvm.jsontext import JsonRowsWriter
from tests.strategies import floats, ints, strings

STRING = pa.dictionary(pa.int32(), pa.string())
TIMESTAMP = pa.timestamp("us", tz="UTC")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROS = st.integers(-62135596800_000000, 253402300799_999999)  # years 0001 to 9999
# Whole seconds and whole milliseconds too: writers shorten their fractions.
timestamps = (MICROS | MICROS.map(lambda us: us // 1000 * 1000)
              | MICROS.map(lambda us: us // 1_000_000 * 1_000_000)).map(
    lambda us: EPOCH + dt.timedelta(microseconds=us))

# Result column types (chunk.arrow_type) and values of each, None for null.
COLUMNS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "id": (pa.string(), strings),
    "decision": (STRING, strings),
    "fired": (pa.list_(STRING), st.lists(strings, max_size=3)),
    "count": (pa.int64(), ints),
    "ratio": (pa.float64(), floats | st.sampled_from([math.nan, math.inf, -math.inf])),
    "ok": (pa.bool_(), st.booleans()),
    "amount": (pa.decimal128(19, 2), st.integers(-10**17, 10**17).map(
        lambda n: Decimal(n).scaleb(-2))),
    # str(Decimal) writes a small value's exponent (1E-18, 0E-18); 19 digits pass a long.
    "tiny": (pa.decimal128(19, 18), st.integers(-10**19 + 1, 10**19 - 1).map(
        lambda n: Decimal(n).scaleb(-18)) | st.integers(-10**6, 10**6).map(
        lambda n: Decimal(n).scaleb(-18))),
    "whole": (pa.decimal128(19, 0), st.integers(-10**19 + 1, 10**19 - 1).map(Decimal)),
    "partition": (pa.int32(), st.integers(-2**31, 2**31 - 1)),
    "at": (TIMESTAMP, timestamps),
    "tags": (pa.list_(pa.int64()), st.lists(ints, max_size=3)),
    "times": (pa.list_(TIMESTAMP), st.lists(timestamps, max_size=3)),
}


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    arrays = []
    for name, (arrow, _) in COLUMNS.items():
        values = [row[name] for row in rows]
        if arrow == STRING:
            arrays.append(pa.array(values, pa.string()).dictionary_encode())
        elif arrow == pa.list_(STRING):
            arrays.append(pa.array(values, pa.list_(pa.string())).cast(arrow))
        else:
            arrays.append(pa.array(values, arrow))
    return pa.Table.from_arrays(arrays, names=list(COLUMNS))


pytestmark = pytest.mark.jvm


@pytest.fixture(scope="module")
def writer(examples_compiled: Any) -> JsonRowsWriter:
    return JsonRowsWriter(examples_compiled.loader)


rows = st.fixed_dictionaries({name: st.none() | values
                              for name, (_, values) in COLUMNS.items()})


@settings(max_examples=80, deadline=None)
@given(st.lists(rows, min_size=1, max_size=20))
def test_each_result_message_is_the_json_of_its_row(writer: JsonRowsWriter,
                                                    batch: list[dict[str, Any]]) -> None:
    table = _table(batch)
    lines = writer.lines(table)
    assert len(lines) == table.num_rows
    for line, row in zip(lines, table.to_pylist(), strict=True):
        assert json.loads(line) == json_safe(row)


def test_no_results_no_messages(writer: JsonRowsWriter) -> None:
    assert writer.lines(_table([])) == []


def test_timestamps_keep_six_fraction_digits_when_all_are_whole_milliseconds(
        writer: JsonRowsWriter) -> None:
    # Found by the test above in CI: polars shortens a column of whole milliseconds.
    at = EPOCH + dt.timedelta(milliseconds=3)
    row = {name: None for name in COLUMNS} | {"at": at, "times": [at, EPOCH]}
    message = json.loads(writer.lines(_table([row]))[0])
    assert message["at"] == "1970-01-01T00:00:00.003000+00:00"
    assert message["times"] == [message["at"], "1970-01-01T00:00:00+00:00"]


@settings(max_examples=20, deadline=None)
@given(st.lists(rows, min_size=2, max_size=10), st.lists(rows, min_size=1, max_size=10))
def test_tables_of_several_chunks_and_slices_are_written_row_by_row(
        writer: JsonRowsWriter, first: list[dict[str, Any]], second: list[dict[str, Any]]) -> None:
    # Arrays with offsets: a sliced table's arrays start inside their buffers.
    table = pa.concat_tables([_table(first), _table(second)]).slice(1)
    lines = writer.lines(table)
    assert [json.loads(line) for line in lines] == [json_safe(r) for r in table.to_pylist()]


def test_an_array_java_cannot_read_is_a_jvm_error(writer: JsonRowsWriter) -> None:
    # A code past the end of the dictionary (unchecked): Java's bounds check, wrapped.
    broken = pa.DictionaryArray.from_arrays(pa.array([1000], pa.int32()), pa.array(["x"]),
                                            safe=False)
    with pytest.raises(JvmError, match="writing results as JSON failed") as caught:
        writer.lines(pa.table({"id": broken}))
    assert caught.value.__cause__ is not None


def test_a_column_of_a_type_results_never_have_is_refused(writer: JsonRowsWriter) -> None:
    with pytest.raises(JvmError, match="no JSON writer for Arrow type int8"):
        writer.lines(pa.table({"small": pa.array([1], pa.int8())}))
