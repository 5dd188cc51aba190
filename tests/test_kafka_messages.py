"""Kafka result messages, without a broker: each is the JSON of its result row.

CLI.md asks for result messages with the same fields as the file outputs; their values
are written as dead letters write theirs (``json_safe``: decimals as text, timestamps
in RFC 3339), whatever the column's type and however hostile its strings.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pyengine.batch.chunk import json_safe
from pyengine.kafka.member import _json_lines
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
    "ratio": (pa.float64(), floats),
    "ok": (pa.bool_(), st.booleans()),
    "amount": (pa.decimal128(19, 2), st.integers(-10**17, 10**17).map(
        lambda n: Decimal(n).scaleb(-2))),
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


rows = st.fixed_dictionaries({name: st.none() | values
                              for name, (_, values) in COLUMNS.items()})


@settings(max_examples=80, deadline=None)
@given(st.lists(rows, min_size=1, max_size=20))
def test_each_result_message_is_the_json_of_its_row(batch: list[dict[str, Any]]) -> None:
    table = _table(batch)
    lines = _json_lines(table)
    assert len(lines) == table.num_rows
    for line, row in zip(lines, table.to_pylist(), strict=True):
        assert json.loads(line) == json_safe(row)


def test_no_results_no_messages() -> None:
    assert _json_lines(_table([])) == []


def test_timestamps_keep_six_fraction_digits_when_all_are_whole_milliseconds() -> None:
    # Found by the test above in CI: polars shortens a column of whole milliseconds.
    at = EPOCH + dt.timedelta(milliseconds=3)
    row = {name: None for name in COLUMNS} | {"at": at, "times": [at, EPOCH]}
    message = json.loads(_json_lines(_table([row]))[0])
    assert message["at"] == "1970-01-01T00:00:00.003000+00:00"
    assert message["times"] == [message["at"], "1970-01-01T00:00:00+00:00"]
