"""One transaction in one Java call: decimal and timestamp texts read in Java.

Java reads the common forms of decimal and timestamp texts (``pyengine.runtime.Texts``)
and refuses the rest, which Python then reads. Java must read exactly the texts
Python's fast reader reads, to the same values; anything else would make
``Engine.evaluate`` disagree with a batch, or lose speed for a common form.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyengine.errors import JvmError, Pos, RecordError, SchemaViolation
from pyengine.lang.types import Type
from pyengine.records import (
    _plain_decimal,
    compile_reader,
    format_decimal,
    format_timestamp,
    public_value,
)
from pyengine.reference.evaluator import evaluate
from pyengine.reference.ops import INT_MAX, INT_MIN
from pyengine.spec.program import FieldDef, Schema
from tests.helpers import TXN

pytestmark = pytest.mark.jvm

_US_MIN = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
_US_MAX = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


class JavaTexts:
    """``pyengine.runtime.Texts`` called on the UTF-8 bytes of a text."""

    def __init__(self, compiled: Any):
        import jpype

        self._texts = compiled.loader.cls("pyengine.runtime.Texts")
        self._out = jpype.JArray(jpype.JLong)(1)

    def _read(self, method: Any, text: str, *args: int) -> int | None:
        import jpype.nio

        data = text.encode("utf-8", "surrogatepass")
        # a byte before and after: Java must keep to [from, to)
        buffer = jpype.nio.convertToDirectBuffer(bytearray(b"7" + data + b"7"))
        if not method(buffer, 1, 1 + len(data), *args, self._out):
            return None
        return int(self._out[0])

    def decimal(self, text: str, scale: int) -> int | None:
        return self._read(self._texts.decimal, text, scale)

    def timestamp(self, text: str) -> int | None:
        return self._read(self._texts.timestamp, text)


def python_timestamp(text: str) -> int | None:
    """What Python's fast reader makes of a timestamp text (None: not a common form)."""
    return _FAST_TIMESTAMP({"ts": text})


_FAST_TIMESTAMP = compile_reader(Schema(
    {"ts": FieldDef("ts", Type("timestamp"), False, Pos("schema.yaml", 1, 1))}, "schema.yaml"))


def _timestamp_value(text: str) -> int | None:
    values = python_timestamp(text)
    return None if values is None else values[1]


@st.composite
def decimal_texts(draw: Any) -> str:
    """Texts near a plain decimal, and its usual mistakes."""
    sign = draw(st.sampled_from(["", "", "-", "+", " ", "--"]))
    whole = draw(st.one_of(st.text("0123456789", max_size=21),
                           st.sampled_from(["9223372036854775807", "9223372036854775808",
                                            "922337203685477580", "0000000000000000000001"])))
    fraction = draw(st.one_of(st.none(), st.text("0123456789", max_size=4)))
    tail = draw(st.sampled_from(["", "", "", "x", "e5", "\u0663", " ", "\ud800", "."]))
    return sign + whole + ("" if fraction is None else "." + fraction) + tail


@st.composite
def timestamp_texts(draw: Any) -> str:
    """Texts near RFC 3339, with every part sometimes out of range or misshapen."""
    def two(low: int, high: int) -> str:
        return f"{draw(st.integers(low, high)):02d}"

    year = f"{draw(st.integers(0, 9999)):04d}"
    text = (f"{year}-{two(0, 13)}-{two(0, 32)}{draw(st.sampled_from('Tt _'))}"
            f"{two(0, 25)}:{two(0, 61)}:{two(0, 61)}")
    text += draw(st.sampled_from(["", "", ".5", ".123", ".123456", ".1234567", ".", ".12a"]))
    text += draw(st.one_of(
        st.sampled_from(["Z", "z", "", "+0530", "UTC", "Z ", "+05:3"]),
        st.tuples(st.sampled_from("+-"), st.integers(0, 25), st.integers(0, 99)).map(
            lambda z: f"{z[0]}{z[1]:02d}:{z[2]:02d}")))
    if draw(st.booleans()):  # one character spoiled
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(["x", "\u0663", "", "1", ":", "-"])) + text[at + 1:]
    return text


EDGE_TIMESTAMPS = [
    "2024-02-29T00:00:00Z", "2026-02-29T00:00:00Z", "2000-02-29T12:00:00Z",
    "1900-02-29T12:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59.999999-23:59",
    "2026-01-01T24:00:00Z", "2026-01-01T23:59:60Z", "2026-01-01T00:00:00+24:00",
    "2026-04-31T00:00:00Z", "2026-12-31t23:59:59.5z", "2026-06-01 10:00:00-00:00",
    "1969-12-31T23:59:59.999999Z", "2026-01-01T00:00:00.0000001Z", "2026-01-01T00:00:00",
    "2026-01-01T00:00:00+00:60", "2026-01-01T00:00:00-22:99", "2026-01-01T00:00:00+23:60",
]


@pytest.fixture(scope="module")
def java(examples_compiled: Any) -> JavaTexts:
    return JavaTexts(examples_compiled)


@settings(max_examples=400, deadline=None)
@given(st.one_of(decimal_texts(), st.text(max_size=8)), st.integers(0, 9))
def test_java_reads_the_decimal_texts_python_reads_fast(java: JavaTexts, text: str,
                                                        scale: int) -> None:
    expected = _plain_decimal(text, scale) if text.isascii() else None
    assert java.decimal(text, scale) == expected, (text, scale)


@settings(max_examples=400, deadline=None)
@given(st.one_of(timestamp_texts(), st.sampled_from(EDGE_TIMESTAMPS), st.text(max_size=30)))
def test_java_reads_the_timestamp_texts_python_reads_fast(java: JavaTexts, text: str) -> None:
    assert java.timestamp(text) == _timestamp_value(text), text


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(INT_MIN, INT_MAX), st.sampled_from([INT_MIN, INT_MAX, 0, -1])),
       st.integers(0, 9), st.integers(_US_MIN, _US_MAX))
def test_java_reads_the_texts_python_writes_for_a_second_try(
        java: JavaTexts, unscaled: int, scale: int, micros: int) -> None:
    # A record read by Python's full rules goes to Java again with these texts: Java
    # must read each of them back (a refusal would be a JvmError for a good record).
    assert java.decimal(format_decimal(unscaled, scale), scale) == unscaled
    assert java.timestamp(format_timestamp(micros)) == micros


FORMS = [
    # amount: decimal(2); ts: timestamp. Common forms, other forms, and mistakes.
    {"amount": "12.5"}, {"amount": 12}, {"amount": 12.5}, {"amount": "+12.50"},
    {"amount": ".5"}, {"amount": "1e3"}, {"amount": "12.345"}, {"amount": 2**63},
    {"amount": "-92233720368547758.08"}, {"amount": "92233720368547758.08"},
    {"amount": "\u0661\u0662"}, {"amount": "1\ud800"}, {"amount": True}, {"amount": None},
    {"ts": "2026-03-04T05:06:07.89+01:00"}, {"ts": "2026-03-04 05:06:07z"},
    {"ts": "2026-02-30T00:00:00Z"}, {"ts": "2026-03-04T05:06:07.1234567Z"},
    {"ts": "2026-03-04T05:06:07"}, {"ts": "\u0662026-03-04T05:06:07Z"}, {"ts": 1700000000},
    {"ts": dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)}, {"ts": "0000-03-04T05:06:07Z"},
    {"note": "\ud800"}, {"note": "caf\u00e9 test"}, {"id": "\U0001f600"},
]


class Country(StrEnum):  # a str subclass: joined as the text it is
    US = "US"


# Values of other fields the single path checks by joining the texts (strings) or by
# packing them (the int range), rather than one by one.
TYPE_FORMS = [
    {"country": Country.US}, {"client_id": Country.US},
    {"mcc": 2**63 - 1}, {"mcc": 2**63}, {"mcc": -2**63}, {"mcc": -2**63 - 1}, {"mcc": True},
    {"mcc": 5411.0}, {"mcc": "5411"}, {"mcc": None}, {"client_id": 5}, {"client_id": None},
    {"country": b"US"}, {"channel": ["web"]}, {"id": None}, {"note": 7}, {"note": ""},
    {"vip": 1}, {"vip": None}, {"score": 1}, {"score": float("nan")}, {"score": "0.5"},
    {"ts": None}, {"ts": b"2026-01-01T00:00:00Z"}, {"amount": b"12.50"}, {"id": "x" * 5000},
    {"note": "\u00e9" * 3000},
]


@pytest.mark.parametrize("change", FORMS + TYPE_FORMS, ids=repr)
def test_single_transactions_read_each_form_as_the_reference_does(
        examples_compiled: Any, change: dict[str, Any]) -> None:
    txn = {**TXN, "client_id": "acme", **change}
    want = evaluate(examples_compiled.program, txn)
    assert examples_compiled.evaluate(txn) == want
    if want.error is not None:  # Engine.evaluate raises what a batch makes a dead letter
        with pytest.raises(RecordError) as info:
            examples_compiled.evaluate_public(txn)
        assert (info.value.kind, info.value.message) == (want.error.kind, want.error.message)
    else:
        outputs = {name: public_value(want.outputs[name], t)
                   for name, t in examples_compiled.program.outputs.items()}
        assert examples_compiled.evaluate_public(txn) == {
            "decision": want.decision, "fired": want.fired, "ruleset": want.ruleset,
            "outputs": outputs}


def test_a_refused_form_is_read_by_python_and_sent_again(examples_compiled: Any) -> None:
    # 12.5 as a float is no text for Java: Python reads it and sends "12.50".
    txn = {**TXN, "client_id": "acme", "amount": 12.5, "vip": True}
    public = examples_compiled.evaluate_public(txn)
    assert public == examples_compiled.evaluate_public({**txn, "amount": "12.50"})
    with pytest.raises(SchemaViolation, match="field 'ts'"):
        examples_compiled.evaluate_public({**txn, "ts": "2026-02-30T00:00:00Z"})


def test_java_exceptions_of_a_single_call_are_wrapped(examples_compiled: Any) -> None:
    import jpype
    import jpype.nio

    def in_a_thread_of_its_own() -> None:  # with its own evaluator, thrown away after
        single = examples_compiled.single()
        # an input buffer too short for any transaction: Java reads past its end
        single.evaluator.bindSingleInput(jpype.nio.convertToDirectBuffer(bytearray(8)))
        examples_compiled.evaluate_public({**TXN, "client_id": "acme"})

    with ThreadPoolExecutor(1) as pool:
        failed = pool.submit(in_a_thread_of_its_own).exception()
    assert isinstance(failed, JvmError), failed
    assert "the compiled rules failed" in str(failed)
    assert isinstance(failed.__cause__, jpype.JException)


def test_java_refusing_a_common_form_is_an_error(examples_compiled: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    single = examples_compiled.single()
    refused = (-1, *single.run({**TXN, "client_id": "acme"})[1:])
    monkeypatch.setattr(single, "run", lambda raw: refused)
    # a float amount is no text for Java: Python reads it and sends "12.50", refused here
    with pytest.raises(JvmError, match="refused the common form"):
        examples_compiled.evaluate_public({**TXN, "client_id": "acme", "amount": 12.5})

