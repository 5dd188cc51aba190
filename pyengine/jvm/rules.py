"""Compiled rules in the JVM: the single-transaction and columnar entry points.

:class:`CompiledRules` wraps a built ``rules.jar``. ``evaluate`` packs one
transaction into a buffer Java reads (:mod:`pyengine.jvm.single`);
``evaluate_columns`` copies a chunk's numpy columns into buffers bound to a Java
``Chunk`` once per thread (:class:`Arena`) and makes one Java call for the whole
chunk. Both give the same :class:`~pyengine.reference.evaluator.Outcome` as the
reference evaluator (``evaluate_records`` for a chunk), so the three can be
compared directly.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pyengine.codegen.expr import jtype
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

# The numpy dtype of each Java kind as it crosses the bridge (strings as dictionary codes).
NUMPY_DTYPES = {"long": np.int64, "double": np.float64, "boolean": np.uint8, "String": np.int32}


def java_kind(t: Type) -> str:
    """How a value (a list: each item) of ``t`` crosses to Java: long, double, boolean, String."""
    return jtype(t.elem if t.kind == "list" and t.elem is not None else t)


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
    decision: np.ndarray  # int8: 0..3
    fired_offsets: np.ndarray  # int32, results + 1
    fired_codes: np.ndarray  # int32 indexes into Program.fired_ids
    outputs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # values, valid, offsets
    kinds: dict[str, tuple[str, bool]]  # java kind, is a list
    detail: Any = None  # Java String[]: error details, by input row
    dictionaries: dict[str, list[str]] = dc_field(default_factory=dict)

    @classmethod
    def allocate(cls, n: int, max_fired: int, outputs: list[tuple[str, Type]],
                 capacity: dict[str, int], arena: Arena | None = None) -> ChunkResult:
        """Result arrays for ``n`` input rows: new ones, or ``arena``'s.

        Java writes every element Python reads (the columns by input row only for rows
        that were not skipped), so only the first offset of each list starts at 0:
        zeroing megabytes per chunk would cost more than the evaluation of many rows.
        """
        def empty(key: str, size: int, dtype: Any) -> np.ndarray:
            if arena is not None:
                return arena.empty(("result", key), size, dtype)
            return np.empty(max(size, 1), dtype)  # a direct buffer needs at least one byte

        def offsets(key: str, size: int) -> np.ndarray:
            arr = empty(key, size + 1, np.int32)
            arr[0] = 0
            return arr

        out = {name: (empty(f"{name}.values", n * capacity[name], NUMPY_DTYPES[java_kind(t)]),
                      empty(f"{name}.valid", n, np.uint8),
                      offsets(f"{name}.offsets", n if t.kind == "list" else 0))
               for name, t in outputs}
        kinds = {name: (java_kind(t), t.kind == "list") for name, t in outputs}
        return cls(offsets("result_row", n), empty("ruleset", n, np.int32),
                   empty("error", n, np.int32), empty("where", n, np.int32),
                   empty("decision", n, np.int8), offsets("fired_offsets", n),
                   empty("fired_codes", n * max_fired, np.int32), out, kinds)

    def detached(self) -> ChunkResult:
        """A copy of what Java wrote, in memory of its own (when this result is an arena's,
        whose memory the next chunk overwrites)."""
        n, m = len(self.result_row) - 1, self.count
        outputs = {}
        for name, (values, valid, offsets) in self.outputs.items():
            if self.kinds[name][1]:
                offsets = offsets[:m + 1].copy()
                outputs[name] = (values[:offsets[-1]].copy(), valid[:m].copy(), offsets)
            else:
                outputs[name] = (values[:m].copy(), valid[:m].copy(), offsets[:1].copy())
        fired_offsets = self.fired_offsets[:m + 1].copy()
        return ChunkResult(
            self.result_row.copy(), self.ruleset[:n].copy(), self.error[:n].copy(),
            self.where[:n].copy(), self.decision[:m].copy(), fired_offsets,
            self.fired_codes[:fired_offsets[-1]].copy(), outputs, self.kinds, self.detail,
            self.dictionaries)

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
        row = self.result_row[i]
        if not valid[row]:
            return None
        kind, is_list = self.kinds[name]
        if not is_list:
            return self._item(name, values[row], kind)
        return [self._item(name, v, kind) for v in values[offsets[row]:offsets[row + 1]]]

    def _item(self, name: str, value: Any, kind: str) -> Any:
        if kind == "String":
            return self.dictionaries[name][int(value)]
        return _numpy_value(value, kind)


@dataclass
class BoundChunk:
    """A Java Chunk bound to numpy memory; ``keep`` holds that memory alive."""

    chunk: Any
    rows: int
    result: ChunkResult
    keep: list[np.ndarray]


class Arena:
    """One thread's memory shared with Java, reused from chunk to chunk.

    A numpy array handed to Java as a direct buffer lives until Java collects the
    buffer, and JPype asks Java for a full collection whenever Python's heap has
    grown. Binding new arrays for every chunk made the heap grow with the input, each
    growth paid with page faults and a pause of every worker in Java. The arena binds
    each of its buffers once: a chunk's columns are copied in, its results out.
    """

    def __init__(self) -> None:
        # (what, which) -> a buffer and its direct buffer; what: input, result, mask,
        # counting or nothing
        self._buffers: dict[tuple[str, str], tuple[np.ndarray, Any]] = {}
        # id of a view handed out -> (the view, kept so that the id stays its own; its
        # direct buffer)
        self._views: dict[int, tuple[np.ndarray, Any]] = {}

    def empty(self, key: tuple[str, str], n: int, dtype: Any) -> np.ndarray:
        """``n`` elements (not initialized) of ``key``'s buffer, grown when too small."""
        return self._view(self._buffer(key, n, dtype, np.empty), n)

    def counting(self, n: int) -> np.ndarray:
        """0, 1, ..., n - 1 as int32: the codes of a string column that is its own
        dictionary, written once rather than copied for every chunk."""
        def count(size: int, dtype: Any) -> np.ndarray:
            return np.arange(size, dtype=dtype)

        return self._view(self._buffer(("counting", ""), n, np.int32, count), n)

    def _buffer(self, key: tuple[str, str], n: int, dtype: Any,
                make: Callable[[int, Any], np.ndarray]) -> tuple[np.ndarray, Any]:
        """``key``'s buffer and its direct buffer, made (``make(size, dtype)``) and bound
        anew when it is missing or holds fewer than ``n`` elements."""
        import jpype.nio

        entry = self._buffers.get(key)
        if entry is None or len(entry[0]) < n or entry[0].dtype != dtype:
            size = max(n, 1, 2 * len(entry[0]) if entry is not None else 0)
            buffer = make(size, dtype)
            entry = self._buffers[key] = (buffer, jpype.nio.convertToDirectBuffer(buffer))
        return entry

    def _view(self, entry: tuple[np.ndarray, Any], n: int) -> np.ndarray:
        view = entry[0][:n]
        self._views[id(view)] = (view, entry[1])
        return view

    def copy(self, key: tuple[str, str], values: np.ndarray) -> np.ndarray:
        """``values`` copied into ``key``'s buffer."""
        out = self.empty(key, len(values), values.dtype)
        np.copyto(out, values)
        return out

    @property
    def nbytes(self) -> int:
        """The size of the arena's buffers."""
        return sum(buffer.nbytes for buffer, _ in self._buffers.values())

    def java(self, view: np.ndarray) -> Any | None:
        """The direct buffer over a view this arena handed out since :meth:`reset`."""
        entry = self._views.get(id(view))
        return entry[1] if entry is not None and entry[0] is view else None

    def reset(self) -> None:
        """Forget the views handed out: a new chunk is being bound."""
        self._views.clear()


class CompiledRules:
    """A rules jar loaded in the JVM, with its resolved program."""

    def __init__(self, program: Program, jar: Path):
        import jpype

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
        self._local = threading.local()
        self._jstring_array = jpype.JArray(jpype.JString)
        # what a failing single-transaction call raises: from Java, or from packing a value
        self._call_errors = (jpype.JException, TypeError, OverflowError, struct.error)

    def evaluator(self) -> Any:
        """This thread's Java Evaluator (evaluators are not thread-safe)."""
        ev = getattr(self._local, "evaluator", None)
        if ev is None:
            ev = self._local.evaluator = self.rules_class.newEvaluator()
        return ev

    # -- one transaction -------------------------------------------------
    def evaluate(self, raw: Any) -> Outcome:
        """Evaluate one JSON-like transaction with the compiled rules, in one Java call."""
        call = self._call(raw)
        if isinstance(call, Outcome):
            return call
        single, result = call
        fired_ids = self.program.fired_ids
        fired = [fired_ids[c] for c in single.fired_codes(result)]
        return self._outcome(0, result[1], -1, None, result[3], fired, single.outputs(result))

    def evaluate_public(self, raw: Any) -> dict[str, Any]:
        """``Engine.evaluate``: ``{decision, fired, ruleset, outputs}`` with outputs as users
        see them; raises the RecordError subclass of a transaction a batch would send to
        the dead-letter queue."""
        call = self._call(raw)
        if isinstance(call, Outcome):
            assert call.error is not None
            raise record_error(call.error.kind, call.error.message, call.error.rule)
        single, result = call
        return single.public(result)

    def _call(self, raw: Any) -> tuple[SingleEvaluator, tuple[Any, ...]] | Outcome:
        """This thread's evaluator and the result Java wrote for ``raw``; the Outcome of a
        transaction that failed conversion or evaluation."""
        try:
            values = read_values(self.program.schema, raw)
        except RecordError as exc:
            return Outcome(error=ErrorInfo(exc.kind, exc.kind, None, exc.message))
        single = self.single()
        try:
            result = single.run(values)
        except self._call_errors as exc:
            raise JvmError(f"the compiled rules failed: {exc}") from exc
        error = result[0]
        if error:
            detail = single.evaluator.result.errorDetail
            return self._outcome(error, result[1], result[2], detail, result[3], [], {})
        return single, result

    def single(self) -> SingleEvaluator:
        """This thread's single-transaction evaluator."""
        single = getattr(self._local, "single", None)
        if single is None:
            single = self._local.single = SingleEvaluator(self.program, self.evaluator(),
                                                            self.set_names)
        return single

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
                    error, int(chunk.ruleset[i]), int(chunk.where[i]), chunk.detail[i],
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

        The rows Java reads are copied into this thread's :class:`Arena`, whose
        buffers stay bound to Java, and the results Java writes there are copied out.
        """
        import jpype

        arena = self.arena()
        bound = self.bind_columns(columns, from_, columns.n if to is None else to, arena)
        try:
            self.evaluator().evaluateChunk(bound.chunk, 0, bound.rows)
        except jpype.JException as exc:
            raise JvmError(java_failure(exc)) from exc
        result = bound.result.detached()
        for index, (name, _) in enumerate(self.outputs):
            result.dictionaries[name] = [str(x) for x in bound.chunk.outputDictionary(index)]
        return result

    def arena(self) -> Arena:
        """This thread's arena."""
        arena = getattr(self._local, "arena", None)
        if arena is None:
            arena = self._local.arena = Arena()
        return arena

    def bind_columns(self, columns: Columns, from_: int, to: int,
                     arena: Arena | None = None) -> BoundChunk:
        """A Java Chunk over rows [from_, to) and result arrays, ready to evaluate: in
        ``arena``'s memory, or in new arrays shared with Java where they are."""
        import jpype.nio

        chunk = self.chunk_class()
        keep: list[np.ndarray] = []  # Java reads this memory: keep it alive with the chunk
        if arena is not None:
            arena.reset()

        def buf(arr: np.ndarray | None) -> Any:
            if arr is None:
                return None
            bound = arena.java(arr) if arena is not None else None
            if bound is not None:
                return bound
            keep.append(arr)
            return jpype.nio.convertToDirectBuffer(arr)

        bindings, result = self.chunk_bindings(columns, from_, to, arena)
        result.detail = self._jstring_array(to - from_)
        for method, args in bindings:
            java_args = [buf(a) if a is None or isinstance(a, np.ndarray) else a for a in args]
            if method == "bindResults":
                java_args.insert(4, result.detail)
            getattr(chunk, method)(*java_args)
        return BoundChunk(chunk, to - from_, result, keep)

    def chunk_bindings(self, columns: Columns, from_: int, to: int, arena: Arena | None = None
                       ) -> tuple[list[tuple[str, list[Any]]], ChunkResult]:
        """The Chunk calls that bind rows [from_, to): (method, arguments) with numpy
        arrays where Java takes a direct buffer (``bindResults`` also takes the
        String[] of error details, after its fourth buffer); and the result arrays.
        With an ``arena``, the arrays are its buffers, and fields no rule reads are
        bound to an empty one. ``bench jmh`` writes the same calls to files for the
        pure-Java benchmark."""
        n = to - from_

        def put(key: tuple[str, str], values: np.ndarray) -> np.ndarray:
            if arena is None:
                return np.ascontiguousarray(values)
            return arena.copy(key, values)

        bindings: list[tuple[str, list[Any]]] = []
        for index, f in enumerate(self.fields):
            kind = java_kind(f.type)
            if arena is not None and f.name not in self.program.read_fields:
                nothing = arena.empty(("nothing", ""), 1, np.uint8)
                bindings.append(("bindInput", [index, nothing, nothing, nothing, nothing, 0]))
                continue
            col = columns.columns[f.name]
            # numpy bools are bytes of 0 or 1: Java reads them in place
            valid = put(("input", f"{f.name}.valid"), col.present[from_:to].view(np.uint8)) \
                if f.optional else None
            offsets = data = None
            size = 0 if col.plain else len(col.dictionary)  # 0: codes are all distinct
            if kind == "String":
                # Arrow's UTF-8 bytes and offsets: Java decodes the values it reads.
                offsets, data = _utf8_buffers(col.dictionary)
                if arena is not None:
                    offsets, data = _utf8_copy(arena, f.name, offsets, data)
            values = arena.counting(n) if arena is not None and col.plain and from_ == 0 \
                else put(("input", f"{f.name}.values"), col.values[from_:to])
            bindings.append(("bindInput", [index, values, valid, offsets, data, size]))
        bindings.append(("bindMask", [put(("mask", ""), columns.ok[from_:to].view(np.uint8))]))
        result = ChunkResult.allocate(n, self.program.max_fired, self.outputs, self.capacity,
                                      arena)
        bindings.append(("bindResults", [result.result_row, result.ruleset, result.error,
                                         result.where, result.decision, result.fired_offsets,
                                         result.fired_codes]))
        for index, (name, _) in enumerate(self.outputs):
            values, valid, offsets = result.outputs[name]
            bindings.append(("bindOutput", [index, values, valid, offsets]))
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


def java_failure(exc: Any) -> str:
    """What to tell a user whose chunk evaluation threw in Java (not a rule's own error:
    those are dead letters)."""
    if str(exc.getClass().getName()) == "java.lang.OutOfMemoryError":
        return (f"Java ran out of memory ({exc}); give the JVM more heap with "
                "PYENGINE_JVM_OPTIONS=-Xmx<size> or use a smaller --chunk-size")
    return f"the compiled rules failed: {exc}"


def _utf8_buffers(strings: Any) -> tuple[np.ndarray, np.ndarray]:
    """int32 offsets (n + 1) and UTF-8 bytes of an Arrow string array, as numpy arrays.

    They are views of Arrow's own memory, which Java reads in place; read-only
    memory (a memory-mapped file) is copied, since a direct buffer needs writable memory.
    """
    import pyarrow as pa

    arr = strings.cast(pa.string())
    n = len(arr)
    _, offsets_buffer, data_buffer = arr.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=arr.offset + n + 1)
    offsets = offsets[arr.offset:]
    if data_buffer is None or data_buffer.size == 0:
        data = np.zeros(1, np.uint8)  # a direct buffer needs at least one byte
    else:
        data = np.frombuffer(data_buffer, dtype=np.uint8)
    return _writable(offsets), _writable(data)


def _utf8_copy(arena: Arena, name: str, offsets: np.ndarray,
               data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bytes ``offsets`` span, and the offsets into them, copied into ``arena``: a
    slice of a column shares the whole column's bytes, which are not all this chunk's."""
    start, end = int(offsets[0]), int(offsets[-1])
    rebased = arena.empty(("input", f"{name}.offsets"), len(offsets), np.int32)
    np.subtract(offsets, start, out=rebased)
    return rebased, arena.copy(("input", f"{name}.data"), data[start:end])


def _writable(arr: np.ndarray) -> np.ndarray:
    return arr if arr.flags.writeable else arr.copy()


def _numpy_value(value: Any, kind: str) -> Any:
    if kind == "long":
        return int(value)
    if kind == "double":
        return float(value)
    return bool(value)
