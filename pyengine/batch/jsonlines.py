"""JSON texts (JSONL lines, Kafka messages) -> the schema's typed columns, in bulk.

Parsing each text with ``json.loads`` and reading it with the single-transaction
rules cost about 13 µs a record, holding the GIL. Here the texts of a batch are
joined and, when the compiled rules give a reader, read by Java straight into the
schema's columns (:class:`pyengine.jvm.jsontext.JsonRecordsReader`): about 1 µs a record
in all. The texts Java leaves (it reads only the common forms) are parsed by Arrow's
JSON reader into columns of each field's JSON type (ints as int64, decimals and
timestamps as text, ...), which :func:`convert_batch` then converts like any Arrow
batch: about 2 µs a record, mostly with the GIL released.

Arrow's reader and Python's ``json`` do not accept exactly the same texts, so
Arrow only ever reads texts it reads the same way, and a text is handed to the
single-transaction path (:func:`columns_from_records`, with its exact messages)
whenever there is any doubt:

- before parsing: a text that is not one line, does not start with ``{`` or end
  with ``}`` (a truncated message), is not valid UTF-8, could nest deeper than
  Python's parser goes, or holds ``Inf`` (Arrow reads ``Inf`` as infinity, Python
  only ``Infinity``);
- while parsing: a text Arrow refuses (the row it names; a whole block is split in
  halves when Arrow names none), or a block that gives more rows than texts (two
  objects on one line);
- after parsing: a record with any schema problem, because Arrow reads a missing
  field and a null one alike, and the message must say which.

Whatever the path, a record gets the columns and the message the
single-transaction rules give it; a differential test checks this.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from pyengine.batch.convert import (
    Columns,
    columns_from_records,
    convert_batch,
    merge_columns,
    take_rows,
)
from pyengine.jvm.jsontext import JsonRecordsReader
from pyengine.records import parse_json
from pyengine.spec.program import Schema

BLOCK = 2048  # texts per Arrow parse: large enough to amortize a call, small to retry
# Python's parser gives up (RecursionError) somewhere below its recursion limit: a text
# that could nest that deep is left to it.
_DEEP = 512
_ROW = re.compile(r" in row (\d+)$")
_BRACE = ord("{")
_CLOSE = ord("}")
_NO_ROWS = np.zeros(0, np.int64)
_JAVA_BYTES = 2**31 - 1  # Java's arrays and buffers are indexed by int
_ARROW_TYPES = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(),
                "bool": pa.bool_(), "decimal": pa.string(), "timestamp": pa.string()}


@dataclass(frozen=True)
class JsonLines:
    """A batch of records given as JSON texts, one record each (str or UTF-8 bytes).

    ``text_file``: the bytes are a text file's lines, whose bytes that are not UTF-8 read
    as surrogate escapes (as ``open(..., errors="surrogateescape")`` gives them) instead
    of making the line invalid JSON (as for a Kafka message).
    """

    texts: Sequence[str | bytes]
    text_file: bool = False

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, rows: slice) -> JsonLines:
        return JsonLines(self.texts[rows], self.text_file)

    def take(self, rows: np.ndarray) -> JsonLines:
        """The texts of ``rows``, in their order."""
        texts = self.texts
        return JsonLines([texts[row] for row in rows.tolist()], self.text_file)

    def record(self, row: int) -> Any:
        """Record ``row`` as a JSON value; ValueError (the reason) if it is not one."""
        text = self.texts[row]
        if self.text_file and isinstance(text, bytes):
            text = text.decode("utf-8", "surrogateescape")
        return parse_json(text)

    def raw(self, row: int) -> str:
        """Record ``row``'s text, bytes that are not UTF-8 as ``\\xNN`` escapes."""
        text = self.texts[row]
        if isinstance(text, str):
            text = text.encode("utf-8", "surrogateescape")
        return text.decode("utf-8", "backslashreplace")


def columns_from_json(schema: Schema, lines: JsonLines,
                      reader: JsonRecordsReader | None = None) -> Columns:
    """Convert every record of ``lines``; never raises for bad records.

    Rows that are not JSON are not ok and are listed in ``Columns.unparsed``. With a
    ``reader`` (Java's), the texts it reads skip Arrow's parser and the checks for it.
    """
    n = len(lines)
    every = _joined(lines.texts) if reader is not None and n else None
    if reader is None or every is None or len(every.joined) >= _JAVA_BYTES:
        return _bulk(schema, lines)
    read, left = reader.read(every.joined, every.starts)
    if not left.any():
        return read  # every record read by Java, in order
    kept, rest = np.flatnonzero(~left), np.flatnonzero(left)
    others = _bulk(schema, lines.take(rest))
    unparsed = {int(rest[row]): message for row, message in others.unparsed.items()}
    return merge_columns(schema, n, [(kept, take_rows(read, ~left)), (rest, others)],
                         _NO_ROWS, None, unparsed)


def _bulk(schema: Schema, lines: JsonLines) -> Columns:
    """:func:`columns_from_json` with Arrow's reader, and one by one where in doubt."""
    n = len(lines)
    texts = lines.texts
    candidates = _candidates(texts)
    tables, parsed, doubtful = _parse(_parse_options(schema), candidates)
    fast_rows = np.array(parsed, dtype=np.int64)
    fast = (convert_batch(schema, pa.concat_tables(tables).combine_chunks()) if tables
            else None)
    bad = _doubtful_rows(schema, fast) if fast is not None else _NO_ROWS
    if fast is not None and len(bad):
        doubtful += fast_rows[bad].tolist()
        keep = np.ones(len(fast_rows), dtype=bool)
        keep[bad] = False
        fast_rows = fast_rows[keep]
        fast = take_rows(fast, keep)
    slow_rows = doubtful
    if len(candidates.rows) < n:
        slow_rows += sorted(set(range(n)).difference(candidates.rows))
    slow = _one_by_one(schema, lines, sorted(slow_rows))
    if fast is not None and not slow_rows:
        return fast  # every record went the fast way, in order
    return merge_columns(schema, n, [(fast_rows, fast)] if fast is not None else [], *slow)


def _doubtful_rows(schema: Schema, fast: Columns) -> np.ndarray:
    """Rows of Arrow's columns that the one-by-one path reads: those with a schema error
    (its message says missing or null, and names the first bad field), and those with a
    float of -0.0, which Arrow also reads from the integer ``-0`` (Python: 0.0)."""
    rows = [np.fromiter(fast.errors, dtype=np.int64, count=len(fast.errors))]
    for name, f in schema.fields.items():
        if f.type.kind == "float":
            col = fast.columns[name]
            rows.append(np.flatnonzero(col.present & (col.values == 0) & np.signbit(col.values)))
    return np.unique(np.concatenate(rows))


def _parse_options(schema: Schema) -> pajson.ParseOptions:
    fields = [pa.field(name, _ARROW_TYPES[f.type.kind]) for name, f in schema.fields.items()]
    return pajson.ParseOptions(explicit_schema=pa.schema(fields),
                               unexpected_field_behavior="ignore", newlines_in_values=False)


@dataclass(frozen=True)
class _Candidates:
    """The texts Arrow may read (``rows``), joined by newlines, text k at bytes
    ``starts[k]`` .. ``starts[k + 1] - 2``."""

    rows: Sequence[int]
    joined: bytes
    starts: np.ndarray

    def block(self, start: int, end: int) -> memoryview:
        """Texts ``start`` .. ``end - 1``, still joined (no copy)."""
        return memoryview(self.joined)[self.starts[start]:self.starts[end] - 1]

    def unclosed(self) -> list[int]:
        """The texts (indexes into ``rows``) whose last byte is not ``}``: not JSON
        objects (a truncated message), or ones with trailing blanks. Arrow is not asked
        about them: a text it refuses costs a parse of its block up to that text, twice."""
        last = np.frombuffer(self.joined, np.uint8)[self.starts[1:] - 2]
        return np.flatnonzero(last != _CLOSE).tolist()


def _joined(texts: Sequence[str | bytes]) -> _Candidates | None:
    """All ``texts`` joined by newlines; None for str texts that are not all ASCII (whose
    lengths are not their bytes')."""
    if texts and isinstance(texts[0], str):
        text = "\n".join(texts)  # type: ignore[arg-type]  # JsonLines holds one kind
        if not text.isascii():
            return None
        joined = text.encode("ascii")
    else:
        joined = b"\n".join(texts)  # type: ignore[arg-type]
    return _Candidates(range(len(texts)), joined, _starts(list(map(len, texts))))


def _candidates(texts: Sequence[str | bytes]) -> _Candidates:
    """The rows Arrow may read; checked in a few passes over all texts when possible."""
    every = _joined(texts)
    if every is not None and every.joined and _all_plain(texts, every.joined, every.starts):
        return every
    data = [t.encode("utf-8", "surrogateescape") if isinstance(t, str) else t for t in texts]
    rows = [row for row, text in enumerate(data) if _plain(text)]
    chosen = [data[row] for row in rows]
    return _Candidates(rows, b"\n".join(chosen), _starts(list(map(len, chosen))))


def _starts(lengths: list[int]) -> np.ndarray:
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.array(lengths, dtype=np.int64) + 1, out=starts[1:])
    return starts


def _all_plain(texts: Sequence[str | bytes], joined: bytes, starts: np.ndarray) -> bool:
    """Whether all ``texts`` (ASCII, ``joined`` by newlines from ``starts``) are
    :func:`_plain`. Whole-buffer passes only: a temporary the size of the buffer costs
    more than the checks."""
    n = len(texts)
    lengths = np.diff(starts) - 1
    if lengths.min() == 0 or not joined.isascii() or b"\r" in joined:
        return False
    if joined.count(b"\n") != n - 1:
        return False  # a text holds a line break
    if not (np.frombuffer(joined, np.uint8)[starts[:-1]] == _BRACE).all():
        return False
    if lengths.max() >= _DEEP and any(_brackets(_utf8(t)) >= _DEEP for t in texts
                                     if len(t) >= _DEEP):
        return False  # only a text this long can nest that deep
    return not _holds_inf(joined)


def _holds_inf(joined: bytes) -> bool:
    """Whether ``Inf`` occurs; a capital I is rare, and finding one is a memchr."""
    at = joined.find(b"I")
    while at >= 0:
        if joined.startswith(b"nf", at + 1):
            return True
        at = joined.find(b"I", at + 1)
    return False


def _brackets(text: bytes) -> int:
    return text.count(b"{") + text.count(b"[")


def _utf8(text: str | bytes) -> bytes:
    return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text


def _plain(text: bytes) -> bool:
    """A text Arrow's reader reads as Python's does (if it reads it at all).

    Only objects reach Arrow: besides reading ``null`` as a record of nulls, pyarrow 26's
    reader crashes the process (SIGSEGV) on a block whose first text is ``null``.
    """
    if b"\n" in text or b"\r" in text or not text.lstrip(b" \t").startswith(b"{"):
        return False
    if b"Inf" in text:  # Arrow reads Inf as infinity; Python reads only Infinity
        return False
    if _brackets(text) >= _DEEP:
        return False
    if not text.isascii():
        try:
            text.decode("utf-8")  # strict: Python's bytes reader lets surrogates pass
        except UnicodeDecodeError:
            return False
    return True


def _parse(options: pajson.ParseOptions, candidates: _Candidates) -> tuple[
        list[pa.Table], list[int], list[int]]:
    """Parse the candidates in blocks: (tables, the rows they hold in order, the rows
    Arrow refused)."""
    rows = candidates.rows
    tables: list[pa.Table] = []
    parsed: list[int] = []
    unclosed = candidates.unclosed()
    refused = [rows[k] for k in unclosed]
    # Pieces are (start, end) ranges of ``rows`` between the unclosed texts; a stack,
    # so later pieces go in first.
    bounds = [-1, *unclosed, len(rows)]
    stack = [(s, min(s + BLOCK, end)) for after, end in pairwise(bounds)
             for s in range(after + 1, end, BLOCK)][::-1]
    while stack:
        start, end = stack.pop()
        if start == end:
            continue
        table, culprit = _read(options, candidates.block(start, end), end - start)
        if table is not None:
            tables.append(table)
            parsed += rows[start:end]
        elif end - start == 1:
            refused.append(rows[start])
        elif culprit is not None:
            refused.append(rows[start + culprit])
            stack += [(start + culprit + 1, end), (start, start + culprit)]
        else:
            middle = (start + end) // 2
            stack += [(middle, end), (start, middle)]
    return tables, parsed, refused


def _read(options: pajson.ParseOptions, block: memoryview,
          count: int) -> tuple[pa.Table | None, int | None]:
    """(the table of the ``count`` texts in ``block``, None), or (None, the row Arrow
    names as wrong, when it does)."""
    try:
        table = pajson.read_json(
            pa.py_buffer(block), parse_options=options,
            read_options=pajson.ReadOptions(use_threads=False, block_size=len(block) + 1))
    except (pa.ArrowException, UnicodeError) as exc:
        found = _ROW.search(str(exc))
        row = int(found.group(1)) if found else None
        # A row Arrow counted past a line holding two objects may not be the culprit:
        # taking it out is still safe (the other path reads it), and progress is made.
        return None, row if row is not None and row < count else None
    if table.num_rows != count:
        return None, None  # some line held more than one object
    return table, None


def _one_by_one(schema: Schema, lines: JsonLines, rows: Sequence[int]) -> tuple[
        np.ndarray, Columns | None, dict[int, str]]:
    """The single-transaction path: (the rows parsed, their columns, row -> parse error)."""
    raws: list[Any] = []
    parsed: list[int] = []
    unparsed: dict[int, str] = {}
    for row in rows:
        try:
            raws.append(lines.record(row))
            parsed.append(row)
        except ValueError as exc:  # malformed, too deep, or not UTF-8 (UnicodeError)
            unparsed[row] = f"invalid JSON: {exc}"
    columns = columns_from_records(schema, raws) if raws else None
    return np.array(parsed, dtype=np.int64), columns, unparsed
