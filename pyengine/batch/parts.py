"""Part files written while their segment is still being evaluated.

A segment's results go to ``results/part-N.parquet.tmp`` chunk by chunk, on the
segment's own writer thread, in row groups of a fixed size cut into pages of a fixed
number of rows: pages end where the rows are, not where chunks ended, and the file
does not depend on worker counts (nor on chunk sizes, but for the dictionaries of
string outputs: docs/batch.md). Memory stays bounded: at most ``slots`` chunk tables
wait for a writer, whatever the size of a segment. ``close`` flushes, fsyncs and
renames the file into place.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pyengine.batch import DEFAULT_COMPRESSION
from pyengine.batch.chunk import ChunkOutput, ResultLayout
from pyengine.spec.program import ACTIONS

ROW_GROUP = 131_072
# Pages are cut by rows alone (Arrow's default count), not by size: Arrow checks a
# page's size between batches of rows, whose ends move with those of the chunk tables
# written into the page, so a size limit would cut pages where chunks ended.
PAGE_ROWS = 20_000
PAGE_BYTES = 1 << 30  # reached first only by values of 50 KB or more on average


class PartWriter:
    """One part file, appended to in order from one thread, written on another."""

    def __init__(self, path: Path, layout: ResultLayout, slots: threading.Semaphore,
                 compression: str = DEFAULT_COMPRESSION):
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self._layout = layout
        self._compression = compression
        self._slots = slots
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="pyengine-writer")
        self._writer: pq.ParquetWriter | None = None
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._error: BaseException | None = None

    def add(self, table: pa.Table) -> None:
        """Queue ``table`` (the next rows); blocks while too many tables wait."""
        self._slots.acquire()
        self._thread.submit(self._append, table)

    def close(self) -> Future[None]:
        """Write the rest, fsync, rename into place; the future fails if any write did."""
        future = self._thread.submit(self._finish)
        self._thread.shutdown(wait=False)
        return future

    def abandon(self) -> None:
        """Drop the writes still queued, wait for the one running, remove the temporary
        file (a part already in place stays: it is not committed, and a resume rewrites it).
        Safe to call more than once."""
        self._thread.shutdown(wait=True, cancel_futures=True)
        if self._writer is not None:
            with suppress(OSError, pa.ArrowException):
                self._writer.close()
        self.tmp.unlink(missing_ok=True)

    def _append(self, table: pa.Table) -> None:
        try:
            if self._error is None:
                if table.schema != self._layout.schema:  # plain client ids (batch/chunk)
                    table = table.cast(self._layout.schema)
                self._buffer.append(table)
                self._buffered += table.num_rows
                while self._buffered >= ROW_GROUP:
                    self._flush(ROW_GROUP)
        except BaseException as exc:  # reported by close(), which the commit waits for
            self._error = exc
        finally:
            self._slots.release()

    def _flush(self, rows: int) -> None:
        # The chunk tables are written as they are, not first copied into one array a
        # column (13% of the writer's time): pages are cut by rows (PAGE_ROWS). Their
        # dictionaries are unified, or Arrow would decode every chunk whose dictionary
        # differs from the first one's and encode its values again.
        table = pa.concat_tables(self._buffer).unify_dictionaries()
        self._file().write_table(table.slice(0, rows), row_group_size=max(rows, 1))
        rest = table.slice(rows)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows

    def _file(self) -> pq.ParquetWriter:
        if self._writer is None:
            layout = self._layout
            self._writer = pq.ParquetWriter(self.tmp, layout.schema, compression=self._compression,
                                            write_statistics=False,
                                            data_page_size=PAGE_BYTES,
                                            max_rows_per_page=PAGE_ROWS,
                                            use_dictionary=layout.dictionary_columns,
                                            column_encoding=layout.column_encoding,
                                            use_compliant_nested_type=True)
        return self._writer

    def _finish(self) -> None:
        if self._error is not None:
            raise self._error
        if self._buffered:
            self._flush(self._buffered)
        self._file().close()  # a segment without results still gets its (empty) file
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)


@dataclass
class Segment:
    """What a segment produced, for its commit: counts and dead letters, not results."""

    index: int
    part: PartWriter
    results: int = 0
    letters: list[dict[str, Any]] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    closed: Future[None] | None = None

    def add(self, work: ChunkOutput) -> None:
        """The next chunk of the segment, in input order."""
        self.part.add(work.results)
        self.results += work.results.num_rows
        self.letters += work.dead_letters
        for action, count in work.decisions.items():
            self.decisions[action] += count
