"""Reading inputs as a stream of record batches: Parquet, CSV, JSONL, or a directory.

Memory stays bounded: files are read batch by batch. Every record has a
position, its 0-based index in the whole input (files in name order). CSV and
JSONL lines are parsed with their chunk, on a worker (:mod:`pyengine.batch.csvlines`,
:mod:`pyengine.batch.jsonlines`): a line that is not a record (a malformed JSON
line, a CSV row with the wrong number of fields) becomes a ``parse`` dead letter
there instead of stopping the run.
"""

from __future__ import annotations

import io
import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pyengine.batch.csvlines import CsvLines
from pyengine.batch.jsonlines import JsonLines
from pyengine.errors import PyEngineError

SUFFIXES = (".parquet", ".csv", ".jsonl")
_BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark


class InputError(PyEngineError):
    """An input file cannot be read at all (exit status 2)."""


@dataclass
class Parsed:
    """Records ``start`` .. ``start + len - 1`` of the input: Arrow columns, JSON texts,
    CSV lines, or JSON objects."""

    start: int
    batch: pa.RecordBatch | JsonLines | CsvLines | list[object]
    source: str

    def __len__(self) -> int:
        return self.batch.num_rows if isinstance(self.batch, pa.RecordBatch) else len(self.batch)


def input_files(path: Path) -> list[Path]:
    """The files of an input: the file itself, or a directory's files in name order.

    A directory's files whose names start with ``.`` or ``_`` are not read, as Arrow's
    datasets and Spark do not read them: macOS leaves ``._x.parquet`` beside each file it
    copies to some disks, and writers put their temporary files there."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES
                       and not p.name.startswith((".", "_")) and p.is_file())
        if not files:
            raise InputError(f"{path}: no {', '.join(SUFFIXES)} files in the directory")
        return files
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported input type (use {', '.join(SUFFIXES)})")
    return [path]


def read_input(path: Path, batch_rows: int,
               dictionary: Collection[str] = ()) -> Iterator[Parsed]:
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
             dictionary: Collection[str]) -> Iterator[Parsed]:
    schema = pq.read_schema(file)
    refuse_repeats(file, "Parquet schema", schema.names)
    # Parquet stores repetitive strings as dictionaries already: reading them so skips
    # building one Python-visible string per row, and Java decodes each value once.
    strings = [f.name for f in schema if f.name in dictionary and _is_string(f.type)]
    # pre_buffer would keep every column chunk read so far until the file is done:
    # memory would grow with the input instead of staying bounded.
    parquet = pq.ParquetFile(file, read_dictionary=strings, pre_buffer=False)
    # Decoded in the reading thread, one column after another, not by Arrow's pool: the
    # workers and the part writer keep the cores busy already, and the pool's bursts of
    # one thread a core made a 10M-record run 3-4% slower and 20-40 MiB larger on two
    # cores. One thread decodes about 8M records/s, twice what one part writer thread
    # encodes (docs/benchmarks.md), so more cores would not make it the limit.
    for batch in parquet.iter_batches(batch_size=batch_rows, use_threads=False):
        plain = plain_schema(batch.schema)  # (a file written from string views)
        yield Parsed(start, batch if plain is None else batch.cast(plain), file.name)
        start += batch.num_rows


def plain_schema(schema: pa.Schema) -> pa.Schema | None:
    """``schema`` with Arrow's string views (polars' strings) as plain strings, and
    dictionaries of views or large strings (polars' categoricals) as dictionaries of
    plain strings; None when it has neither. Arrow has no take for views (dead letters
    are taken from their batch), and the converters read dictionaries of plain strings."""
    fields = [f.with_type(_plain(f.type)) for f in schema]
    if all(f.type == g.type for f, g in zip(fields, schema, strict=True)):
        return None
    return pa.schema(fields, metadata=schema.metadata)


def _plain(t: pa.DataType) -> pa.DataType:
    if pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_dictionary(t) and _is_string(t.value_type):
        return pa.dictionary(pa.int32(), pa.string())
    return t


def _is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t)
                or pa.types.is_string_view(t))


def _csv(file: Path, batch_rows: int, start: int) -> Iterator[Parsed]:
    """CSV with every column read as text; typing is the schema's job."""
    with open(file, "rb") as fh:
        blocks = text_lines(fh, keepends=True)
        first = next((block for block in blocks if block), [])
        names = _csv_header(file, first[0]) if first else ()
        if not names:
            return
        # Lines are parsed with their chunk, on a worker (pyengine.batch.csvlines).
        for lines in _batches(itertools.chain([first[1:]], blocks), batch_rows):
            yield Parsed(start, CsvLines(lines, names), file.name)
            start += len(lines)


def _csv_header(file: Path, line: bytes) -> tuple[str, ...]:
    """The column names (none for a blank first line, which ends the file's records)."""
    try:
        header = line.removeprefix(_BOM).decode("utf-8")  # as utf-8-sig reads it
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: the CSV header is not valid UTF-8") from exc
    if not header.strip():
        return ()
    names = _csv_names(header)
    refuse_repeats(file, "CSV header", names)
    return tuple(names)


def refuse_repeats(source: Path | str, what: str, names: list[str]) -> None:
    """InputError for a column named twice: which of the two would be the field is
    anyone's guess."""
    repeated = sorted(n for n, count in Counter(names).items() if count > 1)
    if repeated:
        raise InputError(f"{source}: the {what} repeats {', '.join(map(repr, repeated))}")


def _csv_names(header: str) -> list[str]:
    table = pacsv.read_csv(io.BytesIO(header.encode()),
                           read_options=pacsv.ReadOptions(column_names=None))
    return list(table.column_names)


def _jsonl(file: Path, batch_rows: int, start: int) -> Iterator[Parsed]:
    """One JSON object per line; every line counts as one record, blank ones included.

    Lines are parsed with their chunk (:mod:`pyengine.batch.jsonlines`): a line that is
    not JSON becomes a parse dead letter there.
    """
    with open(file, "rb") as fh:
        for lines in _batches(_without_bom(text_lines(fh)), batch_rows):
            yield Parsed(start, JsonLines(lines, text_file=True), file.name)
            start += len(lines)


def _without_bom(blocks: Iterator[list[bytes]]) -> Iterator[list[bytes]]:
    """The blocks of a file's lines, its first line without a UTF-8 byte order mark, as
    a CSV header is read: Windows tools write one, and JSON does not allow it."""
    for block in blocks:
        if block:
            block[0] = block[0].removeprefix(_BOM)
            yield block
            break
        yield block
    yield from blocks


def _batches(blocks: Iterable[list[bytes]], size: int) -> Iterator[list[bytes]]:
    """The lines of ``blocks`` regrouped in lists of ``size`` (the last one shorter)."""
    lines: list[bytes] = []
    for block in blocks:
        lines += block
        # Batches are sliced at offsets; the rest is kept once per block, not re-sliced
        # for each batch.
        start = 0
        while len(lines) - start >= size:
            yield lines[start:start + size]
            start += size
        del lines[:start]
    if lines:
        yield lines


def text_lines(fh: BinaryIO, size: int = 1 << 22,
               keepends: bool = False) -> Iterator[list[bytes]]:
    """The lines of a binary file, split where a text-mode file splits them (at \\n,
    \\r\\n and \\r), a block of ``size`` bytes at a time; with their ends when ``keepends``
    (as ``open(..., newline="")`` gives them).

    Splitting bytes in C instead of iterating a text file line by line frees the main
    thread, which holds the GIL while it reads, for the workers.
    """
    rest = b""
    while data := fh.read(size):
        data = rest + data
        # A \r at the very end may be half of a \r\n: it waits for the next block.
        end = len(data) - 1 if data.endswith(b"\r") else len(data)
        cut = max(data.rfind(b"\n", 0, end), data.rfind(b"\r", 0, end))
        if cut < 0:
            rest = data
            continue
        complete, rest = data[:cut + 1], data[cut + 1:]
        if keepends or b"\r" in complete:
            yield complete.splitlines(keepends)
        else:
            yield complete.split(b"\n")[:-1]
    if rest:
        yield rest.splitlines(keepends)
