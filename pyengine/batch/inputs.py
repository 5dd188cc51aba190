"""Reading inputs as a stream of record batches: Parquet, CSV, JSONL, or a directory.

Memory stays bounded: files are read batch by batch. Every record has a
position, its 0-based index in the whole input (files in name order). A record
that cannot be parsed at all (a malformed JSON line, a CSV row with the wrong
number of fields) comes out as a :class:`Unparsed` entry with its raw text, so
it reaches the dead-letter queue instead of stopping the run.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pyengine.batch.jsonlines import JsonLines
from pyengine.errors import PyEngineError

SUFFIXES = (".parquet", ".csv", ".jsonl")

# A CSV field may be as long as a line: the csv module's default limit (128 KiB) would
# turn a long but valid field into an exception instead of a value.
csv.field_size_limit(2**31 - 1)


class InputError(PyEngineError):
    """An input file cannot be read at all (exit status 2)."""


@dataclass
class Parsed:
    """Records ``start`` .. ``start + len - 1`` of the input: Arrow columns, JSON texts,
    or JSON objects."""

    start: int
    batch: pa.RecordBatch | JsonLines | list[object]
    source: str

    def __len__(self) -> int:
        return self.batch.num_rows if isinstance(self.batch, pa.RecordBatch) else len(self.batch)


@dataclass
class Unparsed:
    """One record that could not be parsed: its position and raw text."""

    position: int
    text: str
    reason: str
    source: str


Item = Parsed | Unparsed


def input_files(path: Path) -> list[Path]:
    """The files of an input: the file itself, or a directory's files in name order."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        if not files:
            raise InputError(f"{path}: no {', '.join(SUFFIXES)} files in the directory")
        return files
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported input type (use {', '.join(SUFFIXES)})")
    return [path]


def read_input(path: Path, batch_rows: int,
               dictionary: Collection[str] = ()) -> Iterator[Item]:
    """Every record of the input, in order, in batches of at most ``batch_rows``.

    Parquet string columns named in ``dictionary`` are read dictionary-encoded.
    """
    position = 0
    for file in input_files(path):
        try:
            if file.suffix == ".parquet":
                items = _parquet(file, batch_rows, position, dictionary)
            else:
                items = {".csv": _csv, ".jsonl": _jsonl}[file.suffix](file, batch_rows, position)
            for item in items:
                position = (item.start + len(item) if isinstance(item, Parsed)
                            else item.position + 1)
                yield item
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{file}: cannot be read: {exc}") from exc


def _parquet(file: Path, batch_rows: int, start: int,
             dictionary: Collection[str]) -> Iterator[Item]:
    schema = pq.read_schema(file)
    # Parquet stores repetitive strings as dictionaries already: reading them so skips
    # building one Python-visible string per row, and Java decodes each value once.
    strings = [f.name for f in schema if f.name in dictionary
               and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
    # pre_buffer would keep every column chunk read so far until the file is done:
    # memory would grow with the input instead of staying bounded.
    parquet = pq.ParquetFile(file, read_dictionary=strings, pre_buffer=False)
    for batch in parquet.iter_batches(batch_size=batch_rows):
        yield Parsed(start, batch, file.name)
        start += batch.num_rows


def _csv(file: Path, batch_rows: int, start: int) -> Iterator[Item]:
    """CSV with every column read as text; typing is the schema's job."""
    # Bytes that are not UTF-8 survive as surrogates: that record alone is a dead letter.
    with open(file, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        header = fh.readline()
        if not header.strip():
            return
        if not _is_utf8(header):
            raise InputError(f"{file}: the CSV header is not valid UTF-8")
        names = _csv_names(header)
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InputError(f"{file}: the CSV header repeats {', '.join(map(repr, repeated))}")
        lines: list[str] = []
        for line in fh:
            lines.append(line)
            if len(lines) >= batch_rows:
                yield from _csv_block(lines, names, start, file.name)
                start += len(lines)
                lines = []
        if lines:
            yield from _csv_block(lines, names, start, file.name)


def _csv_names(header: str) -> list[str]:
    table = pacsv.read_csv(io.BytesIO(header.encode()),
                           read_options=pacsv.ReadOptions(column_names=None))
    return list(table.column_names)


def _csv_block(lines: list[str], names: list[str], start: int, source: str) -> Iterator[Item]:
    """Parse a block of CSV lines with Arrow; the lines Arrow refuses, and a whole block
    Arrow cannot map line for line, are read line by line."""
    refused: list[int] = []  # 0-based lines of the block

    def refuse(row: Any) -> str:
        if row.number is None:
            raise _Unmapped
        refused.append(row.number - 1)
        return "skip"

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
        table = pacsv.read_csv(io.BytesIO("".join(lines).encode()), *options)
    except (pa.ArrowInvalid, UnicodeEncodeError, _Unmapped):
        table = None
    # A quoted field running past its line merges lines: then rows and lines do not
    # correspond, and the block goes line by line.
    if table is not None and table.num_rows + len(refused) == len(lines):
        yield from _csv_runs(_one(table), lines, sorted(refused), names, start, source)
        return
    yield from _csv_lines(lines, 0, len(lines), names, start, source)


class _Unmapped(Exception):
    """Arrow refused a CSV row without saying which line it was."""


def _csv_runs(batch: pa.RecordBatch, lines: list[str], refused: list[int], names: list[str],
              start: int, source: str) -> Iterator[Item]:
    """Arrow's rows (every line but the ``refused`` ones, in order), with the refused
    lines read one by one in their places."""
    row = line = 0
    for bad in [*refused, len(lines)]:
        if bad > line:
            yield Parsed(start + line, batch.slice(row, bad - line), source)
            row += bad - line
        if bad < len(lines):
            yield from _csv_lines(lines, bad, bad + 1, names, start, source)
        line = bad + 1


def _csv_lines(lines: list[str], first: int, end: int, names: list[str], start: int,
               source: str) -> Iterator[Item]:
    """Lines ``first`` .. ``end - 1`` of a block, each read with Python's csv module."""
    good: list[object] = []
    good_start = start + first
    for offset in range(first, end):
        line = lines[offset]
        utf8 = _is_utf8(line)
        fields = next(csv.reader([line]), []) if utf8 else []  # one line, one record
        if len(fields) == len(names):
            # As in the Arrow path: an empty field is null.
            good.append({n: (v if v != "" else None) for n, v in zip(names, fields, strict=True)})
            continue
        if good:
            yield Parsed(good_start, good, source)
            good = []
        reason = (f"malformed CSV row: expected {len(names)} fields, found {len(fields)}"
                  if utf8 else "not valid UTF-8")
        yield Unparsed(start + offset, line.rstrip("\r\n"), reason, source)
        good_start = start + offset + 1
    if good:
        yield Parsed(good_start, good, source)


def _is_utf8(text: str) -> bool:
    """False when ``text`` carries undecodable bytes (as surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _jsonl(file: Path, batch_rows: int, start: int) -> Iterator[Item]:
    """One JSON object per line; every line counts as one record, blank ones included.

    Lines are parsed with their chunk (:mod:`pyengine.batch.jsonlines`): a line that is
    not JSON becomes a parse dead letter there.
    """
    lines: list[str] = []
    with open(file, encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= batch_rows:
                yield Parsed(start, JsonLines(lines), file.name)
                start += len(lines)
                lines = []
    if lines:
        yield Parsed(start, JsonLines(lines), file.name)


def _one(table: pa.Table) -> pa.RecordBatch:
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)
