"""One chunk of a batch: convert, evaluate in Java, build Arrow results and dead letters.

:func:`process_chunk` is what every worker thread runs. It holds the GIL only
for the Python parts; numpy/pyarrow kernels and the Java call release it.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import threading
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa

from pyengine.batch.convert import (
    Columns,
    Shared,
    columns_from_records,
    convert_batch,
    out_of_range_error,
)
from pyengine.batch.csvlines import CsvLines, columns_from_csv
from pyengine.batch.jsonlines import JsonLines, columns_from_json
from pyengine.errors import JvmError
from pyengine.jvm.rules import BoundChunk, ChunkResult, CompiledRules
from pyengine.lang.types import Type
from pyengine.reference import ops
from pyengine.spec.program import ACTIONS, Program

# A chunk's records: Arrow columns, JSON texts, CSV lines, or JSON values.
Batch: TypeAlias = pa.RecordBatch | JsonLines | CsvLines | list[Any]


@dataclass
class ChunkOutput:
    """Results and dead letters of one chunk, in input order."""

    results: pa.Table
    dead_letters: list[dict[str, Any]]
    # the results' decisions as ACTIONS' indexes, counted when asked (evaluate_batch
    # never asks): four passes over a chunk's codes
    decision_codes: np.ndarray

    @property
    def decisions(self) -> dict[str, int]:
        """The number of results of each action."""
        codes = self.decision_codes
        return {a: int(np.count_nonzero(codes == k)) for k, a in enumerate(ACTIONS)}


class ResultLayout:
    """The results schema of a program and the fixed dictionaries it uses."""

    def __init__(self, program: Program):
        self.program = program
        self.rulesets = pa.array([rs.name for rs in program.rulesets], pa.string())
        self.actions = pa.array(list(ACTIONS), pa.string())
        self.fired_dictionary = pa.array(program.fired_ids, pa.string())
        dict_string = pa.dictionary(pa.int32(), pa.string())
        fields = [
            pa.field("position", pa.int64(), nullable=False),
            pa.field("id", pa.string(), nullable=False),
            pa.field("client_id", dict_string, nullable=False),
            pa.field("ruleset", dict_string, nullable=False),
            pa.field("decision", dict_string, nullable=False),
            pa.field("fired", pa.list_(pa.field("element", dict_string, nullable=False)),
                     nullable=False),
        ]
        fields += [pa.field(name, arrow_type(t)) for name, t in program.outputs.items()]
        fields.append(pa.field("ruleset_version", dict_string, nullable=False))
        self.schema = pa.schema(fields)
        # A chunk's client ids keep the encoding they were read with: a dictionary as
        # Parquet gives them (see _client_column), plain strings from text and most
        # in-memory tables, which part files then encode (batch/parts).
        self.plain_client_schema = self.schema.set(
            2, pa.field("client_id", pa.string(), nullable=False))
        # built as the schema has it: a table made of another list type (Arrow's default
        # names its values "item", and they may be null) is cast to it, 0.1 ms a chunk
        self.fired_type = self.schema.field("fired").type
        # Parquet dictionary-encodes these; unique values (ids, positions) would only
        # fill a dictionary page to throw it away.
        self.dictionary_columns = [path for f in fields if (path := _repetitive(f.name, f.type))]
        # Positions count up by one: delta-encoded, a row group of them is a few hundred
        # bytes, written four times faster than plain int64s.
        self.column_encoding = {"position": "DELTA_BINARY_PACKED"}
        self.version = pa.array([program.version], pa.string())
        self._strings: dict[tuple[str, ...], pa.Array] = {}

    def strings(self, values: list[str]) -> pa.Array:
        """``values``, a string output's dictionary in a chunk, as an Arrow array: the
        one made for an earlier chunk with the same values in the same order, as most
        chunks have (a few values, in the order the chunk's rows met them). Making one
        takes a few microseconds, and a chunk has a dictionary for each string output."""
        key = tuple(values)
        made = self._strings.get(key)
        if made is None:
            if len(self._strings) >= _STRINGS_KEPT:  # outputs with many values
                self._strings.clear()
            made = self._strings[key] = pa.array(values, pa.string())
        return made  # (workers may both make one: either will do)


# Arrays ResultLayout.strings keeps: every order of a few outputs' few values.
_STRINGS_KEPT = 256


def _repetitive(path: str, t: pa.DataType) -> str | None:
    """The Parquet column path of a column whose values repeat, None for others.

    Parquet names a list's values ``NAME.list.element`` (the compliant nested type,
    which the part writer asks for): a list's own name would not match it, and its
    values would be written without a dictionary, at twice the size and time.
    """
    if pa.types.is_list(t):
        return _repetitive(f"{path}.list.element", t.value_type)
    return path if pa.types.is_dictionary(t) or pa.types.is_boolean(t) else None


def arrow_type(t: Type) -> pa.DataType:
    """The Arrow type of a result column of type ``t``."""
    if t.kind == "list":
        assert t.elem is not None
        return pa.list_(arrow_type(t.elem))
    return {
        "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
        "string": pa.dictionary(pa.int32(), pa.string()),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }.get(t.kind) or pa.decimal128(19, t.scale)


# Workers take turns for the Python parts of their chunks; Java runs outside the turns.
# Those parts are chains of short numpy, Arrow and JPype calls, each of which releases
# the GIL: a waiting worker took it at every call and gave it back at its next, and
# two workers' chunks ran 4-8% slower than with turns (2M rows, 2 workers).
_TURNS = threading.Lock()


def process_chunk(compiled: CompiledRules, layout: ResultLayout,
                  batch: Batch, start: int, source: str) -> ChunkOutput:
    """Evaluate ``batch`` (Arrow columns, JSON texts, CSV lines or JSON objects) whose first
    row is position ``start``."""
    try:
        columns, bound = _convert_and_bind(compiled, batch, start)  # Java may read the texts
        compiled.run_bound(bound)
    except JvmError as exc:
        end = start + len(batch) - 1
        raise JvmError(f"{source}: records {start}..{end} not evaluated: {exc}") from exc
    with _TURNS:
        result = compiled.collect(bound)
        if result.count == columns.n:  # every row evaluated
            kept, bad = None, _NO_ROWS
        else:
            kept = result.evaluated
            bad = np.flatnonzero(~kept)
        results = _results_table(compiled, layout, columns, result, kept)
        letters = _dead_letters(compiled, batch, columns, result, bad, start, source)
    return ChunkOutput(results, letters, result.decision[: result.count])


_NO_ROWS = np.zeros(0, np.int64)


def _convert_and_bind(compiled: CompiledRules, batch: Batch,
                      start: int) -> tuple[Columns, BoundChunk]:
    """``batch`` (whose first row is position ``start``) converted to the schema and
    bound to a Java chunk, in the worker's turn; texts are parsed before it, by Arrow's
    parsers, alongside the other workers."""
    schema = compiled.program.schema
    if isinstance(batch, pa.RecordBatch):
        with _TURNS:  # typed columns convert in short calls: the whole of it is a turn
            columns = convert_batch(schema, batch)
            return columns, compiled.bind_columns(columns, 0, columns.n, start)
    if isinstance(batch, JsonLines):
        columns = columns_from_json(schema, batch, compiled.json_reader)
    elif isinstance(batch, CsvLines):
        columns = columns_from_csv(schema, batch)
    else:
        columns = columns_from_records(schema, batch)
    with _TURNS:
        return columns, compiled.bind_columns(columns, 0, columns.n, start)


def _string_column(columns: Columns, name: str, kept: np.ndarray | None) -> pa.Array:
    col = columns.columns[name]
    if col.plain:
        # A filter copies the runs of kept strings whole, a take one string at a time:
        # 73 against 242 us for 65,536 ids in a loop.
        return col.dictionary if kept is None else col.dictionary.filter(pa.array(kept))
    return col.dictionary.take(pa.array(col.values if kept is None else col.values[kept]))


def _client_column(columns: Columns, kept: np.ndarray | None) -> pa.Array:
    """The client ids as they were read: plain strings, or the codes Parquet read into
    the dictionary it read them with. Decoding those cost 0.7 ms a chunk, and a part
    file then hashed every id again to write its own dictionary; encoding plain ids
    here would cost 14 ns an id (9% of evaluate_batch on an in-memory table).

    Any other dictionary (a text batch read two ways has one entry a row, repeated) is
    decoded: handed to the Parquet writer as it is, it went into the file's dictionary
    page one id a row, with bytes that changed from run to run."""
    col = columns.columns["client_id"]
    if not col.as_read:
        return _string_column(columns, "client_id", kept)
    return _coded(col.values if kept is None else col.values[kept], col.dictionary)


def _results_table(compiled: CompiledRules, layout: ResultLayout, columns: Columns,
                   result: ChunkResult, kept: np.ndarray | None) -> pa.Table:
    """The result rows; ``kept``: which input rows have one (a mask), None when all."""
    program = compiled.program
    m = result.count
    ruleset = result.ruleset[:m] if kept is None else result.ruleset[kept]
    client = _client_column(columns, kept)
    arrays: list[pa.Array] = [
        pa.array(result.position[:m]),  # Java wrote them
        _string_column(columns, "id", kept),
        client,
        _coded(ruleset, layout.rulesets),
        _coded(result.decision[:m], layout.actions),
        _list(result.fired_offsets[: m + 1],
              _coded(result.fired_codes[: result.fired_offsets[m]], layout.fired_dictionary),
              list_type=layout.fired_type),
    ]
    for name, t in program.outputs.items():
        arrays.append(_output(layout, result, name, t, m))
    arrays.append(_coded(_no_codes(m), layout.version))
    plain = pa.types.is_string(client.type)
    return pa.Table.from_arrays(
        arrays, schema=layout.plain_client_schema if plain else layout.schema)


_no_codes = Shared(lambda n: np.zeros(n, np.int32))  # a column of one value: code 0


def _coded(codes: np.ndarray | pa.Array, dictionary: pa.Array) -> pa.DictionaryArray:
    """Codes from Java (or from us) into their dictionary, without checking each code:
    Java writes only codes its dictionaries gave out (0 under a null), and the check
    took longer than building the rest of a chunk's table."""
    return pa.DictionaryArray.from_arrays(codes, dictionary, safe=False)


def _list(offsets: np.ndarray, items: pa.Array, validity: pa.Buffer | None = None,
          list_type: pa.ListType | None = None) -> pa.Array:
    """A list array of ``items`` cut by ``offsets`` (one more than its rows), of
    ``list_type`` (by default, a list of nullable ``items``)."""
    n = len(offsets) - 1
    list_type = list_type or pa.list_(items.type)
    return pa.Array.from_buffers(list_type, n, [validity, pa.py_buffer(offsets)],
                                 null_count=0 if validity is None else -1, children=[items])


def _output(layout: ResultLayout, result: ChunkResult, name: str, t: Type,
            m: int) -> pa.Array:
    # Java wrote Arrow's layout (validity bitmap, values, offsets): the arrays are
    # assembled from its buffers as they are. Arrow counts the nulls when asked.
    values, valid, offsets = result.outputs[name]
    validity = pa.py_buffer(valid)
    if t.kind == "list":
        assert t.elem is not None
        items = _scalar_array(layout, result, name, t.elem, values, int(offsets[m]), None)
        return _list(offsets[: m + 1], items, validity)
    return _scalar_array(layout, result, name, t, values, m, validity)


def _scalar_array(layout: ResultLayout, result: ChunkResult, name: str, t: Type,
                  values: np.ndarray, n: int, validity: pa.Buffer | None) -> pa.Array:
    """An Arrow array of the first ``n`` values Java wrote (a null's value is never read)."""
    nulls = 0 if validity is None else -1
    if t.kind == "string":
        dictionary = layout.strings(result.dictionaries.get(name, []))
        codes = pa.Array.from_buffers(pa.int32(), n, [validity, pa.py_buffer(values[:n])],
                                      null_count=nulls)
        return _coded(codes, dictionary)
    if t.kind == "bool":
        data = np.packbits(values[:n].astype(bool), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [validity, pa.py_buffer(data)],
                                     null_count=nulls)
    words = result.kinds[name][2]  # a decimal128 value is two int64 words
    return pa.Array.from_buffers(arrow_type(t), n,
                                 [validity, pa.py_buffer(values[:n * words])],
                                 null_count=nulls)


def _dead_letters(compiled: CompiledRules, batch: Batch, columns: Columns,
                  result: ChunkResult, bad: np.ndarray, start: int,
                  source: str) -> list[dict[str, Any]]:
    """The dead letters of the rows ``bad`` (not evaluated), in their order."""
    program = compiled.program
    if not len(bad):
        return []
    letters = []
    for i, record in zip(bad.tolist(), _records(batch, bad, columns.unparsed), strict=True):
        if i in columns.unparsed:
            error = {"kind": "parse", "message": columns.unparsed[i], "rule": None}
        elif not columns.ok[i]:
            error = {"kind": "schema", "message": columns.errors[i], "rule": None}
        elif result.error[i] == ops.OUT_OF_RANGE:  # a decimal Java checked
            error = {"kind": "schema", "rule": None,
                     "message": out_of_range_error(compiled.fields[int(result.where[i])])}
        elif result.error[i] == ops.UNKNOWN_CLIENT:
            client = result.detail.get(i)
            error = {"kind": "unknown_client", "rule": None,
                     "message": f"no rule set serves client_id '{client}'"}
        else:
            code = int(result.error[i])
            ids = compiled.ids[int(result.ruleset[i])]
            where = int(result.where[i])
            detail = result.detail.get(i) or ""
            error = {"kind": "evaluation", "message": ops.message(code, detail),
                     "rule": ids[where] if where >= 0 else None}
        letters.append({"position": start + i, "source": source, "error": error,
                        "record": record, "ruleset_version": program.version})
    return letters


def _records(batch: Batch, rows: np.ndarray, unparsed: dict[int, str]) -> list[Any]:
    """The input records at ``rows``, as JSON values (the text of one that is not JSON)."""
    if isinstance(batch, pa.RecordBatch):
        taken = batch.take(pa.array(rows))
        # Dictionaries decoded first: to_pylist looks each of their values up, 20x slower.
        columns = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c
                   for c in taken.columns]
        plain = pa.RecordBatch.from_arrays(columns, names=taken.schema.names)
        return [json_safe(r) for r in plain.to_pylist()]
    if isinstance(batch, JsonLines | CsvLines):
        return [batch.raw(i) if i in unparsed else json_safe(batch.record(i))
                for i in rows.tolist()]
    return [json_safe(batch[i]) for i in rows.tolist()]


# Values JSON holds as they are (exact types: a subclass goes through the checks below).
_JSON_PLAIN = frozenset({str, int, bool, type(None)})


def json_safe(value: Any) -> Any:
    """A value JSON can hold: decimals as text, timestamps as RFC 3339, bytes as base64."""
    if type(value) in _JSON_PLAIN:  # most values of a record: skip the checks below
        return value
    if isinstance(value, dict):
        return {str(k): v if type(v) in _JSON_PLAIN else json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value
