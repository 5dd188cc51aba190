"""Conversion of one JSON-like transaction to the schema's typed values.

Used for single transactions (``Engine.evaluate``, ``explain``, rule tests);
the batch path converts whole Arrow columns with the same rules. A value that
does not convert exactly is a :class:`SchemaViolation` naming the field:
decimals are never rounded, ints never truncated.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from pyengine.errors import SchemaViolation
from pyengine.lang.types import Type
from pyengine.reference.ops import INT_MAX, INT_MIN
from pyengine.spec.program import Schema

_INT = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})"
)
# The texts of _RFC3339 with ASCII digits, without groups: a third faster to match.
_RFC3339_ASCII = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


class _Bad(Exception):
    pass


def parse_json(text: str | bytes) -> Any:
    """One JSON value; ValueError (with the reason) for anything that is not one, including
    nesting too deep for the parser, which Python reports as a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def convert_record(schema: Schema, raw: Any) -> dict[str, Any]:
    """Typed values of ``raw``'s schema fields; optional fields may be None.

    Raises SchemaViolation for a record that is not an object, or whose required
    field is missing, null or not convertible.
    """
    if not isinstance(raw, dict):
        raise SchemaViolation(f"a transaction must be a JSON object, not {_kind(raw)}")
    record: dict[str, Any] = {}
    for name, f in schema.fields.items():
        value = raw.get(name)
        if value is None:
            if not f.optional:
                what = "missing" if name not in raw else "null"
                raise SchemaViolation(f"field '{name}' is {what}", None)
            record[name] = None
            continue
        try:
            record[name] = convert_value(value, f.type)
        except _Bad as exc:
            raise SchemaViolation(f"field '{name}': {exc}") from None
    return record


def read_values(schema: Schema, raw: Any) -> tuple[Any, ...]:
    """``(present, value, ...)`` in schema order, as :func:`compile_reader` gives them.

    Absent optional fields hold their type's zero with their ``present`` bit clear.
    Raises SchemaViolation like :func:`convert_record`.
    """
    fast = schema.reader(raw)
    if fast is not None:
        return fast
    record = convert_record(schema, raw)
    present = 0
    values: list[Any] = []
    for k, (name, f) in enumerate(schema.fields.items()):
        value = record[name]
        if value is None:
            value = ZERO_VALUES[f.type.kind]
        else:
            present |= 1 << k
        values.append(value)
    return (present, *values)


def convert_value(value: Any, t: Type) -> Any:
    """One value to type ``t``'s representation; raises _Bad with a reason."""
    converter = _CONVERTERS[t.kind]
    return converter(value, t)


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(v), type(v).__name__)


# JSON's "\ud800" escape gives a lone surrogate: not a character, so no UTF-8 (Arrow's,
# Java's, a results file's) can hold it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(v: Any, t: Type) -> str:
    if not isinstance(v, str):
        raise _Bad(f"expected a string, got {_kind(v)}")
    lone = _SURROGATE.search(v)
    if lone is not None:
        raise _Bad(f"U+{ord(lone.group()):04X} is a lone surrogate, not a character")
    return v


def _int(v: Any, t: Type) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise _Bad(f"expected an integer, got {_kind(v)}")
    if isinstance(v, str):
        if not _INT.fullmatch(v):
            raise _Bad(f"'{_clip(v)}' is not an integer")
        # Python refuses to convert a text of over 4300 digits (leading zeros count):
        # over 19 significant digits is out of range anyway.
        digits = ("-" if v[0] == "-" else "") + (v.lstrip("+-").lstrip("0") or "0")
        if len(digits.lstrip("-")) > 19:
            raise _Bad(f"{_clip(digits)} is out of the 64-bit integer range")
        v = digits
    n = int(v)
    if not INT_MIN <= n <= INT_MAX:
        raise _Bad(f"{_clip(_int_text(n))} is out of the 64-bit integer range")
    return n


def _int_text(n: int) -> str:
    """The digits of ``n``; for an int too long for ``str`` (over 4300 digits), its size."""
    if n.bit_length() < 14_000:
        return str(n)
    return f"a {n.bit_length()}-bit integer"


def _float(v: Any, t: Type) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise _Bad(f"expected a number, got {_kind(v)}")
    if isinstance(v, str):
        if not _FLOAT.fullmatch(v):
            raise _Bad(f"'{_clip(v)}' is not a number")
        v = float(v)
    f = float(v)
    if math.isnan(f) or math.isinf(f):
        raise _Bad("NaN and infinities are not accepted")
    return f


def _decimal(v: Any, t: Type) -> int:
    if type(v) is str:
        fast = _plain_decimal(v, t.scale)
        if fast is not None:
            return fast
    if isinstance(v, bool) or not isinstance(v, int | float | str | Decimal):
        raise _Bad(f"expected a decimal, got {_kind(v)}")
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise _Bad("NaN and infinities are not accepted")
        v = repr(v)  # the shortest text that reads back as this double
        if "e" in v or "E" in v:
            v = format(Decimal(v), "f")
    if isinstance(v, int) and not INT_MIN <= v <= INT_MAX:  # str() refuses the longest
        raise _Bad(f"{_clip(_int_text(v))} is out of range for decimal({t.scale})")
    text = str(v)
    if isinstance(v, str) and not _DECIMAL.fullmatch(text):
        raise _Bad(f"'{_clip(text)}' is not a decimal number")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise _Bad(f"'{_clip(text)}' is not a decimal number") from None
    if not d.is_finite():  # a Decimal NaN or infinity (its exponent is a letter)
        raise _Bad("NaN and infinities are not accepted")
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)  # (for mypy: a finite Decimal's is)
    if -exponent > t.scale:
        raise _Bad(f"{_clip(text)} has more than {t.scale} digits after the point")
    # 10**19 and more is out of range: said before an int of a million digits is built
    too_long = bool(d) and d.adjusted() + t.scale > 18
    unscaled = 0 if too_long else int(d.scaleb(t.scale))
    if too_long or not INT_MIN <= unscaled <= INT_MAX:
        raise _Bad(f"{_clip(text)} is out of range for decimal({t.scale})")
    return unscaled


def _plain_decimal(text: str, scale: int) -> int | None:
    """The common case, exactly as Decimal would read it, without Decimal; None: not plain.

    Plain: ``-?[0-9]{1,19}(\\.[0-9]*)?`` with at most ``scale`` digits after the point,
    checked with str methods, twice as fast as the pattern (ASCII ``isdigit`` is 0-9).
    """
    whole, _, fraction = text.partition(".")
    negative = whole[:1] == "-"
    digits = whole[1:] if negative else whole
    if (len(fraction) > scale or not 0 < len(digits) <= 19 or not text.isascii()
            or not digits.isdigit() or not (fraction.isdigit() or fraction == "")):
        return None
    unscaled = int(digits + fraction + "0" * (scale - len(fraction)))
    unscaled = -unscaled if negative else unscaled
    return unscaled if INT_MIN <= unscaled <= INT_MAX else None


def _bool(v: Any, t: Type) -> bool:
    if isinstance(v, bool):
        return v
    if v in ("true", "false"):
        return bool(v == "true")
    raise _Bad(f"expected true or false, got {_kind(v)}")


def _timestamp(v: Any, t: Type) -> int:
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            raise _Bad("a timestamp needs a time zone (use Z for UTC)")
        return _micros(v)
    if not isinstance(v, str):
        raise _Bad(f"expected an RFC 3339 timestamp string, got {_kind(v)}")
    return parse_timestamp(v)


def parse_timestamp(text: str) -> int:
    """Microseconds since the epoch of an RFC 3339 text (zone required)."""
    m = _RFC3339.fullmatch(text)
    if not m:
        raise _Bad(f"'{_clip(text)}' is not an RFC 3339 timestamp (e.g. 2026-01-01T00:00:00Z)")
    try:
        # The C parser reads every text the pattern allows the same way, 10x faster.
        return (dt.datetime.fromisoformat(text.upper()) - _EPOCH) // _MICROSECOND
    except ValueError:
        pass  # the field by field reading below names the problem
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = int((m.group(7) or ".0")[1:].ljust(6, "0"))
    zone = m.group(8)
    try:
        tz = dt.UTC if zone in "Zz" else dt.timezone((-1 if zone[0] == "-" else 1) * dt.timedelta(
            hours=int(zone[1:3]), minutes=int(zone[4:6])))
        moment = dt.datetime(year, month, day, hour, minute, second, frac, tzinfo=tz)
    except ValueError as exc:
        raise _Bad(f"'{_clip(text)}': {exc}") from None
    return _micros(moment)


def _micros(moment: dt.datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def public_value(value: Any, t: Type) -> Any:
    """A typed value as users see it: a decimal as Decimal, a timestamp as a UTC datetime.

    The same Python values ``pyarrow`` gives for the result columns of a batch.
    """
    convert = public_converter(t)
    return value if convert is None or value is None else convert(value)


def public_converter(t: Type) -> Callable[[Any], Any] | None:
    """What :func:`public_value` does to a non-null value of ``t``; None: nothing."""
    if t.kind == "list":
        assert t.elem is not None
        item = public_converter(t.elem)
        return None if item is None else lambda values: [
            None if v is None else item(v) for v in values]
    if t.kind == "decimal":
        scale = t.scale
        return lambda unscaled: Decimal(unscaled).scaleb(-scale)
    if t.kind == "timestamp":
        return lambda micros: _EPOCH + dt.timedelta(microseconds=micros)
    return None


def format_timestamp(us: int) -> str:
    """RFC 3339 text of a timestamp in UTC (strftime's %Y would write year 5 as "5")."""
    moment = _EPOCH + dt.timedelta(microseconds=us)
    return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.%fZ")


def format_decimal(unscaled: int, scale: int) -> str:
    """The plain text of a decimal: ``-12.50`` for -1250 at scale 2."""
    digits = str(abs(unscaled)).rjust(scale + 1, "0")
    sign = "-" if unscaled < 0 else ""
    if not scale:
        return sign + digits
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


_CONVERTERS = {
    "string": _string, "int": _int, "float": _float, "decimal": _decimal,
    "bool": _bool, "timestamp": _timestamp,
}


# -- the fast reader ----------------------------------------------------------
# Per kind: Python statements that accept the common form of a value in ``{v}`` (leaving
# its typed value there) or ``{fail}``; anything else goes the general way.
FAST_CHECKS = {
    "string": ["if type({v}) is not str: {fail}",
               "if not {v}.isascii() and _SURROGATE.search({v}) is not None: {fail}"],
    "int": ["if type({v}) is not int or not INT_MIN <= {v} <= INT_MAX: {fail}"],
    # v - v is 0.0 exactly for finite floats (NaN for NaN and the infinities)
    "float": ["if type({v}) is not float or {v} - {v} != 0.0: {fail}"],
    "bool": ["if {v} is not True and {v} is not False: {fail}"],
    "decimal": ["if type({v}) is not str: {fail}",
                "{v} = _plain_decimal({v}, {scale})",
                "if {v} is None: {fail}"],
    "timestamp": ["if type({v}) is not str or _RFC3339_ASCII.fullmatch({v}) is None: {fail}",
                  "try: {v} = (_fromisoformat({v}.upper()) - _EPOCH) // _MICROSECOND",
                  "except ValueError: {fail}"],
}
ZERO_VALUES: dict[str, Any] = {"string": "", "int": 0, "float": 0.0, "bool": False,
                               "decimal": 0, "timestamp": 0}
# What the statements of FAST_CHECKS refer to.
FAST_NAMES: dict[str, Any] = {
    "INT_MIN": INT_MIN, "INT_MAX": INT_MAX, "_plain_decimal": _plain_decimal,
    "_RFC3339_ASCII": _RFC3339_ASCII, "_fromisoformat": dt.datetime.fromisoformat,
    "_EPOCH": _EPOCH, "_MICROSECOND": _MICROSECOND, "_SURROGATE": _SURROGATE,
}


def field_lines(schema: Schema, checks: dict[str, list[str]], zeros: dict[str, Any],
                fail: str = "return None") -> list[str]:
    """Statements of a function body that read each field of ``schema`` from ``raw`` (a
    dict, whose ``get`` is ``get``) into ``v<k>``, in schema order, setting bit k of
    ``present`` for each optional field k that is there; ``fail`` for a missing required
    field and for a value ``checks`` (by type kind: statements about ``{v}``, with
    ``{fail}`` and ``{scale}``) do not accept. An absent optional field holds its kind's
    ``zeros``."""
    lines = []
    for k, (name, f) in enumerate(schema.fields.items()):
        kind_checks = [c.format(v=f"v{k}", scale=f.type.scale, fail=fail)
                       for c in checks[f.type.kind]]
        # repr: a field name is only ever a literal
        if f.optional:
            lines.append(f"v{k} = get({name!r})")
            lines.append(f"if v{k} is None: v{k} = {zeros[f.type.kind]!r}")
            lines.append("else:")
            lines += ["    " + c for c in kind_checks]
            lines.append(f"    present |= {1 << k}")
        else:
            # A subscript is about half the time of a get() call, and the try block
            # around them costs nothing until a field is missing.
            lines.append(f"v{k} = raw[{name!r}]")
            lines += kind_checks
    return ["    try:", *("        " + line for line in lines),
            f"    except KeyError: {fail}"]


def compile_reader(schema: Schema) -> Callable[[Any], tuple[Any, ...] | None]:
    """A function from a JSON-like transaction to ``(present, value, ...)`` in schema order.

    ``present`` has bit k set when optional field k is there. The function handles
    the common forms of each type in straight-line code generated for the schema
    and returns None for anything else, which :func:`convert_record` then reads
    (or rejects with its message): the two agree on every value both accept.
    """
    lines = ["def read(raw):", "    if type(raw) is not dict: return None",
             "    get = raw.get", "    present = 0",
             *field_lines(schema, FAST_CHECKS, ZERO_VALUES)]
    values = "".join(f", v{k}" for k in range(len(schema.fields)))
    lines.append(f"    return (present{values})")
    namespace = dict(FAST_NAMES)
    exec(compile("\n".join(lines), f"<pyengine reader: {len(schema.fields)} fields>", "exec"),
         namespace)
    reader: Callable[[Any], tuple[Any, ...] | None] = namespace["read"]
    return reader
