"""Typed Arrow columns (Parquet's) to the schema's columns, against their Python values."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyengine.batch.convert import convert_batch
from pyengine.pipeline import load_program
from pyengine.spec.program import Schema

SCHEMA: Schema = load_program("examples/rules").schema


# Slices start and end anywhere, mostly inside a byte of Arrow's bitmaps (validity, bool
# values), and the columns are read where they are.
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.booleans()), max_size=60), st.integers(0, 40),
       st.integers(0, 40))
def test_sliced_columns_convert_as_their_values(values: list[bool | None], start: int,
                                                length: int) -> None:
    batch = pa.record_batch({
        "vip": pa.array(values, pa.bool_()),
        "note": pa.array([None if v is None else f"n{v}" for v in values], pa.string()),
        "mcc": pa.array([None if v is None else int(v) for v in values], pa.int64()),
        "score": pa.array([None if v is None else v + 0.5 for v in values], pa.float64()),
        "ts": pa.array([None if v is None else int(v) for v in values], pa.timestamp("us")),
    }).slice(start, length)
    expected = values[start:start + length]
    columns = convert_batch(SCHEMA, batch)
    present = [v is not None for v in expected]
    names = ("vip", "note", "mcc", "score", "ts")
    for name in names:
        assert columns.columns[name].present.tolist() == present, name
    vip, note, mcc, score, ts = (columns.columns[name] for name in names)
    for i, v in enumerate(expected):
        if v is None:
            assert not columns.ok[i]  # vip and mcc are required
            continue
        assert (vip.values[i], mcc.values[i], score.values[i], ts.values[i]) == (v, v, v + 0.5, v)
        assert note.dictionary[int(note.values[i])].as_py() == f"n{v}"


def test_shared_arrays_are_not_writable() -> None:
    # Columns without nulls share one array of presence (and plain strings one of codes):
    # a write meant for one column would reach every other one.
    columns = convert_batch(SCHEMA, pa.record_batch({"id": pa.array(["a", "b"]),
                                                     "mcc": pa.array([1, 2])}))
    for array in (columns.columns["mcc"].present, columns.columns["id"].values):
        assert not array.flags.writeable


@pytest.mark.parametrize("arrow_type", [pa.float64(), pa.float32()])
def test_nan_and_infinities_in_a_float_column_are_schema_errors(arrow_type: pa.DataType) -> None:
    values = [0.5, math.nan, None, math.inf, -math.inf, -0.0]
    score = convert_batch(SCHEMA, pa.record_batch({"score": pa.array(values, arrow_type)})
                          ).columns["score"]
    bad = "NaN and infinities are not accepted"
    assert score.problems == {1: bad, 3: bad, 4: bad}  # not the null: it is null
    assert score.present.tolist() == [v is not None for v in values]


def test_finite_floats_whose_sum_overflows_are_accepted() -> None:
    # the column's sum is infinite, which sends it through the check value by value
    values = [1.7e308, 1.7e308, -1.7e308, -1.7e308, None]
    score = convert_batch(SCHEMA, pa.record_batch({"score": pa.array(values)})).columns["score"]
    assert score.problems == {}
    assert score.values[:4].tolist() == values[:4]
