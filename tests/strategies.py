"""hypothesis strategies: transactions of the test schema and well-typed expressions."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from pyengine.records import format_decimal, format_timestamp
from pyengine.reliability.randrules import cel_string
from pyengine.spec.program import Schema

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
INT_EDGES = [0, 1, -1, 2, 3, 7, 10, 100, 2**31, 2**62, INT_MAX, INT_MIN, INT_MIN + 1,
             3037000499, 3037000500, -3037000500]
FLOAT_EDGES = [0.0, -0.0, 0.5, 1.0, -1.0, 0.1, 1e300, -1e300, 5e-324, 2.0**53, 0.95, 0.8]
WORDS = ["USD", "EUR", "US", "DE", "IR", "BY", "", "atm", "web", "pos", "PO-123456", "po-1",
         "#EXP", "TEST", "é", "😀", "a\nb", "\u2028", "x\"y", "\\u0022", "Ab", "aB", "USA"]

ints = st.one_of(st.sampled_from(INT_EDGES), st.integers(INT_MIN, INT_MAX),
                 st.integers(-1000, 1000))
floats = st.one_of(st.sampled_from(FLOAT_EDGES), st.floats(allow_nan=False,
                                                           allow_infinity=False),
                   st.floats(0, 1))
strings = st.one_of(st.sampled_from(WORDS),
                    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8))
# Year 0001 to 9999, whole microseconds.
timestamps = st.integers(-62135596800_000000, 253402300799_999999).map(format_timestamp)


@st.composite
def decimal_texts(draw: Any, scale: int = 2) -> str:
    """An exact decimal as text with ``scale`` digits, e.g. '-12.05'."""
    unscaled = draw(st.one_of(st.sampled_from(INT_EDGES), st.integers(-10**9, 10**9)))
    return format_decimal(unscaled, scale)


def transactions(clients: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Transactions of tests.helpers.SCHEMA (and of examples/rules), always valid."""
    return st.fixed_dictionaries({
        "id": st.text(max_size=5),
        "client_id": st.sampled_from(clients),
        "amount": st.one_of(decimal_texts(), st.sampled_from(["0.00", "15000.00", "1500.00",
                                                              "100000.00", "5000.00"])),
        "currency": st.one_of(st.sampled_from(["USD", "EUR", "GBP", "usd"]), strings),
        "country": st.one_of(st.sampled_from(["US", "DE", "IR", "BY", "RU", "NG", "USA"]),
                             strings),
        "mcc": st.one_of(st.sampled_from([5411, 7995, 6051, 6011]), ints),
        "channel": st.sampled_from(["atm", "pos", "web", "mobile", "other"]),
        "ts": timestamps,
        "account_age_days": st.one_of(st.integers(0, 5000), ints),
        "txn_count_24h": st.one_of(st.integers(0, 100), ints),
        "vip": st.booleans(),
        "score": st.one_of(st.floats(0, 1), floats),
    }, optional={"note": st.one_of(st.none(), strings, st.sampled_from(
        ["PO-123456", "PO-12", "This is a TEST", "q4 #EXP", "x#EXP"]))})


# -- expressions ------------------------------------------------------------
def _lit_int(v: int) -> str:
    return str(v) if v >= 0 else f"({v})"


def _lit_float(v: float) -> str:
    text = repr(v)
    if "e" not in text and "." not in text:
        text += ".0"
    return text if v >= 0 and not text.startswith("-") else f"({text})"


LEAVES = {
    "int": st.one_of(st.sampled_from(["mcc", "account_age_days", "txn_count_24h", "size(currency)",
                                      "ts.getHours()", "ts.getDayOfWeek()", "ts.getFullYear()",
                                      "ts.getMonth()", "ts.getDayOfMonth()", "ts.getDate()",
                                      "ts.getMinutes()", "ts.getSeconds()", "int(amount)",
                                      "int(score)", "int(note)", "country.size()"]),
                     ints.map(_lit_int)),
    "float": st.one_of(st.sampled_from(["score", "double(mcc)", "double(amount)",
                                        "double(note)"]), floats.map(_lit_float)),
    "dec": st.sampled_from(["amount", "amount", "(amount + 0.005)", "(amount * 2)",
                            "(amount - 1.5)", "(amount / 3)", "abs(amount)"]),
    "str": st.one_of(st.sampled_from(["currency", "country", "channel", "note", "id"]),
                     strings.map(cel_string)),
    "bool": st.sampled_from(["vip", "has(note)", "(note == null)", "(note != null)", "true",
                             "false"]),
}


def _infix(t: tuple[str, str, str]) -> str:
    return f"({t[0]} {t[1]} {t[2]})"


def _cond(t: tuple[str, str, str]) -> str:
    return f"({t[0]} ? {t[1]} : {t[2]})"


def exprs(kind: str, depth: int = 3) -> st.SearchStrategy[str]:
    """Well-typed expression texts of ``kind`` (int, float, dec, str, bool)."""
    leaf = LEAVES[kind]
    if depth <= 0:
        return leaf
    sub = lambda k: exprs(k, depth - 1)  # noqa: E731
    options: list[st.SearchStrategy[str]] = [leaf]
    if kind in ("int", "float", "dec"):
        ops = ["+", "-", "*", "/"] + (["%"] if kind == "int" else [])
        options += [
            st.tuples(sub(kind), st.sampled_from(ops), sub(kind)).map(_infix),
            sub(kind).map(lambda e: f"(-{e})"),
            sub(kind).map(lambda e: f"abs({e})"),
            st.tuples(st.sampled_from(["min", "max"]), sub(kind), sub(kind)).map(
                lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(sub("bool"), sub(kind), sub(kind)).map(_cond),
        ]
        if kind == "float":
            options.append(st.tuples(sub("int"), st.just("+"), sub("float")).map(_infix))
        if kind == "dec":
            options.append(st.tuples(sub("dec"), st.just("-"), sub("int")).map(_infix))
    elif kind == "str":
        options += [
            st.tuples(sub("str"), st.just("+"), sub("str")).map(_infix),
            sub("str").map(lambda e: f"{e}.lowerAscii()"),
            sub("str").map(lambda e: f"{e}.upperAscii()"),
            st.tuples(sub("bool"), sub("str"), sub("str")).map(_cond),
        ]
    else:
        cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
        options += [
            st.tuples(sub("bool"), st.sampled_from(["&&", "||"]), sub("bool")).map(_infix),
            sub("bool").map(lambda e: f"(!{e})"),
            *[st.tuples(sub(k), cmp, sub(k)).map(_infix)
              for k in ("int", "float", "dec", "str")],
            st.tuples(sub("dec"), cmp, sub("int")).map(_infix),
            st.tuples(sub("int"), cmp, sub("float")).map(_infix),
            st.tuples(sub("dec"), cmp, st.sampled_from(["0.5", "1.25", "100.0", "0.001",
                                                        "9999.99", "2e3"])).map(_infix),
            st.tuples(sub("int"), st.lists(sub("int"), min_size=1, max_size=3)).map(
                lambda t: f"({t[0]} in [{', '.join(t[1])}])"),
            st.tuples(sub("str"), st.lists(sub("str"), min_size=1, max_size=3)).map(
                lambda t: f"({t[0]} in [{', '.join(t[1])}])"),
            st.tuples(sub("str"), st.sampled_from(["startsWith", "endsWith", "contains"]),
                      sub("str")).map(lambda t: f"{t[0]}.{t[1]}({t[2]})"),
            st.tuples(sub("str"), st.sampled_from(["^[A-Z]{3}$", "a.b", "(?i)test", "\\d+",
                                                    "^$", "[^a-z]", "x|y"])).map(
                lambda t: f"{t[0]}.matches({cel_string(t[1])})"),
            st.tuples(st.sampled_from(["ts", "ts"]), cmp, st.sampled_from(["ts"])).map(_infix),
        ]
    return st.one_of(*options)


typed_exprs = st.sampled_from(["int", "float", "dec", "str", "bool"]).flatmap(
    lambda k: exprs(k).map(lambda e: (k, e)))


# -- raw records: typical values with a few missing or odd ones ---------------------
ODD = st.sampled_from([
    None, True, False, 0, -1, 2**63, -(2**63) - 1, 2**63 - 1, 1.5, math.nan, math.inf, -0.0,
    "", "12", "+12", "-0", ".5", "1.", "1e3", "0012.50", "1.234", "١٢", "9" * 25, "NaN",
    "true", "2026-01-01T00:00:00Z", "2026-01-01t00:00:00.5z", "2026-01-01 00:00:00+05:30",
    "2026-02-30T00:00:00Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00.1234567Z",
    "2026-01-01", "20260101T000000Z", "0000-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59.999999-23:59", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z",
    "2026-01-01T24:00:00Z", "2026-06-30T23:59:60Z", "92233720368547758.07",
    "92233720368547758.08", "-92233720368547758.08", "1234567890123456789.5",
    Decimal("1.10"), Decimal("1.001"), Decimal("NaN"), Decimal("-Infinity"), Decimal("sNaN"),
    [], {}, ["x"],
    dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1),
])
TYPICAL = {
    "string": st.text(max_size=8), "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False), "bool": st.booleans(),
    "decimal": decimal_texts(), "timestamp": st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
        timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)),
                                   dt.timezone(-dt.timedelta(hours=23, minutes=59))]),
    ).map(lambda d: d.isoformat()),
}


@st.composite
def records(draw: Any, schema: Schema) -> dict[str, Any]:
    """Typical values of ``schema``'s fields, with up to two fields missing or odd."""
    raw = {name: draw(TYPICAL[f.type.kind]) for name, f in schema.fields.items()}
    for name in draw(st.lists(st.sampled_from(list(schema.fields)), max_size=2)):
        if draw(st.booleans()):
            raw.pop(name, None)
        else:
            raw[name] = draw(ODD)
    return raw
