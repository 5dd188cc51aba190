"""Value semantics shared by the reference evaluator and mirrored in Java.

Each function here has a twin in ``java/src/main/java/pyengine/runtime``
(``Ops``, ``Dec``, ``Str``, ``Times``); the differential tests hold them to the
same results, errors included. Ints are 64-bit and overflow is an error;
decimals are 64-bit integers scaled by 10**scale; timestamps are microseconds
since the epoch, UTC.
"""

from __future__ import annotations

import math
import re

INT_MIN, INT_MAX = -(2**63), 2**63 - 1

# Error codes, as in ErrorCode.java.
OVERFLOW = 1
DIVISION_BY_ZERO = 2
MISSING_VALUE = 3
UNIQUE_VIOLATION = 4
ANY_CONFLICT = 5
CONVERSION = 6
INTERNAL = 7
UNKNOWN_CLIENT = 8
# Java only: java.util.regex recurses per repetition of a group and can run out of stack.
REGEX_LIMIT = 9
# Java only, and not an evaluation error: a decimal read in place from Arrow's decimal128
# does not fit a long (Chunk.outOfRange); ``where`` is the field.
OUT_OF_RANGE = 10

CODE_NAMES = {
    OVERFLOW: "overflow",
    DIVISION_BY_ZERO: "division_by_zero",
    MISSING_VALUE: "missing_value",
    UNIQUE_VIOLATION: "unique_violation",
    ANY_CONFLICT: "any_conflict",
    CONVERSION: "conversion",
    INTERNAL: "internal",
    UNKNOWN_CLIENT: "unknown_client",
    REGEX_LIMIT: "regex_limit",
    OUT_OF_RANGE: "out_of_range",
}


class EvalFailure(Exception):
    """An evaluation error: ``code`` from the table above, ``detail`` its subject."""

    def __init__(self, code: int, detail: str = ""):
        self.code = code
        self.detail = detail
        super().__init__(message(code, detail))


def message(code: int, detail: str) -> str:
    """The user-facing message for an error code (the same for Java results)."""
    if code == OVERFLOW:
        return "integer overflow"
    if code == DIVISION_BY_ZERO:
        return "division by zero"
    if code == MISSING_VALUE:
        return f"'{detail}' has no value (guard it with has({detail}))"
    if code == UNIQUE_VIOLATION:
        return f"hit policy unique: rows {detail} all match"
    if code == ANY_CONFLICT:
        return f"hit policy any: matching rows {detail} give different outputs"
    if code == CONVERSION:
        return f"cannot convert {detail}"
    if code == REGEX_LIMIT:
        return f"regular expression too costly for the input: {detail}"
    return f"internal error: {detail}"


def pow10(k: int) -> int:
    """10**k for k >= 0, typed as int."""
    return int(10**k)


def check(v: int) -> int:
    """``v`` if it fits 64 bits, else an overflow error."""
    if not INT_MIN <= v <= INT_MAX:
        raise EvalFailure(OVERFLOW)
    return v


def int_div(a: int, b: int) -> int:
    """Java/CEL integer division: truncates toward zero."""
    if b == 0:
        raise EvalFailure(DIVISION_BY_ZERO)
    q = abs(a) // abs(b)
    return check(q if (a >= 0) == (b >= 0) else -q)


def int_mod(a: int, b: int) -> int:
    """Java/CEL remainder: takes the sign of the dividend."""
    if b == 0:
        raise EvalFailure(DIVISION_BY_ZERO)
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def rescale(v: int, from_scale: int, to_scale: int) -> int:
    """Convert a decimal to a larger (or equal) scale; overflow is an error."""
    return check(v * pow10(to_scale - from_scale))


def dec_div(a: int, sa: int, b: int, sb: int) -> int:
    """Decimal division at scale max(sa, sb), truncated toward zero."""
    if b == 0:
        raise EvalFailure(DIVISION_BY_ZERO)
    s = max(sa, sb)
    return int_div(check(a * pow10(s - sa + sb)), b)


def dec_cmp(a: int, sa: int, b: int, sb: int) -> int:
    """Exact comparison of two decimals (-1, 0, 1), never overflowing."""
    s = max(sa, sb)
    x, y = a * pow10(s - sa), b * pow10(s - sb)
    return (x > y) - (x < y)


def dec_to_double(a: int, scale: int) -> float:
    """Nearest double to a decimal (correctly rounded)."""
    return a / pow10(scale)


def dec_to_int(a: int, scale: int) -> int:
    """Decimal to int, truncating toward zero."""
    q = abs(a) // pow10(scale)
    return q if a >= 0 else -q


def double_to_int(d: float) -> int:
    """CEL int(double): truncate; NaN, infinities and out-of-range values are errors."""
    if math.isnan(d) or not -9.223372036854775808e18 <= d < 9.223372036854775808e18:
        raise EvalFailure(CONVERSION, "a double outside the int range to int")
    return int(d)


_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_DOUBLE_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def parse_int(s: str) -> int:
    """int(string): optional sign and ASCII digits."""
    if not _INT_TEXT.fullmatch(s):
        raise EvalFailure(CONVERSION, f"'{s}' to int")
    v = int(s)
    if not INT_MIN <= v <= INT_MAX:
        raise EvalFailure(CONVERSION, f"'{s}' to int")
    return v


def parse_double(s: str) -> float:
    """double(string): a plain decimal number, optionally with an exponent."""
    if not _DOUBLE_TEXT.fullmatch(s):
        raise EvalFailure(CONVERSION, f"'{s}' to double")
    return float(s)


def fmin(a: float | int, b: float | int) -> float | int:
    """min() as in Java's ``a <= b ? a : b`` (NaN and -0.0 behave the same)."""
    return a if a <= b else b


def fmax(a: float | int, b: float | int) -> float | int:
    """max() as in Java's ``a >= b ? a : b``."""
    return a if a >= b else b


def lower_ascii(s: str) -> str:
    """CEL lowerAscii: only A-Z change."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def upper_ascii(s: str) -> str:
    """CEL upperAscii: only a-z change."""
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in s)


# -- timestamps (microseconds since 1970-01-01T00:00:00Z) ------------------
US_PER_DAY = 86_400_000_000


def civil(us: int) -> tuple[int, int, int]:
    """(year, month 1-12, day 1-31) of a timestamp; Howard Hinnant's algorithm."""
    z = us // US_PER_DAY + 719468
    era = z // 146097  # Python's // already floors
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def ts_method(name: str, us: int) -> int:
    """The CEL timestamp accessors, all in UTC."""
    if name == "getHours":
        return (us // 3_600_000_000) % 24
    if name == "getMinutes":
        return (us // 60_000_000) % 60
    if name == "getSeconds":
        return (us // 1_000_000) % 60
    if name == "getDayOfWeek":
        return (us // US_PER_DAY + 4) % 7  # 1970-01-01 was a Thursday; 0 = Sunday
    year, month, day = civil(us)
    if name == "getFullYear":
        return year
    if name == "getMonth":
        return month - 1
    if name == "getDayOfMonth":
        return day - 1  # CEL: zero-based
    if name == "getDate":
        return day
    raise AssertionError(name)
