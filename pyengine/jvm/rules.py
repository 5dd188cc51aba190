"""Compiled rules in the JVM: the single-transaction and columnar entry points.

:class:`CompiledRules` wraps a built ``rules.jar``. ``evaluate`` packs one
transaction into a buffer Java reads (:mod:`pyengine.jvm.single`);
``evaluate_columns`` binds a chunk's numpy columns to a Java ``Chunk`` where they
are, in one call over a few buffers (:func:`pack_bindings`), and makes one Java call
to evaluate the whole chunk. Both give
the same :class:`~pyengine.reference.evaluator.Outcome` as the reference evaluator
(``evaluate_records`` for a chunk), so the three can be compared directly.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pyengine.codegen.expr import jtype
from pyengine.codegen.layout import REFUSED_TEXT
from pyengine.errors import JvmError, RecordError, record_error
from pyengine.jvm.runtime import JarLoader
from pyengine.jvm.single import SingleEvaluator
from pyengine.lang.types import Type
from pyengine.records import read_values
from pyengine.reference import ops
from pyengine.reference.evaluator import ErrorInfo, Outcome
from pyengine.spec.program import ACTIONS, Program

if TYPE_CHECKING:
    from pyengine.batch.convert import Columns
    from pyengine.jvm.jsontext import JsonRecordsReader

# Chunk methods whose buffers Java writes (results); it only reads the others.
RESULT_BINDINGS = ("bindResults", "bindOutput", "bindPositions")
# The numpy dtype of each Java kind as it crosses the bridge (strings as dictionary codes).
NUMPY_DTYPES = {"long": np.int64, "double": np.float64, "boolean": np.uint8, "String": np.int32}


def _words(t: Type) -> int:
    """int64 words a value (a list: each item) of output type ``t`` takes in a chunk's
    results: a decimal is Arrow's decimal128, its unscaled value and its sign."""
    return 2 if t.item.kind == "decimal" else 1


def java_kind(t: Type) -> str:
    """How a value (a list: each item) of ``t`` crosses to Java: long, double, boolean, String."""
    return jtype(t.item)


@dataclass
class ChunkResult:
    """What Java wrote for a chunk, in numpy arrays.

    Results are compacted: only evaluated input rows get a result row, in input
    order. ``result_row[i]`` is the number of result rows before input row ``i``.
    Lists (fired ids, list outputs) are laid out as Arrow lists: ``offsets``
    (results + 1) into ``values``.
    """

    # by input row
    result_row: np.ndarray  # int32, rows + 1
    ruleset: np.ndarray  # int32 index into Rules.RULESETS, -1 unknown client
    error: np.ndarray  # int32 error code, 0 when evaluated
    where: np.ndarray  # int32 fired-bit index of the failing table or rule, or -1
    # by result row
    decision: np.ndarray  # int32: 0..3 (Arrow's dictionary codes into ACTIONS)
    position: np.ndarray  # int64: the chunk's first position + the input row
    fired_offsets: np.ndarray  # int32, results + 1
    fired_codes: np.ndarray  # int32 indexes into Program.fired_ids
    # values, Arrow validity bitmap, offsets (lists); a decimal value is two int64 words
    outputs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    kinds: dict[str, tuple[str, bool, int]]  # java kind, is a list, words a value
    detail: dict[int, str | None] = dc_field(default_factory=dict)  # failed input rows
    dictionaries: dict[str, list[str]] = dc_field(default_factory=dict)

    @classmethod
    def allocate(cls, n: int, max_fired: int, outputs: list[tuple[str, Type]],
                 capacity: dict[str, int]) -> ChunkResult:
        """New result arrays for ``n`` input rows.

        Java writes every element Python reads (the columns by input row only for rows
        that were not skipped), so only the first offset of each list starts at 0:
        zeroing megabytes per chunk would cost more than the evaluation of many rows.
        The outputs' validity bitmaps (a bit a row) are zeroed all the same, so that
        the bits past the last result row do not vary from run to run.
        """
        def empty(size: int, dtype: Any) -> np.ndarray:
            return np.empty(max(size, 1), dtype)  # a direct buffer needs at least one byte

        def offsets(size: int) -> np.ndarray:
            arr = empty(size + 1, np.int32)
            arr[0] = 0
            return arr

        kinds = {name: (java_kind(t), t.kind == "list", _words(t)) for name, t in outputs}
        out = {name: (empty(n * capacity[name] * kinds[name][2], NUMPY_DTYPES[kinds[name][0]]),
                      np.zeros(max((n + 7) // 8, 1), np.uint8),
                      offsets(n if t.kind == "list" else 0))
               for name, t in outputs}
        return cls(offsets(n), empty(n, np.int32), empty(n, np.int32), empty(n, np.int32),
                   empty(n, np.int32), empty(n, np.int64), offsets(n),
                   empty(n * max_fired, np.int32), out, kinds)

    def compact(self) -> None:
        """Keep only the list items Java wrote: their arrays have room for every row's
        maximum, many times what rows use, and results may be kept for long.

        The arrays shrink where they are (realloc), which copies nothing: copying them
        was a tenth of a chunk's Python time at 2 workers. Only Java's buffers, which
        are no longer used (:meth:`CompiledRules.collect`), and ``BoundChunk.keep``,
        which holds these same arrays, point at them: there is no view of them to
        leave pointing at freed memory, which numpy's check (``refcheck``) is for.
        """
        m = self.count
        _shrink(self.fired_codes, int(self.fired_offsets[m]))
        for name, (values, _, offsets) in self.outputs.items():
            _, is_list, words = self.kinds[name]
            if is_list:
                _shrink(values, int(offsets[m]) * words)

    @property
    def count(self) -> int:
        """The number of result rows."""
        return int(self.result_row[-1])

    @property
    def evaluated(self) -> np.ndarray:
        """Bool by input row: it has a result row."""
        return np.diff(self.result_row) > 0

    def value(self, name: str, i: int) -> Any:
        """Output ``name`` of input row ``i`` (evaluated) as a Python value (None when null)."""
        values, valid, offsets = self.outputs[name]
        row = int(self.result_row[i])
        if not (valid[row >> 3] >> (row & 7)) & 1:
            return None
        kind, is_list, words = self.kinds[name]
        if not is_list:
            return self._item(name, values[row * words], kind)
        items = values[offsets[row] * words:offsets[row + 1] * words:words]
        return [self._item(name, v, kind) for v in items]

    def _item(self, name: str, value: Any, kind: str) -> Any:
        if kind == "String":
            return self.dictionaries[name][int(value)]
        return _numpy_value(value, kind)


def _int32(bits: int) -> int:
    """32 bits as the Java int they make."""
    return bits - (1 << 32) if bits >= 1 << 31 else bits


def _shrink(array: np.ndarray, size: int) -> None:
    """Cut ``array`` (which owns its memory, and has no views) to its first ``size``
    elements in place."""
    array.resize(size, refcheck=False)


@dataclass
class BoundChunk:
    """A Java Chunk bound to numpy memory, which ``keep`` holds: Java's buffers do not
    (see :func:`unowned_buffer`), so the chunk is not to be used once this is gone."""

    chunk: Any
    rows: int
    result: ChunkResult
    keep: list[np.ndarray]


# The Chunk methods bindAll calls, by number (Chunk.bindAll).
BIND_CALLS = ("bindInput", "bindMask", "bindResults", "bindOutput", "bindPositions")
_WINDOW_MAX = 2**31 - 1  # a ByteBuffer's capacity is an int
_INPUT_BYTES = 16  # the widest input value, a decimal as Arrow's decimal128


def pack_bindings(bindings: list[tuple[str, list[Any]]]) -> tuple[Any, Any, list[np.ndarray]]:
    """The Chunk calls ``bindings`` as the arguments of one ``Chunk.bindAll``: direct
    buffers over the few stretches of memory the arrays lie in ("windows": a chunk's
    47 arrays lie in about three), the int[] spec of the calls, and the arrays to keep
    alive for as long as Java uses them.

    A buffer for each array and a call for each binding took 0.3 ms a chunk. A window
    spans the gaps between its arrays, where Java never reads; the windows of result
    arrays (``RESULT_BINDINGS``) are the only ones Java can write.
    """
    import pyarrow as pa

    spec: list[int] = []
    keep: list[np.ndarray] = []
    places: list[tuple[bool, int, int, int]] = []  # writable, address, size, at in spec
    for method, args in bindings:
        spec.append(BIND_CALLS.index(method))
        for arg in args:
            if isinstance(arg, np.ndarray):
                arr = arg if arg.nbytes else _NOTHING  # no rows: Java reads nothing
                keep.append(arr)
                # An Arrow buffer's address: five times as fast as arr.ctypes.data
                # (a tenth of a chunk's binding), and it refuses memory with gaps.
                places.append((method in RESULT_BINDINGS, pa.py_buffer(arr).address,
                               arr.nbytes, len(spec)))
                spec += (0, 0, arr.nbytes)
            elif arg is None:
                spec += (-1, 0, 0)
            else:
                spec.append(int(arg))
    spans: list[list[Any]] = []  # [start, end, writable] of each window
    for writable, address, size, at in sorted(places):
        if not spans or writable != spans[-1][2] or address + size - spans[-1][0] > _WINDOW_MAX:
            spans.append([address, address, writable])
        span = spans[-1]
        span[1] = max(span[1], address + size)
        spec[at], spec[at + 1] = len(spans) - 1, address - span[0]
    windows = [unowned_buffer(start, end - start, writable) for start, end, writable in spans]
    buffers, ints = _java_arrays()
    return buffers(windows), ints(spec), keep


@functools.cache
def _java_arrays() -> tuple[Any, Any]:
    """JPype's types ByteBuffer[] and int[] (a lookup costs more than a bind)."""
    import jpype

    return jpype.JArray(jpype.JClass("java.nio.ByteBuffer")), jpype.JArray(jpype.JInt)


def unowned_buffer(address: int, size: int, writable: bool) -> Any:
    """A Java direct buffer over the memory [address, address + size) that does not
    keep it alive; the caller does, for as long as Java uses the buffer.

    ``jpype.nio.convertToDirectBuffer(arr)`` holds ``arr`` until Java collects the
    buffer, and JPype asks Java for a full collection whenever Python's heap has grown:
    binding each chunk's arrays that way made memory grow with the input, each growth
    paid with page faults and a pause of every worker. This buffer is over a memoryview
    without an owner (``PyMemoryView_FromMemory``), which is all JPype holds on to.
    Java cannot write a buffer that is not ``writable``. No bytes (``size`` 0) give a
    read-only buffer of one byte: a direct buffer needs one, and Java uses none.
    """
    import jpype.nio

    if size == 0:
        address, size, writable = _NOTHING.ctypes.data, 1, False
    view = _memory_view(address, size, _PYBUF_WRITE if writable else _PYBUF_READ)
    return jpype.nio.convertToDirectBuffer(view)


_PYBUF_READ, _PYBUF_WRITE = 0x100, 0x200
_memory_view = ctypes.pythonapi.PyMemoryView_FromMemory
_memory_view.restype = ctypes.py_object
_memory_view.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int)
_NOTHING = np.zeros(1, np.uint8)  # bound in place of no bytes: a direct buffer needs one


class PerThread(threading.local):
    """A thread's Java Evaluator and SingleEvaluator, each made on its first use there.

    ``__getattr__`` runs only for an attribute not set yet, so later uses are plain
    attribute reads, about a tenth of a microsecond cheaper than a method calling
    ``getattr`` with a default (``Engine.evaluate`` takes about 3 µs).
    """

    evaluator: Any  # annotations only: a class attribute would hide __getattr__
    single: SingleEvaluator

    def __init__(self, rules: CompiledRules):
        self.rules = rules

    def __getattr__(self, name: str) -> Any:
        rules = self.rules
        if name == "evaluator":
            value = rules.rules_class.newEvaluator()
        elif name == "single":
            value = SingleEvaluator(rules.program, self.evaluator, rules.set_names,
                                    rules.uncommon_public)
        else:
            raise AttributeError(name)
        setattr(self, name, value)
        return value


class CompiledRules:
    """A rules jar loaded in the JVM, with its resolved program."""

    def __init__(self, program: Program, jar: Path):
        self.program = program
        self.loader = JarLoader(jar)
        self.rules_class = self.loader.cls("pyengine.generated.Rules")
        self.chunk_class = self.loader.cls("pyengine.generated.Chunk")
        version = str(self.rules_class.VERSION)
        if version != program.version:
            raise JvmError(f"{jar} was built from other rules (version {version[:12]}, "
                           f"expected {program.version[:12]}); rebuild it")
        self.ids = [[str(i) for i in ids] for ids in self.rules_class.IDS]
        self.set_names = [str(n) for n in self.rules_class.RULESETS]
        self.fields = list(program.schema.fields.values())
        self.outputs = list(program.outputs.items())
        self.capacity = {name: program.list_capacity(name) for name in program.outputs}
        self.threads = PerThread(self)  # this thread's evaluators, made on first use

    @functools.cached_property
    def max_chunk_rows(self) -> int:
        """The most rows one Java call takes. Each array of a chunk reaches Java in a
        direct buffer, whose size is an int (2 GiB), and the result arrays have room for
        every row's longest lists: a rule set of many rules, or a ``collect`` table of many
        rows, needs many bytes a row (1,500 rows of decimals: 24 KB, 89,478 rows a call)."""
        widest = max([_INPUT_BYTES, 4 * self.program.max_fired] + [
            self.capacity[name] * _words(t) * np.dtype(NUMPY_DTYPES[java_kind(t)]).itemsize
            for name, t in self.outputs])
        return max(1, _WINDOW_MAX // widest)

    @functools.cached_property
    def json_reader(self) -> JsonRecordsReader | None:
        """Java's reader of this schema's JSON records (None if it cannot read them)."""
        from pyengine.jvm.jsontext import JsonRecordsReader

        return JsonRecordsReader.of(self.loader, self.program.schema)

    def evaluator(self) -> Any:
        """This thread's Java Evaluator (evaluators are not thread-safe)."""
        return self.threads.evaluator

    # -- one transaction -------------------------------------------------
    def evaluate(self, raw: Any) -> Outcome:
        """Evaluate one JSON-like transaction with the compiled rules, in one Java call."""
        call = self._call(raw)
        if isinstance(call, Outcome):
            return call
        single, result = call
        _, set_index, _, decision = result[:4]
        fired_ids = self.program.fired_ids
        fired = [fired_ids[c] for c in single.fired_codes(result)]
        return self._outcome(0, set_index, -1, None, decision, fired, single.outputs(result))

    def evaluate_public(self, raw: Any) -> dict[str, Any]:
        """``Engine.evaluate``: ``{decision, fired, ruleset, outputs}`` with outputs as users
        see them; raises the RecordError subclass of a transaction a batch would send to
        the dead-letter queue."""
        return self.threads.single.evaluate(raw)

    def uncommon_public(self, raw: Any, result: tuple[Any, ...] | None) -> dict[str, Any]:
        """``evaluate_public`` for a record with a value in no common form, or that Java
        did not evaluate (``result``)."""
        single = self.single()
        call = self._finish(single, raw, result)
        if isinstance(call, Outcome):
            assert call.error is not None
            raise record_error(call.error.kind, call.error.message, call.error.rule)
        return single.public(call[1])

    def _call(self, raw: Any) -> tuple[SingleEvaluator, tuple[Any, ...]] | Outcome:
        """This thread's evaluator and the result Java wrote for ``raw``; the Outcome of a
        transaction that failed conversion or evaluation."""
        single = self.single()
        return self._finish(single, raw, single.run(raw))

    def _finish(self, single: SingleEvaluator, raw: Any, result: tuple[Any, ...] | None
                ) -> tuple[SingleEvaluator, tuple[Any, ...]] | Outcome:
        """``_call`` once ``single.run(raw)`` gave ``result``."""
        if result is None or result[0] == REFUSED_TEXT:
            # A value in no common form: read by the full rules, which name any problem.
            try:
                values = read_values(self.program.schema, raw)
            except RecordError as exc:
                return Outcome(error=ErrorInfo(exc.kind, exc.kind, None, exc.message))
            result = single.run_values(values)
        error, set_index, where, decision = result[:4]
        if error:
            detail = single.evaluator.result.errorDetail
            return self._outcome(error, set_index, where, detail, decision, [], {})
        return single, result

    def single(self) -> SingleEvaluator:
        """This thread's single-transaction evaluator."""
        return self.threads.single

    # -- a batch ---------------------------------------------------------
    def evaluate_records(self, raws: list[Any]) -> list[Outcome]:
        """Evaluate many JSON-like transactions with one columnar Java call."""
        from pyengine.batch.convert import columns_from_records

        columns = columns_from_records(self.program.schema, raws)
        chunk = self.evaluate_columns(columns)
        outcomes = []
        for i in range(columns.n):
            if not columns.ok[i]:
                message = columns.errors[i]
                outcomes.append(Outcome(error=ErrorInfo("schema", "schema", None, message)))
            else:
                error = int(chunk.error[i])
                # A failed row has no result row: its decision, fired ids and outputs
                # are not there to read.
                ok = error == 0
                outputs = {o: chunk.value(o, i) for o in self.program.outputs} if ok else {}
                outcomes.append(self._outcome(
                    error, int(chunk.ruleset[i]), int(chunk.where[i]), chunk.detail.get(i),
                    int(chunk.decision[chunk.result_row[i]]) if ok else -1,
                    self._fired(chunk, i) if ok else [], outputs))
        return outcomes

    def _fired(self, chunk: ChunkResult, i: int) -> list[str]:
        """The ids input row ``i`` (evaluated) fired, in evaluation order."""
        row = chunk.result_row[i]
        codes = chunk.fired_codes[chunk.fired_offsets[row]:chunk.fired_offsets[row + 1]]
        return [self.program.fired_ids[c] for c in codes.tolist()]

    def evaluate_columns(self, columns: Columns, from_: int = 0,
                         to: int | None = None) -> ChunkResult:
        """Evaluate rows [from_, to) of converted columns in one Java call.

        Java reads the columns where they are and writes its results into new arrays,
        which the result keeps (trimmed by :meth:`ChunkResult.compact`).
        """
        bound = self.bind_columns(columns, from_, columns.n if to is None else to)
        self.run_bound(bound)
        return self.collect(bound)

    def run_bound(self, bound: BoundChunk) -> None:
        """Evaluate a bound chunk in this thread's Java evaluator (JPype releases the GIL
        for the call); a Java exception is a JvmError."""
        import jpype

        if bound.chunk is None:  # its result arrays have shrunk (collect)
            raise ValueError("a chunk is evaluated once: this one has been collected")
        try:
            self.evaluator().evaluateChunk(bound.chunk, 0, bound.rows)
        except jpype.JException as exc:
            raise JvmError(java_failure(exc)) from exc

    def collect(self, bound: BoundChunk) -> ChunkResult:
        """What Java wrote for an evaluated chunk: its result arrays, trimmed, with the
        failed rows' details and the string outputs' dictionaries. The chunk cannot be
        evaluated again: Java's buffers reach past the trimmed arrays' ends."""
        result = bound.result
        chunk, bound.chunk = bound.chunk, None
        result.compact()
        # no row failed when every row has a result: no need to ask Java
        result.detail = error_details(chunk) if result.count < bound.rows else {}
        for index, (name, _) in enumerate(self.outputs):
            if result.kinds[name][0] == "String":  # other outputs have no dictionary
                result.dictionaries[name] = [str(x) for x in chunk.outputDictionary(index)]
        return result

    def bind_columns(self, columns: Columns, from_: int, to: int,
                     first_position: int = 0) -> BoundChunk:
        """A Java Chunk over rows [from_, to) and new result arrays, ready to evaluate
        (row ``from_`` is at ``first_position``); the returned BoundChunk keeps the
        memory Java uses alive."""
        bindings, result = self.chunk_bindings(columns, from_, to, first_position)
        windows, spec, keep = pack_bindings(bindings)
        chunk = self.chunk_class()
        chunk.bindAll(windows, spec)
        return BoundChunk(chunk, to - from_, result, keep)

    def chunk_bindings(self, columns: Columns, from_: int, to: int, first_position: int = 0
                       ) -> tuple[list[tuple[str, list[Any]]], ChunkResult]:
        """The Chunk calls that bind rows [from_, to), row ``from_`` being at
        ``first_position``: (method, arguments) with numpy arrays where Java takes a
        direct buffer; and the result arrays.
        Fields no rule reads are not bound: Java never reads them, and each direct
        buffer costs a JPype call. ``bench jmh`` writes the same calls to files for the
        pure-Java benchmark."""
        bindings: list[tuple[str, list[Any]]] = []
        for index, f in enumerate(self.fields):
            col = columns.columns[f.name]
            # an unchecked decimal is bound all the same: Java checks its range
            if f.name not in self.program.read_fields and not col.unchecked:
                continue
            # numpy bools are bytes of 0 or 1: Java reads them in place
            valid = np.ascontiguousarray(col.present[from_:to]).view(np.uint8) \
                if f.optional else None
            offsets = data = None
            if java_kind(f.type) == "String":
                # Arrow's UTF-8 bytes and offsets: Java decodes the values it reads.
                offsets, data = _utf8_buffers(col.dictionary)
                size = 0 if col.plain else len(col.dictionary)  # 0: codes are all distinct
            else:
                size = col.words  # int64 words a value
            values = np.ascontiguousarray(col.values[col.words * from_:col.words * to])
            bindings.append(("bindInput", [index, values, valid, offsets, data, size]))
        ok = columns.ok[from_:to]
        # no mask (null in Java) when every row is ok: Java then checks none of them
        mask = None if ok.all() else np.ascontiguousarray(ok).view(np.uint8)
        bindings.append(("bindMask", [mask]))
        result = ChunkResult.allocate(to - from_, self.program.max_fired, self.outputs,
                                      self.capacity)
        bindings.append(("bindResults", [result.result_row, result.ruleset, result.error,
                                         result.where, result.decision, result.fired_offsets,
                                         result.fired_codes]))
        # a long as two ints (bindAll's spec is an int[]): high, then low 32 bits
        bindings.append(("bindPositions", [result.position, first_position >> 32,
                                           _int32(first_position & 0xFFFFFFFF)]))
        for index, (name, t) in enumerate(self.outputs):
            values, valid, offsets = result.outputs[name]
            # only a list has offsets: Java ignores the argument for other outputs
            bindings.append(("bindOutput", [index, values, valid,
                                            offsets if t.kind == "list" else None]))
        return bindings, result

    # -- decoding --------------------------------------------------------
    def _outcome(self, error: int, set_index: int, where: int, detail: Any, decision: int,
                 fired: list[str], outputs: dict[str, Any]) -> Outcome:
        if error == ops.UNKNOWN_CLIENT:
            return Outcome(error=ErrorInfo("unknown_client", "unknown_client", None,
                                           f"no rule set serves client_id '{detail}'"))
        name = self.set_names[set_index]
        ids = self.ids[set_index]
        if error:
            text = "" if detail is None else str(detail)
            return Outcome(ruleset=name, error=ErrorInfo(
                "evaluation", ops.CODE_NAMES.get(error, "internal"),
                ids[where] if where >= 0 else None, ops.message(error, text)))
        return Outcome(ruleset=name, decision=ACTIONS[decision], fired=fired, outputs=outputs)


def error_details(chunk: Any) -> dict[int, str | None]:
    """The error details Java kept for an evaluated Chunk's failed rows, by input row."""
    rows = chunk.errorRows()
    if not len(rows):
        return {}
    details = (None if d is None else str(d) for d in chunk.errorDetails())
    return dict(zip(np.asarray(rows).tolist(), details, strict=True))


def java_failure(exc: Any, what: str = "the compiled rules") -> str:
    """What to tell a user whose chunk threw in Java, in ``what`` (not a rule's own
    error: those are dead letters)."""
    if str(exc.getClass().getName()) == "java.lang.OutOfMemoryError":
        return (f"Java ran out of memory ({exc}); give the JVM more heap with "
                "PYENGINE_JVM_OPTIONS=-Xmx<size> or use a smaller --chunk-size")
    return f"{what} failed: {exc}"


def _utf8_buffers(strings: Any) -> tuple[np.ndarray, np.ndarray]:
    """int32 offsets (n + 1) and UTF-8 bytes of an Arrow string array: views of Arrow's
    own memory, which Java reads in place (a slice's offsets index its parent's bytes)."""
    import pyarrow as pa

    # (a cast to the array's own type is still a compute call: 10-200 µs a chunk)
    arr = strings if strings.type == pa.string() else strings.cast(pa.string())
    n = len(arr)
    _, offsets_buffer, data_buffer = arr.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=arr.offset + n + 1)
    offsets = offsets[arr.offset:]
    if data_buffer is None or data_buffer.size == 0:
        return offsets, _NOTHING  # a direct buffer needs at least one byte
    return offsets, np.frombuffer(data_buffer, dtype=np.uint8)


def _numpy_value(value: Any, kind: str) -> Any:
    if kind == "long":
        return int(value)
    if kind == "double":
        return float(value)
    return bool(value)
