"""Conversion of single transactions: the generated fast reader against convert_record."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation, Overflow
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyengine.errors import SchemaViolation
from pyengine.pipeline import load_program
from pyengine.records import (
    _plain_decimal,
    compile_reader,
    convert_record,
    format_decimal,
    format_timestamp,
    parse_timestamp,
    public_value,
)
from pyengine.reference.ops import INT_MAX, INT_MIN
from pyengine.spec.program import Schema
from tests.strategies import records

SCHEMA: Schema = load_program("examples/rules").schema
READ = compile_reader(SCHEMA)

def test_fast_reader_agrees_with_convert_record() -> None:
    paths = {True: 0, False: 0}

    @settings(max_examples=400, deadline=None)
    @given(records(SCHEMA))
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


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity")])
def test_a_decimal_nan_or_infinity_is_a_schema_error(value: Decimal) -> None:
    # Engine.evaluate took one to an AssertionError (its exponent is a letter).
    with pytest.raises(SchemaViolation, match="field 'amount': NaN and infinities are not"):
        convert_record(SCHEMA, {**_complete(), "amount": value})


def test_public_values() -> None:
    decimal2 = SCHEMA.fields["amount"].type
    assert public_value(-1250, decimal2) == Decimal("-12.50")
    assert public_value(0, SCHEMA.fields["ts"].type) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert public_value(None, decimal2) is None


PLAIN = r"-?[0-9]{1,19}(\.[0-9]*)?"  # what records._plain_decimal reads without Decimal


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{0,5})?", fullmatch=True),
                 st.text(alphabet="0123456789.-+e \u0663\u00b2", max_size=9)),
       st.sampled_from([0, 2, 4]))
def test_plain_decimals_read_as_decimal_reads_them(text: str, scale: int) -> None:
    fast = _plain_decimal(text, scale)
    try:
        exact = Decimal(text).scaleb(scale)
    except (InvalidOperation, Overflow):  # "1e1000000" is past the context's exponents
        assert fast is None, text
        return
    if fast is not None:
        assert Decimal(fast) == exact, text
    elif re.fullmatch(PLAIN, text) and len(text.partition(".")[2]) <= scale:
        assert not INT_MIN <= exact <= INT_MAX, f"{text}: plain, yet not read"


def _complete() -> dict[str, Any]:
    return {"id": "t", "client_id": "acme", "amount": "1", "currency": "USD", "country": "US",
            "mcc": 1, "channel": "web", "ts": "2026-01-01T00:00:00Z", "account_age_days": 3,
            "txn_count_24h": 1, "vip": False, "score": 0.5}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("mcc", "1" * 5000, r"field 'mcc': 1{40}\.\.\. is out of the 64-bit integer range$"),
    ("mcc", "-" + "0" * 5000 + "12", -12),  # 5,000 leading zeros
    ("mcc", 10**5000 - 1, "field 'mcc': a 16610-bit integer is out of the 64-bit integer range"),
    ("amount", "1" * 5000 + ".5", r"field 'amount': 1{40}\.\.\. is out of range for decimal"),
    ("amount", "0" * 5000 + "1.25", 125),
    ("amount", 10**5000 - 1, "field 'amount': a 16610-bit integer is out of range for decimal"),
    ("amount", Decimal("1e1000000"), "field 'amount': 1E\\+1000000 is out of range for decimal"),
], ids=["int text", "int zeros", "int", "decimal text", "decimal zeros", "decimal int",
        "decimal exponent"])  # pytest's own ids would call str() on 10**5000
def test_numbers_too_long_for_python_to_convert(field: str, value: Any,
                                                message: str | int) -> None:
    # Python converts no text of over 4,300 digits to an int, nor such an int to text:
    # the record is still read, or refused with its field named (and its value cut
    # short), never with a ValueError.
    raw = {**_complete(), field: value}
    if isinstance(message, int):
        assert convert_record(SCHEMA, raw)[field] == message
        return
    with pytest.raises(SchemaViolation, match=message):
        convert_record(SCHEMA, raw)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from([-62_135_596_800_000_000, -59_000_000_000_000_000,
                                  253_402_300_799_999_999]),
                 st.integers(-62_135_596_800_000_000, 253_402_300_799_999_999)),
       st.one_of(st.sampled_from([INT_MIN, INT_MAX, 0, -5]), st.integers(INT_MIN, INT_MAX)),
       st.integers(0, 9))
def test_formatted_values_read_back(micros: int, unscaled: int, scale: int) -> None:
    # Years before 1000 included: strftime's %Y would not write their four digits.
    assert parse_timestamp(format_timestamp(micros)) == micros
    assert _plain_decimal(format_decimal(unscaled, scale), scale) == unscaled
