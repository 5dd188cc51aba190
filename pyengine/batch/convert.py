"""Arrow record batches -> the schema's typed columns, validated per record.

Each schema field becomes one numpy column in the representation the Java
``Chunk`` reads (int64 for ints, scaled decimals and microsecond timestamps,
float64, uint8 bools, int32 dictionary codes plus the dictionary for strings,
where a plain string column is its own dictionary) and a presence mask. Typed
Arrow columns (Parquet) take vectorized paths; any other column goes value by
value through :func:`pyengine.records.convert_value`, the same rules as single
transactions. A record with a bad required field is
marked not-ok with the same message ``convert_record`` would give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyengine.jvm.rules import NUMPY_DTYPES, java_kind
from pyengine.lang.types import Type
from pyengine.records import _Bad, convert_value
from pyengine.reference.ops import INT_MAX, INT_MIN
from pyengine.spec.program import FieldDef, Schema

_NO_STRINGS = pa.array([], pa.string())


@dataclass
class Column:
    """One field, converted: values where ``present``; ``problems`` by row."""

    values: np.ndarray
    present: np.ndarray  # bool
    dictionary: pa.Array = field(default_factory=lambda: _NO_STRINGS)  # never mutated
    plain: bool = False  # a string column that is its own dictionary: values[i] == i
    # A string column coded into the dictionary it was read with, Parquet's or a table's
    # (not the dictionaries of a batch read two ways, laid end to end: one entry a row).
    as_read: bool = False
    problems: dict[int, str] = field(default_factory=dict)
    # int64 words a value: 2 for a decimal read in place from Arrow's decimal128 (its
    # unscaled value, then a high word that is its sign when the value fits a long:
    # Java checks that as it reads them, see unchecked)
    words: int = 1

    @property
    def unchecked(self) -> bool:
        """A decimal column whose range Java checks, not Python (words == 2)."""
        return self.words == 2

    def row_values(self) -> np.ndarray:
        """The values, one a row: for a decimal read in place, a copy of its unscaled
        (low) words."""
        return self.values if self.words == 1 else self.values[0::2].copy()


@dataclass
class Columns:
    """A batch converted to the schema: ``ok[i]`` when row i can be evaluated."""

    n: int
    columns: dict[str, Column]
    ok: np.ndarray  # bool
    errors: dict[int, str]  # row -> schema error message (rows that are not ok)
    unparsed: dict[int, str] = field(default_factory=dict)  # of errors: not even records


def convert_batch(schema: Schema, batch: pa.RecordBatch | pa.Table) -> Columns:
    """Convert every schema field of ``batch``; never raises for bad values."""
    n = batch.num_rows
    names = batch.schema.names
    columns: dict[str, Column] = {}
    for name, f in schema.fields.items():
        if name in names:
            columns[name] = _convert_column(batch.column(names.index(name)), f.type)
        else:
            columns[name] = Column(np.zeros(n, NUMPY_DTYPES[java_kind(f.type)]),
                                   np.zeros(n, dtype=bool))
    errors = _errors(schema, columns, names, n)
    if errors and _check_failing_rows(schema, columns, errors):
        errors = _errors(schema, columns, names, n)  # a message names the first bad field
    if not errors:
        return Columns(n, columns, _all_present(n), errors)
    ok = np.ones(n, dtype=bool)
    ok[np.fromiter(errors, dtype=np.int64, count=len(errors))] = False
    return Columns(n, columns, ok, errors)


def _errors(schema: Schema, columns: dict[str, Column], names: list[str],
            n: int) -> dict[int, str]:
    """Row -> the message of its first bad field, in schema order."""
    errors: dict[int, str] = {}
    for name, f in schema.fields.items():
        _collect_errors(f, columns[name], n, errors, name in names)
    return errors


def _check_failing_rows(schema: Schema, columns: dict[str, Column],
                        errors: dict[int, str]) -> bool:
    """Check the unchecked decimals of the rows that failed on other fields; True when
    one is out of range.

    Java checks a decimal read in place as it reads its row, but never reads a row that
    failed here, whose message must still name its first bad field in schema order:
    perhaps such a decimal. Those rows are few.
    """
    found = False
    rows = np.fromiter(errors, dtype=np.int64, count=len(errors))
    for name, col in columns.items():
        if not col.unchecked:
            continue
        fits = _fits_long(col.values[2 * rows], col.values[2 * rows + 1])
        for row in rows[col.present[rows] & ~fits].tolist():
            col.problems[row] = out_of_range(schema.fields[name].type.scale)
            found = True
    return found


def out_of_range(scale: int) -> str:
    """Why a decimal(scale) value whose unscaled value is not a long is refused."""
    return f"out of range for decimal({scale})"


def out_of_range_error(f: FieldDef) -> str:
    """The schema error of a row whose decimal field ``f`` Java found out of range
    (``ops.OUT_OF_RANGE``), as :func:`convert_batch` words its own."""
    return f"field '{f.name}': {out_of_range(f.type.scale)}"


def _collect_errors(f: FieldDef, col: Column, n: int, errors: dict[int, str],
                    exists: bool) -> None:
    for row, reason in col.problems.items():
        errors.setdefault(row, f"field '{f.name}': {reason}")
    # (a column without nulls has the shared presence: no need to read it)
    if f.optional or _all_present.gave(col.present) or col.present.all():
        return
    what = "null" if exists else "missing"
    for missing in np.flatnonzero(~col.present).tolist():
        if missing not in col.problems:
            errors.setdefault(missing, f"field '{f.name}' is {what}")


def _convert_column(arr: pa.Array | pa.ChunkedArray, t: Type) -> Column:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    fast = _FAST.get(t.kind)
    if fast is not None:
        col = fast(arr, t)
        if col is not None:
            return col
    return _slow(arr, t)


class Shared:
    """Read-only arrays of any length, cut from one cached array that grows when needed,
    for arrays every chunk would otherwise allocate alike: the presence of a column
    without nulls, the codes of plain strings, a result column's codes of one value."""

    def __init__(self, make: Callable[[int], np.ndarray]):
        self._make = make
        self._array = make(0)

    def __call__(self, n: int) -> np.ndarray:
        array = self._array  # read once: another worker may replace it meanwhile
        if len(array) < n:
            array = self._make(max(n, 2 * len(array)))
            array.flags.writeable = False
            self._array = array
        return array[:n]

    def gave(self, array: np.ndarray) -> bool:
        """Whether ``array`` was cut from the cached array (False for one cut before it
        grew: a shortcut for callers, never a guarantee that it was not)."""
        return array.base is self._array


_all_present = Shared(lambda n: np.ones(n, dtype=bool))
_iota = Shared(lambda n: np.arange(n, dtype=np.int32))


def _present(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return _all_present(len(arr))
    return _bits(arr.buffers()[0], arr.offset, len(arr))


def _bits(bitmap: pa.Buffer | None, offset: int, n: int) -> np.ndarray:
    """Bits [offset, offset + n) of an Arrow bitmap (validity, bool values) as bools:
    ten times faster than pyarrow's conversion of a boolean array."""
    if bitmap is None:  # an empty array may have no buffer
        return np.zeros(n, dtype=bool)
    # From the byte holding bit ``offset`` on: a slice of a large array (a chunk of an
    # in-memory table) has its parent's bitmap, and unpacking it from its start made
    # the last chunks of 2M rows each unpack 2M bits.
    first, skip = divmod(offset, 8)
    data = np.frombuffer(bitmap, np.uint8, count=(offset + n + 7) // 8 - first, offset=first)
    bits = np.unpackbits(data, count=skip + n, bitorder="little")
    return bits[skip:].view(bool)


def _fill(arr: pa.Array, zero: Any) -> pa.Array:
    return arr.fill_null(zero) if arr.null_count else arr


def _int(arr: pa.Array, t: Type) -> Column | None:
    if _is_text(arr):  # Arrow's cast refuses "+5": that one goes value by value
        return _from_text(arr, t, _cast(_where(pc.match_substring_regex(
            arr, "^-?[0-9]{1,18}$"), arr), pa.int64()))
    if not pa.types.is_integer(arr.type):
        return None
    if pa.types.is_uint64(arr.type):
        too_big = pc.greater(arr, pa.scalar(INT_MAX, pa.uint64()))
        if pc.any(too_big).as_py():
            return None  # the slow path names each out-of-range value
    return Column(_numbers(arr, pa.int64(), np.int64, 0), _present(arr))


def _numbers(arr: pa.Array, to: pa.DataType, dtype: Any, zero: Any) -> np.ndarray:
    """``arr`` as a contiguous array of ``dtype`` (Arrow type ``to``), a null as ``zero``:
    Arrow's buffer itself when it holds those values and no nulls. A cast, even to the
    array's own type, is a compute call, and a chunk made five of them for nothing."""
    if arr.null_count == 0 and arr.type == to:
        return np.frombuffer(arr.buffers()[1], dtype, count=len(arr) + arr.offset)[arr.offset:]
    values = _fill(arr.cast(to), zero).to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(values, dtype=dtype)


def _float(arr: pa.Array, t: Type) -> Column | None:
    if _is_text(arr):
        # Arrow reads decimal text to the nearest double, as float() does; a text that
        # overflows to infinity goes value by value for its message.
        values = _cast(_where(pc.match_substring_regex(arr, _FLOAT_TEXT), arr), pa.float64())
        return _from_text(arr, t, _where(pc.is_finite(values), values), np.float64)
    if not (pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type)):
        return None
    values = _numbers(arr, pa.float64(), np.float64, 0.0)
    present = _present(arr)
    col = Column(values, present)
    # The sum is finite only when every value is (a null reads as 0.0, see _numbers):
    # one pass that writes nothing, in the common case. A sum that overflows sends
    # the column through the exact check, which finds no problem.
    with np.errstate(over="ignore", invalid="ignore"):  # (what the sum is for)
        total = np.add.reduce(values)
    if not np.isfinite(total):
        for row in np.flatnonzero(~np.isfinite(values)):
            col.problems[int(row)] = "NaN and infinities are not accepted"
    return col


def _bool(arr: pa.Array, t: Type) -> Column | None:
    if _is_text(arr):
        truth = pc.if_else(pc.equal(arr, "true"), True,
                           pc.if_else(pc.equal(arr, "false"), False, None))
        return _from_text(arr, t, truth, np.uint8)
    if not pa.types.is_boolean(arr.type):
        return None
    # A null's value bit is whatever Arrow left there: Java reads no value under a null.
    values = _bits(arr.buffers()[1], arr.offset, len(arr)).view(np.uint8)
    return Column(np.ascontiguousarray(values), _present(arr))


def _string(arr: pa.Array, t: Type) -> Column | None:
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        # Its own dictionary: hashing every value (dictionary_encode) would cost more
        # than Java decoding the few values rules read.
        strings = arr if pa.types.is_string(arr.type) else arr.cast(pa.string())
        return Column(_iota(len(arr)), _present(arr), strings, plain=True)
    if not (pa.types.is_dictionary(arr.type) and pa.types.is_string(arr.type.value_type)):
        return None
    encoded = arr
    indices = _fill(encoded.indices.cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
    return Column(np.ascontiguousarray(indices, dtype=np.int32), _present(arr),
                  encoded.dictionary.cast(pa.string()), as_read=True)


def _decimal(arr: pa.Array, t: Type) -> Column | None:
    present = _present(arr)
    if pa.types.is_integer(arr.type):
        values = _fill(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False).astype(object)
        return _scaled_ints(values * 10**t.scale, present)
    if _is_text(arr):
        return _decimal_text(arr, t)
    if not pa.types.is_decimal128(arr.type):
        return None
    scale = arr.type.scale
    if scale > t.scale:
        # Exact values with a larger declared scale are fine; anything else is refused.
        rescaled = pc.cast(arr, pa.decimal128(38, t.scale), safe=False)
        exact = pc.equal(pc.cast(rescaled, arr.type, safe=False), arr)
        if not pc.all(pc.fill_null(exact, True)).as_py():
            return None  # the slow path names the rows with too many digits
        arr = rescaled
    elif scale < t.scale:
        arr = pc.cast(arr, pa.decimal128(38, t.scale))
    # (the same scale needs no cast.) Read in place, two words a value: checking and
    # copying the unscaled words here took a fifth of a chunk's Python time, and Java
    # checks them as it reads them (Chunk.outOfRange); a null's words are not read.
    return Column(_decimal_words(arr), present, words=2)


def _decimal_words(arr: pa.Array) -> np.ndarray:
    """A decimal128 array's values where they are, as int64 words, two a value: the
    unscaled value's low word, then its high word."""
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=2 * (len(arr) + arr.offset))
    return words[2 * arr.offset:]


def _fits_long(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Whether each decimal128 value (its low and high words) is an int64: its high word
    is then only the sign of its low word."""
    fits: np.ndarray = high == low >> 63
    return fits


def _scaled_ints(values: np.ndarray, present: np.ndarray) -> Column:
    col = Column(np.zeros(len(values), np.int64), present)
    for i, v in enumerate(values):
        if not present[i]:
            continue
        if INT_MIN <= v <= INT_MAX:
            col.values[i] = v
        else:
            col.problems[i] = f"{v} is out of range"
    return col


def _timestamp(arr: pa.Array, t: Type) -> Column | None:
    if _is_text(arr):
        return _timestamp_text(arr, t)
    if not pa.types.is_timestamp(arr.type):
        return None
    try:  # (a cast to its own type took 30 µs a chunk)
        micros = arr if arr.type.unit == "us" else arr.cast(
            pa.timestamp("us", tz=arr.type.tz))  # safe: refuses lost precision
    except pa.ArrowInvalid:
        return None
    # (microseconds are int64s: viewed as such, without a cast)
    return Column(_numbers(micros.view(pa.int64()), pa.int64(), np.int64, 0), _present(arr))


# -- text (CSV, JSON): the common forms vectorized, the rest value by value --------------
# The vectorized paths take only what the single-transaction rules read the same way
# (``records._plain_decimal``, ``records.parse_timestamp``); every other text goes
# through ``convert_value``, which accepts it or names the problem.
_YEAR = "([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"  # datetime has no year 0
_RFC3339_COMMON = (
    f"^{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


_FLOAT_TEXT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"  # records._FLOAT


def _is_text(arr: pa.Array) -> bool:
    return bool(pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type))


def _decimal_text(arr: pa.Array, t: Type) -> Column:
    if t.scale > 18:
        return _from_text(arr, t, pa.nulls(len(arr), pa.int64()))
    plain = pc.match_substring_regex(arr, rf"^-?[0-9]{{1,19}}(\.[0-9]{{0,{t.scale}}})?$")
    exact = _cast(_where(plain, arr), pa.decimal128(38, t.scale))
    words = _decimal_words(exact)
    low = words[0::2]
    fits = _fits_long(low, words[1::2]) & _present(exact)  # the unscaled value is an int64
    return _from_text(arr, t, pa.array(low, pa.int64(), mask=~fits))


def _timestamp_text(arr: pa.Array, t: Type) -> Column:
    shaped = _where(pc.match_substring_regex(arr, _RFC3339_COMMON), arr)
    try:
        micros = pc.cast(shaped, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    except pa.ArrowInvalid:
        # One February 30th fails the whole cast: leave out the days that do not exist
        # (strptime rolls them over into the next month) and cast the rest.
        day = pc.strptime(pc.utf8_slice_codeunits(shaped, 0, 10), format="%Y-%m-%d",
                          unit="s", error_is_null=True)
        real = pc.equal(pc.day(day), pc.cast(pc.utf8_slice_codeunits(shaped, 8, 10),
                                              pa.int64()))
        micros = _cast(_where(real, shaped), pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return _from_text(arr, t, micros)


def _cast(arr: pa.Array, to: pa.DataType) -> pa.Array:
    """``arr`` cast; all nulls (every value read one by one) if Arrow refuses any value."""
    try:
        return pc.cast(arr, to)
    except pa.ArrowInvalid:
        return pa.nulls(len(arr), to)


def _where(condition: pa.Array, arr: pa.Array) -> pa.Array:
    """``arr`` where ``condition`` holds, null elsewhere."""
    return pc.if_else(condition, arr, pa.scalar(None, arr.type))


def _from_text(arr: pa.Array, t: Type, parsed: pa.Array, dtype: Any = np.int64) -> Column:
    """Values from ``parsed`` where it has one; other present rows value by value."""
    present = _present(arr)
    done = _present(parsed)
    zero = pa.scalar(0).cast(parsed.type) if not pa.types.is_boolean(parsed.type) else False
    values = np.array(_fill(parsed, zero).to_numpy(zero_copy_only=False), dtype)  # writable
    col = Column(values, present & done)
    rest = np.flatnonzero(present & ~done)
    for row, value in zip(rest.tolist(), arr.take(pa.array(rest)).to_pylist(), strict=True):
        try:
            col.values[row] = convert_value(value, t)
            col.present[row] = True
        except _Bad as exc:
            col.problems[row] = str(exc)
    return col


def _slow(arr: pa.Array, t: Type) -> Column:
    """Value by value, with the single-transaction rules (exact messages)."""
    kind = java_kind(t)
    n = len(arr)
    col = Column(np.zeros(n, NUMPY_DTYPES[kind]), np.zeros(n, dtype=bool))
    codes: dict[Any, int] = {}
    for i, value in enumerate(arr.to_pylist()):
        if value is None:
            continue
        try:
            converted = convert_value(value, t)
        except _Bad as exc:
            col.problems[i] = str(exc)
            continue
        col.present[i] = True
        col.values[i] = codes.setdefault(converted, len(codes)) if kind == "String" else converted
    col.dictionary = pa.array(list(codes), pa.string())
    return col


_FAST = {
    "int": _int, "float": _float, "bool": _bool, "string": _string, "decimal": _decimal,
    "timestamp": _timestamp,
}


def _presence_words(rows: list[tuple[Any, ...]], fields: int) -> np.ndarray:
    """The presence bits of ``rows`` (their first value, a Python int) as int64s, 63
    bits to a word: a schema may have more fields than one word has bits."""
    words = max(1, (fields + 62) // 63)
    if words == 1:
        return np.array([r[0] for r in rows], dtype=np.int64).reshape(-1, 1)
    low = (1 << 63) - 1
    return np.array([[r[0] >> (63 * w) & low for w in range(words)] for r in rows],
                    dtype=np.int64).reshape(-1, words)


def columns_from_records(schema: Schema, raws: list[Any]) -> Columns:
    """Columns from JSON-like dicts (JSONL, Kafka messages, DLQ replay, tests).

    Each record is read with :func:`pyengine.records.read_values` (the single
    transaction rules); the columns are then built field by field.
    """
    from pyengine.errors import RecordError
    from pyengine.records import read_values

    n = len(raws)
    errors: dict[int, str] = {}
    good: list[int] = []
    rows: list[tuple[Any, ...]] = []
    for i, raw in enumerate(raws):
        try:
            rows.append(read_values(schema, raw))
        except RecordError as exc:
            errors[i] = exc.message
            continue
        good.append(i)
    at = np.array(good, dtype=np.int64)
    present = _presence_words(rows, len(schema.fields))
    columns = {}
    for k, (name, f) in enumerate(schema.fields.items()):
        kind = java_kind(f.type)
        col = Column(np.zeros(n, NUMPY_DTYPES[kind]), np.zeros(n, dtype=bool))
        values = [r[k + 1] for r in rows]
        if kind == "String":
            col.dictionary = pa.array(values, pa.string())
            col.values[at] = np.arange(len(values), dtype=np.int32)
        else:
            col.values[at] = np.array(values, dtype=NUMPY_DTYPES[kind])
        col.present[at] = (present[:, k // 63] >> (k % 63)) & 1 if f.optional else True
        columns[name] = col
    ok = np.zeros(n, dtype=bool)
    ok[at] = True
    return Columns(n, columns, ok, errors)


# -- batches read two ways (JSON texts, CSV lines) -------------------------------------
def take_rows(columns: Columns, keep: np.ndarray) -> Columns:
    """The rows of ``columns`` where ``keep``; they must all be ok."""
    taken = {name: Column(col.row_values()[keep], col.present[keep], col.dictionary)
             for name, col in columns.columns.items()}
    return Columns(int(keep.sum()), taken, np.ones(int(keep.sum()), dtype=bool), {})


def merge_columns(schema: Schema, n: int, fast: list[tuple[np.ndarray, Columns]],
                  slow_rows: np.ndarray, slow: Columns | None,
                  unparsed: dict[int, str]) -> Columns:
    """One batch of ``n`` rows from parts that hold disjoint rows (``rows[i]`` is where
    a part's row i goes), and the rows that are not even records (``unparsed``)."""
    parts = fast + ([(slow_rows, slow)] if slow is not None else [])
    columns = {name: _merge_column([(rows, c.columns[name]) for rows, c in parts], n,
                                   java_kind(f.type))
               for name, f in schema.fields.items()}
    ok = np.zeros(n, dtype=bool)
    errors: dict[int, str] = {}
    for rows, c in parts:
        ok[rows] = c.ok
        errors.update((int(rows[i]), message) for i, message in c.errors.items())
    errors.update(unparsed)
    return Columns(n, columns, ok, errors, unparsed)


def _merge_column(parts: list[tuple[np.ndarray, Column]], n: int, kind: str) -> Column:
    merged = Column(np.zeros(n, NUMPY_DTYPES[kind]), np.zeros(n, dtype=bool))
    base = 0  # a string column's codes index the parts' dictionaries laid end to end
    for rows, col in parts:
        values = col.row_values()
        merged.values[rows] = values + base if kind == "String" else values
        merged.present[rows] = col.present
        base += len(col.dictionary)
    if kind == "String":
        merged.dictionary = pa.concat_arrays([c.dictionary for _, c in parts] or
                                             [pa.array([], pa.string())])
    return merged
