"""One chunk of a batch: convert, evaluate in Java, build Arrow results and dead letters.

:func:`process_chunk` is what every worker thread runs. It holds the GIL only
for the Python parts; numpy/pyarrow kernels and the Java call release it.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from pyengine.batch.convert import Columns, columns_from_records, convert_batch
from pyengine.jvm.rules import ChunkResult, CompiledRules
from pyengine.lang.types import Type
from pyengine.reference import ops
from pyengine.spec.program import ACTIONS, Program


@dataclass
class ChunkOutput:
    """Results and dead letters of one chunk, in input order."""

    results: pa.Table
    dead_letters: list[dict[str, Any]]
    decisions: dict[str, int] = field(default_factory=dict)


class ResultLayout:
    """The results schema of a program and the fixed dictionaries it uses."""

    def __init__(self, program: Program):
        self.program = program
        self.rulesets = pa.array([rs.name for rs in program.rulesets], pa.string())
        self.actions = pa.array(list(ACTIONS), pa.string())
        all_ids = sorted({i for rs in program.rulesets for i in rs.ids})
        self.fired_dictionary = pa.array(all_ids, pa.string())
        code = {i: k for k, i in enumerate(all_ids)}
        width = max(len(rs.ids) for rs in program.rulesets)
        self.fired_codes = np.zeros((len(program.rulesets), max(width, 1)), np.int32)
        for r, rs in enumerate(program.rulesets):
            self.fired_codes[r, : len(rs.ids)] = [code[i] for i in rs.ids]
        dict_string = pa.dictionary(pa.int32(), pa.string())
        fields = [
            pa.field("position", pa.int64(), nullable=False),
            pa.field("id", pa.string()),
            pa.field("client_id", pa.string()),
            pa.field("ruleset", dict_string),
            pa.field("decision", dict_string),
            pa.field("fired", pa.list_(dict_string)),
        ]
        fields += [pa.field(name, arrow_type(t)) for name, t in program.outputs.items()]
        fields.append(pa.field("ruleset_version", dict_string))
        self.schema = pa.schema(fields)


def arrow_type(t: Type) -> pa.DataType:
    """The Arrow type of a result column of type ``t``."""
    if t.kind == "list":
        assert t.elem is not None
        return pa.list_(arrow_type(t.elem))
    return {
        "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "string": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }.get(t.kind) or pa.decimal128(19, t.scale)


def process_chunk(compiled: CompiledRules, layout: ResultLayout,
                  batch: pa.RecordBatch | list[Any], start: int,
                  source: str) -> ChunkOutput:
    """Evaluate ``batch`` (Arrow, or JSON objects) whose first row is position ``start``."""
    if isinstance(batch, pa.RecordBatch):
        columns = convert_batch(compiled.program.schema, batch)
    else:
        columns = columns_from_records(compiled.program.schema, batch)
    result = compiled.evaluate_columns(columns)
    evaluated = columns.ok & (result.error == 0)
    results = _results_table(compiled, layout, columns, result, np.flatnonzero(evaluated), start)
    letters = _dead_letters(compiled, batch, columns, result, start, source)
    counts = np.bincount(result.decision[evaluated].astype(np.int64), minlength=4)
    return ChunkOutput(results, letters, {a: int(counts[k]) for k, a in enumerate(ACTIONS)})


def _string_column(columns: Columns, name: str, rows: np.ndarray) -> pa.Array:
    col = columns.columns[name]
    return col.dictionary.take(pa.array(col.values[rows]))


def _results_table(compiled: CompiledRules, layout: ResultLayout, columns: Columns,
                   result: ChunkResult, rows: np.ndarray, start: int) -> pa.Table:
    program = compiled.program
    n = len(rows)
    ruleset = result.ruleset[rows]
    arrays: list[pa.Array] = [
        pa.array(rows.astype(np.int64) + start, pa.int64()),
        _string_column(columns, "id", rows),
        _string_column(columns, "client_id", rows),
        pa.DictionaryArray.from_arrays(pa.array(ruleset, pa.int32()), layout.rulesets),
        pa.DictionaryArray.from_arrays(pa.array(result.decision[rows].astype(np.int32)),
                                       layout.actions),
        _fired(compiled, layout, result, rows, ruleset),
    ]
    for name, t in program.outputs.items():
        arrays.append(_output(result, name, t, rows))
    arrays.append(pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, np.int32)), pa.array([program.version], pa.string())))
    return pa.Table.from_arrays(arrays, schema=layout.schema)


def _fired(compiled: CompiledRules, layout: ResultLayout, result: ChunkResult,
           rows: np.ndarray, ruleset: np.ndarray) -> pa.Array:
    words = result.fired.reshape(-1, compiled.words)[rows]
    bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")
    bits = bits[:, : layout.fired_codes.shape[1]]
    hit_rows, hit_bits = np.nonzero(bits)  # row-major: each row's bits in evaluation order
    codes = layout.fired_codes[ruleset[hit_rows], hit_bits]
    offsets = np.zeros(len(rows) + 1, np.int32)
    np.cumsum(np.bincount(hit_rows, minlength=len(rows)), out=offsets[1:])
    values = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), layout.fired_dictionary)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _output(result: ChunkResult, name: str, t: Type, rows: np.ndarray) -> pa.Array:
    values, valid, counts = result.outputs[name]
    mask = valid[rows] == 0
    if t.kind == "list":
        assert t.elem is not None
        cap = result.capacity[name]
        n_items = counts[rows]
        offsets = np.zeros(len(rows) + 1, np.int32)
        np.cumsum(n_items, out=offsets[1:])
        item_index = np.repeat(rows * cap, n_items) + (
            np.arange(offsets[-1]) - np.repeat(offsets[:-1], n_items))
        items = _scalar_array(result, name, t.elem, values[item_index],
                              np.zeros(len(item_index), bool))
        return pa.ListArray.from_arrays(pa.array(offsets), items, mask=pa.array(mask))
    return _scalar_array(result, name, t, values[rows], mask)


def _scalar_array(result: ChunkResult, name: str, t: Type, values: np.ndarray,
                  mask: np.ndarray) -> pa.Array:
    if t.kind == "string":
        dictionary = pa.array(result.dictionaries.get(name, []), pa.string())
        codes = pa.array(np.where(mask, 0, values).astype(np.int32), mask=mask)
        return dictionary.take(codes) if len(dictionary) else pa.nulls(len(values), pa.string())
    if t.kind == "decimal":
        words = np.empty((len(values), 2), np.int64)
        words[:, 0] = values
        words[:, 1] = values >> 63
        validity = pa.array(~mask).buffers()[1] if mask.any() else None
        return pa.Array.from_buffers(pa.decimal128(19, t.scale), len(values),
                                     [validity, pa.py_buffer(words.tobytes())])
    if t.kind == "timestamp":
        return pa.array(values.astype(np.int64), pa.int64(), mask=mask).cast(
            pa.timestamp("us", tz="UTC"))
    if t.kind == "bool":
        return pa.array(values.astype(bool), mask=mask)
    return pa.array(values, arrow_type(t), mask=mask)


def _dead_letters(compiled: CompiledRules, batch: pa.RecordBatch | list[Any],
                  columns: Columns,
                  result: ChunkResult, start: int, source: str) -> list[dict[str, Any]]:
    program = compiled.program
    bad = np.flatnonzero(~columns.ok | (result.error != 0))
    letters = []
    for i in bad.tolist():
        if not columns.ok[i]:
            error = {"kind": "schema", "message": columns.errors[i], "rule": None}
        elif result.error[i] == ops.UNKNOWN_CLIENT:
            client = str(result.detail[i])
            error = {"kind": "unknown_client", "rule": None,
                     "message": f"no rule set serves client_id '{client}'"}
        else:
            code = int(result.error[i])
            ids = compiled.ids[int(result.ruleset[i])]
            where = int(result.where[i])
            detail = "" if result.detail[i] is None else str(result.detail[i])
            error = {"kind": "evaluation", "message": ops.message(code, detail),
                     "rule": ids[where] if where >= 0 else None}
        letters.append({"position": start + i, "source": source, "error": error,
                        "record": _record(batch, i),
                        "ruleset_version": program.version})
    return letters


def _record(batch: pa.RecordBatch | list[Any], i: int) -> Any:
    if isinstance(batch, pa.RecordBatch):
        return json_safe(batch.slice(i, 1).to_pylist()[0])
    return json_safe(batch[i])


def json_safe(value: Any) -> Any:
    """A value JSON can hold: decimals as text, timestamps as RFC 3339, bytes as base64."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
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
