"""JSON text read and written in Java: JSON records in, Kafka's result messages out.

:class:`JsonRecordsReader` reads the common records of a batch of JSON texts straight
into the schema's columns (``pyengine.runtime.JsonRecords``) in about 0.4 µs a record,
where Arrow's JSON reader and the conversion after it took about 2; any text it is not
sure to read as Python would is left to
:func:`pyengine.batch.jsonlines.columns_from_json`'s other paths.

:class:`JsonRowsWriter` writes Arrow tables one JSON object a row
(``pyengine.runtime.JsonRows``), each value as ``json_safe`` gives it to
``json.dumps``: decimals as ``str(Decimal)`` writes them, timestamps as
``datetime.isoformat()`` does; polars took about 1.2 µs of CPU a row for that.
Both read and write Python's memory in place, through direct buffers.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyengine.errors import JvmError
from pyengine.jvm.rules import java_failure, unowned_buffer
from pyengine.jvm.runtime import JarLoader
from pyengine.spec.program import Schema

if TYPE_CHECKING:
    from pyengine.batch.convert import Columns

class JsonRowsWriter:
    """Writes Arrow tables as JSON lines with the runtime classes of one rules jar."""

    def __init__(self, loader: JarLoader):
        import jpype

        self._writer = loader.cls("pyengine.runtime.JsonRows")
        self._names = jpype.JArray(jpype.JString)
        self._columns = jpype.JArray(jpype.JObject)

    def lines(self, table: pa.Table) -> list[bytes]:
        """The JSON text of each row of ``table``, in order, as UTF-8 bytes."""
        import jpype

        lines: list[bytes] = []
        for batch in table.to_batches():
            if batch.num_rows == 0:
                continue
            columns = [self._column(array) for array in batch.columns]
            try:
                writer = self._writer(self._names(batch.schema.names), self._columns(columns))
                size = writer.write(batch.num_rows)
                out = np.empty(size, np.uint8)
                writer.copyTo(_over(out, True))
            except jpype.JException as exc:
                raise JvmError(java_failure(exc, "writing results as JSON")) from exc
            # Split at newlines only: JSON escapes them in strings, and a string may
            # hold U+2028, at which bytes.splitlines() would also split.
            lines += out.tobytes().split(b"\n")
        return lines

    def _column(self, array: pa.Array) -> Any:
        """A Java Column reading ``array`` where it is; the table keeps it alive."""
        t, w = array.type, self._writer
        buffers = array.buffers()
        validity, offset = _bytes(buffers[0]), array.offset
        if pa.types.is_dictionary(t):
            return w.dictionary(validity, _bytes(buffers[1]), offset,
                                self._column(array.dictionary), len(array.dictionary))
        if pa.types.is_list(t):
            return w.list(validity, _bytes(buffers[1]), offset, self._column(array.values))
        if pa.types.is_string(t):
            return w.strings(validity, _bytes(buffers[1]), _bytes(buffers[2]), offset)
        if pa.types.is_decimal128(t):
            return w.decimal(validity, _bytes(buffers[1]), offset, t.scale)
        if pa.types.is_timestamp(t) and t.unit == "us" and t.tz in ("UTC", "+00:00"):
            return w.timestamp(validity, _bytes(buffers[1]), offset)
        readers = {pa.int64(): w.int64, pa.int32(): w.int32, pa.float64(): w.float64,
                   pa.bool_(): w.bool}
        if t in readers:
            return readers[t](validity, _bytes(buffers[1]), offset)
        raise JvmError(f"no JSON writer for Arrow type {t}")


def _bytes(buffer: pa.Buffer | None) -> Any:
    """A read-only Java direct buffer over ``buffer`` (None for no buffer)."""
    if buffer is None:
        return None
    return unowned_buffer(buffer.address, buffer.size, False)


# JsonRecords' kind constants.
_KINDS = {"string": 0, "int": 1, "float": 2, "bool": 3, "decimal": 4, "timestamp": 5}


class JsonRecordsReader:
    """Reads JSON records of one schema in Java; one Java reader per thread."""

    def __init__(self, loader: JarLoader, schema: Schema):
        import jpype

        self._fields = [(name, f.type.kind) for name, f in schema.fields.items()]
        # Strings and floats come back as texts, in text columns numbered in field order.
        texts = [name for name, kind in self._fields if kind in ("string", "float")]
        self._slots = {name: slot for slot, name in enumerate(texts)}
        self._class = loader.cls("pyengine.runtime.JsonRecords")
        self._arguments = (
            jpype.JArray(jpype.JString)([name for name, _ in self._fields]),
            jpype.JArray(jpype.JInt)([_KINDS[kind] for _, kind in self._fields]),
            jpype.JArray(jpype.JInt)([f.type.scale if f.type.kind == "decimal" else 0
                                      for f in schema.fields.values()]),
            jpype.JArray(jpype.JBoolean)([f.optional for f in schema.fields.values()]))
        self._local = threading.local()

    @classmethod
    def of(cls, loader: JarLoader, schema: Schema) -> JsonRecordsReader | None:
        """A reader for ``schema``, or None when it has fields it does not read (lists),
        more than 64 fields, or a name JSON would write with escapes."""
        fields = schema.fields.values()
        if len(fields) > 64 or any(f.type.kind not in _KINDS for f in fields):
            return None
        if any(_ESCAPED.search(name) for name in schema.fields):
            return None
        return cls(loader, schema)

    def read(self, joined: bytes, starts: np.ndarray) -> tuple[Columns, np.ndarray]:
        """(the columns of the texts ``joined`` by newlines from ``starts``, as
        :func:`pyengine.batch.jsonlines._Candidates` holds them; which texts were left
        to Python (bool), whose rows are not ok)."""
        import jpype

        from pyengine.batch.convert import Column, Columns

        n = len(starts) - 1
        values = np.empty((len(self._fields), n), np.int64)
        present = np.empty((len(self._fields), n), np.uint8)
        offsets = np.empty((len(self._slots), n + 1), np.int32)
        doubtful = np.empty(n, np.uint8)
        reader = self._reader()
        starts = np.ascontiguousarray(starts, np.int64)
        try:
            reader.read(_over(np.frombuffer(joined, np.uint8), False), _over(starts, False), n,
                        _over(values, True), _over(present, True), _over(offsets, True),
                        _over(doubtful, True))
            data = [_texts(reader, slot) for slot in range(len(self._slots))]
        except jpype.JException as exc:
            raise JvmError(java_failure(exc, "reading JSON records")) from exc
        left = doubtful.view(bool)
        columns: dict[str, Column] = {}
        for f, (name, kind) in enumerate(self._fields):
            got = present[f].view(bool)
            if name in self._slots:
                slot = self._slots[name]
                strings = pa.StringArray.from_buffers(n, pa.py_buffer(offsets[slot]),
                                                      pa.py_buffer(data[slot]))
                if kind == "string":
                    columns[name] = Column(np.arange(n, dtype=np.int32), got, strings,
                                           plain=True)
                    continue
                floats = _floats(strings)
                left |= got & ~np.isfinite(floats)  # json.loads gives inf: Python says no
                columns[name] = Column(floats, got)
            else:
                columns[name] = Column(values[f].astype(np.uint8) if kind == "bool"
                                       else values[f], got)
        return Columns(n, columns, ~left, {}), left

    def _reader(self) -> Any:
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = self._class(*self._arguments)
        return reader


_ESCAPED = re.compile(r'["\\\x00-\x1f]')  # characters a JSON key holds escaped


def _texts(reader: Any, slot: int) -> np.ndarray:
    """Text column ``slot`` of the last read, copied out of Java."""
    size = reader.textBytes(slot)
    data = np.empty(max(size, 1), np.uint8)
    reader.copyTexts(slot, _over(data, True))
    return data[:size]


def _floats(texts: pa.StringArray) -> np.ndarray:
    """The doubles of JSON number texts (empty for a float that is not there: 0.0),
    correctly rounded as Python's ``float`` reads them."""
    parsed = pc.cast(pc.if_else(pc.equal(pc.binary_length(texts), 0), "0", texts), pa.float64())
    floats: np.ndarray = parsed.to_numpy(zero_copy_only=False)
    return floats


def _over(array: np.ndarray, writable: bool) -> Any:
    """A Java direct buffer over ``array``'s memory (which the caller keeps alive)."""
    return unowned_buffer(array.ctypes.data, array.nbytes, writable)
