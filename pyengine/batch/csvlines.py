"""CSV lines -> the schema's typed columns, parsed on the worker that evaluates them.

A block of lines is parsed by Arrow's CSV reader, every field as text, and converted
like any Arrow batch. The lines Arrow refuses (the wrong number of fields) are read
one by one with Python's csv module, which decides and words their fate: a record
after all, or a ``parse`` dead letter. A block Arrow cannot map line for line (a
quote running past its line merges lines; an empty line is skipped) is read line by
line. Bad lines stay inside their chunk (``Columns.unparsed``), so a malformed line
costs its own reading, not a chunk of its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from pyengine.batch.convert import Columns, columns_from_records, convert_batch, merge_columns
from pyengine.spec.program import Schema

# A CSV field may be as long as a line: the csv module's default limit (128 KiB) would
# turn a long but valid field into an exception instead of a value.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class CsvLines:
    """A block of CSV lines (bytes, each with its line break), one record each, under a
    header."""

    lines: Sequence[bytes]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, rows: slice) -> CsvLines:
        return CsvLines(self.lines[rows], self.names)

    def record(self, row: int) -> dict[str, Any]:
        """Line ``row`` as a record (only asked for lines that are records)."""
        fields = read_line(self.lines[row])
        assert fields is not None
        return _record(self.names, fields)

    def raw(self, row: int) -> str:
        """Line ``row``'s text, bytes that were not UTF-8 as ``\\xNN`` escapes."""
        return self.lines[row].rstrip(b"\r\n").decode("utf-8", "backslashreplace")


def read_line(line: bytes) -> list[str] | None:
    """The fields of one line as Python's csv reads them; None when it is not UTF-8."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return next(csv.reader([text]), [])


def _record(names: tuple[str, ...], fields: list[str]) -> dict[str, Any]:
    # As in Arrow's reading: an empty field is null.
    return {n: (v if v != "" else None) for n, v in zip(names, fields, strict=True)}


def columns_from_csv(schema: Schema, block: CsvLines) -> Columns:
    """Convert every line of ``block``; never raises for bad lines."""
    n = len(block)
    table, refused = _arrow(block)
    if table is None:
        return merge_columns(schema, n, [], *_line_by_line(schema, block, range(n)))
    fast = convert_batch(schema, table)
    if not refused:
        return fast
    arrow_rows = np.delete(np.arange(n, dtype=np.int64), refused)
    return merge_columns(schema, n, [(arrow_rows, fast)],
                         *_line_by_line(schema, block, refused))


def _arrow(block: CsvLines) -> tuple[pa.RecordBatch | None, list[int]]:
    """Arrow's rows (one per line but the refused ones, in order) and the refused lines;
    (None, []) when Arrow cannot read the block line for line."""
    refused: list[int] = []  # 0-based lines of the block

    def refuse(row: Any) -> str:
        if row.number is None:
            raise _Unmapped
        refused.append(row.number - 1)
        return "skip"

    names = list(block.names)
    options = (pacsv.ReadOptions(column_names=names, use_threads=False),
               # An empty line is a record with no fields for Python's csv (a dead
               # letter); Arrow would read it as a row of nulls, so it skips it and
               # the count below sends the block line by line.
               pacsv.ParseOptions(newlines_in_values=False, invalid_row_handler=refuse),
               pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                    # Only an empty field is null: "NA" is Namibia, "NULL"
                                    # and "NaN" are text for the schema to judge.
                                    null_values=[""], strings_can_be_null=True,
                                    quoted_strings_can_be_null=False))
    try:
        # A line that is not UTF-8 fails the whole block's conversion (unless Arrow refused
        # that line anyway): then the block goes line by line.
        table = pacsv.read_csv(io.BytesIO(b"".join(block.lines)), *options)
    except (pa.ArrowInvalid, _Unmapped):
        return None, []
    # A quoted field running past its line merges lines: then rows and lines no longer
    # correspond.
    if table.num_rows + len(refused) != len(block):
        return None, []
    batches = table.combine_chunks().to_batches()
    batch = batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)
    return batch, sorted(refused)


class _Unmapped(Exception):
    """Arrow refused a CSV row without saying which line it was."""


def _line_by_line(schema: Schema, block: CsvLines, rows: Sequence[int]) -> tuple[
        np.ndarray, Columns | None, dict[int, str]]:
    """Lines ``rows`` read with Python's csv: (the lines that are records, their
    columns, line -> why it is not a record)."""
    records: list[dict[str, Any]] = []
    parsed: list[int] = []
    unparsed: dict[int, str] = {}
    width = len(block.names)
    for row in rows:
        fields = read_line(block.lines[row])
        if fields is None:
            unparsed[row] = "not valid UTF-8"
        elif len(fields) != width:
            unparsed[row] = f"malformed CSV row: expected {width} fields, found {len(fields)}"
        else:
            records.append(_record(block.names, fields))
            parsed.append(row)
    columns = columns_from_records(schema, records) if records else None
    return np.array(parsed, dtype=np.int64), columns, unparsed
