"""Conversion of single transactions: the generated fast reader against convert_record."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyengine.errors import SchemaViolation
from pyengine.pipeline import load_program
from pyengine.records import compile_reader, convert_record, parse_timestamp, public_value
from pyengine.spec.program import Schema
from tests.strategies import decimal_texts

SCHEMA: Schema = load_program("examples/rules").schema
READ = compile_reader(SCHEMA)

ODD = st.sampled_from([
    None, True, False, 0, -1, 2**63, -(2**63) - 1, 2**63 - 1, 1.5, math.nan, math.inf, -0.0,
    "", "12", "+12", "-0", ".5", "1.", "1e3", "0012.50", "1.234", "١٢", "9" * 25, "NaN",
    "true", "2026-01-01T00:00:00Z", "2026-01-01t00:00:00.5z", "2026-01-01 00:00:00+05:30",
    "2026-02-30T00:00:00Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00.1234567Z",
    "2026-01-01", "20260101T000000Z", Decimal("1.10"), Decimal("1.001"), [], {}, ["x"],
    dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1),
])
TYPICAL = {
    "string": st.text(max_size=8), "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False), "bool": st.booleans(),
    "decimal": decimal_texts(), "timestamp": st.datetimes(
        min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC)).map(lambda d: d.isoformat()),
}


@st.composite
def records(draw: Any) -> dict[str, Any]:
    """Typical values, with up to two fields missing or odd."""
    raw = {name: draw(TYPICAL[f.type.kind]) for name, f in SCHEMA.fields.items()}
    for name in draw(st.lists(st.sampled_from(list(SCHEMA.fields)), max_size=2)):
        if draw(st.booleans()):
            raw.pop(name, None)
        else:
            raw[name] = draw(ODD)
    return raw


def test_fast_reader_agrees_with_convert_record() -> None:
    paths = {True: 0, False: 0}

    @settings(max_examples=400, deadline=None)
    @given(records())
    def check(raw: dict[str, Any]) -> None:
        fast = READ(raw)
        paths[fast is not None] += 1
        try:
            slow = convert_record(SCHEMA, raw)
        except SchemaViolation:
            assert fast is None, raw
            return
        if fast is None:
            return  # an uncommon form: convert_record alone reads it
        present, *values = fast
        for k, name in enumerate(SCHEMA.fields):
            if slow[name] is None:
                assert not present >> k & 1, name
            else:
                assert values[k] == slow[name] and type(values[k]) is type(slow[name]), name

    check()
    assert paths[True] > 50 and paths[False] > 50, paths  # both paths were exercised


def test_typical_record_takes_the_fast_path() -> None:
    raw = {"id": "t", "client_id": "acme", "amount": "-12.5", "currency": "USD",
           "country": "US", "mcc": 5411, "channel": "web", "ts": "2026-01-01T00:00:00Z",
           "account_age_days": 3, "txn_count_24h": 1, "vip": False, "score": 0.5}
    assert READ(raw) == (0, "t", "acme", -1250, "USD", "US", 5411, "web", 1767225600000000,
                         3, 1, False, 0.5, "")


@pytest.mark.parametrize(("text", "message"), [
    ("2026-01-01T00:00:00+24:00", "offset must be"),
    ("2026-02-30T00:00:00Z", "day is out of range"),
])
def test_impossible_timestamps_are_schema_errors(text: str, message: str) -> None:
    with pytest.raises(SchemaViolation, match=message):
        convert_record(SCHEMA, {**_complete(), "ts": text})
    with pytest.raises(Exception, match=message):
        parse_timestamp(text)


def test_public_values() -> None:
    decimal2 = SCHEMA.fields["amount"].type
    assert public_value(-1250, decimal2) == Decimal("-12.50")
    assert public_value(0, SCHEMA.fields["ts"].type) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert public_value(None, decimal2) is None


def _complete() -> dict[str, Any]:
    return {"id": "t", "client_id": "acme", "amount": "1", "currency": "USD", "country": "US",
            "mcc": 1, "channel": "web", "ts": "2026-01-01T00:00:00Z", "account_age_days": 3,
            "txn_count_24h": 1, "vip": False, "score": 0.5}
