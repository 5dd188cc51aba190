"""Compiled rules in the JVM: the single-transaction and columnar entry points.

:class:`CompiledRules` wraps a built ``rules.jar``. ``evaluate`` fills the
per-thread ``Evaluator.record`` and reads back its ``Result``;
``evaluate_records`` binds numpy columns as direct buffers to a ``Chunk`` and
makes one Java call for the whole batch. Both return the same
:class:`~pyengine.reference.evaluator.Outcome` as the reference evaluator, so
the three can be compared directly.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from pyengine.codegen.expr import jtype
from pyengine.errors import JvmError, RecordError
from pyengine.jvm.runtime import JarLoader
from pyengine.lang.types import Type
from pyengine.records import convert_record
from pyengine.reference import ops
from pyengine.reference.evaluator import ErrorInfo, Outcome
from pyengine.spec.program import ACTIONS, Program

_NUMPY = {"long": np.int64, "double": np.float64, "boolean": np.uint8, "String": np.int32}


def java_kind(t: Type) -> str:
    """How a value (a list: each item) of ``t`` crosses to Java: long, double, boolean, String."""
    return jtype(t.elem if t.kind == "list" and t.elem is not None else t)


class CompiledRules:
    """A rules jar loaded in the JVM, with its resolved program."""

    def __init__(self, program: Program, jar: Path):
        import jpype

        self.program = program
        self.loader = JarLoader(jar)
        self.rules_class = self.loader.cls("pyengine.generated.Rules")
        self.chunk_class = self.loader.cls("pyengine.generated.Chunk")
        self.words = int(self.loader.cls("pyengine.generated.Result").WORDS)
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

    def evaluator(self) -> Any:
        """This thread's Java Evaluator (evaluators are not thread-safe)."""
        ev = getattr(self._local, "evaluator", None)
        if ev is None:
            ev = self._local.evaluator = self.rules_class.newEvaluator()
        return ev

    # -- one transaction -------------------------------------------------
    def evaluate(self, raw: Any) -> Outcome:
        """Evaluate one JSON-like transaction with the compiled rules."""
        try:
            record = convert_record(self.program.schema, raw)
        except RecordError as exc:
            return Outcome(error=ErrorInfo(exc.kind, exc.kind, None, exc.message))
        ev = self.evaluator()
        jrec = ev.record
        for f in self.fields:
            value = record[f.name]
            if f.optional:
                setattr(jrec, f"has_{f.name}", value is not None)
                if value is None:
                    continue
            setattr(jrec, f"f_{f.name}", value)
        ev.evaluate()
        res = ev.result
        def read(name: str, kind: str, is_list: bool) -> Any:
            if not bool(getattr(res, f"has_{name}")):
                return None
            value = getattr(res, f"o_{name}")
            if is_list:
                return [_java_value(v, kind) for v in value[: int(getattr(res, f"n_{name}"))]]
            return _java_value(value, kind)

        return self._outcome(int(res.error), int(res.ruleset), int(res.errorWhere),
                             res.errorDetail, int(res.decision), list(res.fired), read)

    # -- a batch ---------------------------------------------------------
    def evaluate_records(self, raws: list[Any]) -> list[Outcome]:
        """Evaluate many transactions with one columnar Java call."""
        outcomes: list[Outcome | None] = [None] * len(raws)
        records: list[dict[str, Any]] = []
        positions: list[int] = []
        for i, raw in enumerate(raws):
            try:
                records.append(convert_record(self.program.schema, raw))
                positions.append(i)
            except RecordError as exc:
                outcomes[i] = Outcome(error=ErrorInfo(exc.kind, exc.kind, None, exc.message))
        if records:
            for pos, outcome in zip(positions, self._evaluate_chunk(records), strict=True):
                outcomes[pos] = outcome
        return [o for o in outcomes if o is not None]

    def _evaluate_chunk(self, records: list[dict[str, Any]]) -> list[Outcome]:
        import jpype.nio

        n = len(records)
        chunk = self.chunk_class()
        keep: list[np.ndarray] = []  # Java reads this memory: keep it alive during the call

        def buf(arr: np.ndarray) -> Any:
            keep.append(arr)
            return jpype.nio.convertToDirectBuffer(arr)

        for index, f in enumerate(self.fields):
            kind = java_kind(f.type)
            column = [r[f.name] for r in records]
            valid = np.array([v is not None for v in column], dtype=np.uint8)
            dictionary: list[str] = []
            if kind == "String":
                codes: dict[str, int] = {}
                column = [codes.setdefault(v, len(codes)) if v is not None else 0
                          for v in column]
                dictionary = list(codes)
            else:
                column = [v if v is not None else 0 for v in column]
            values = np.array(column, dtype=_NUMPY[kind])
            chunk.bindInput(index, buf(values), buf(valid) if f.optional else None,
                            self._jstring_array(dictionary) if kind == "String" else None)
        decision = np.zeros(n, np.int8)
        ruleset = np.zeros(n, np.int32)
        fired = np.zeros(n * self.words, np.int64)
        error = np.zeros(n, np.int32)
        where = np.zeros(n, np.int32)
        detail = self._jstring_array(n)
        chunk.bindResults(buf(decision), buf(ruleset), buf(fired), buf(error), buf(where), detail)
        out_arrays = []
        for index, (name, t) in enumerate(self.outputs):
            values = np.zeros(n * self.capacity[name], _NUMPY[java_kind(t)])
            valid = np.zeros(n, np.uint8)
            counts = np.zeros(n, np.int32)
            chunk.bindOutput(index, buf(values), buf(valid), buf(counts))
            out_arrays.append((values, valid, counts))
        self.evaluator().evaluateChunk(chunk, 0, n)
        dictionaries = [[str(s) for s in chunk.outputDictionary(i)]
                        for i in range(len(self.outputs))]

        positions = {name: j for j, (name, _) in enumerate(self.outputs)}

        def reader(i: int) -> Any:
            def item(index: int, slot: int, kind: str) -> Any:
                value = out_arrays[index][0][slot]
                if kind == "String":
                    return dictionaries[index][int(value)]
                return _numpy_value(value, kind)

            def read(name: str, kind: str, is_list: bool) -> Any:
                index = positions[name]
                _, valid, counts = out_arrays[index]
                if not valid[i]:
                    return None
                if not is_list:
                    return item(index, i, kind)
                base = i * self.capacity[name]
                return [item(index, base + k, kind) for k in range(int(counts[i]))]
            return read

        return [self._outcome(int(error[i]), int(ruleset[i]), int(where[i]), detail[i],
                              int(decision[i]), fired[i * self.words:(i + 1) * self.words].tolist(),
                              reader(i))
                for i in range(n)]

    # -- decoding --------------------------------------------------------
    def _outcome(self, error: int, set_index: int, where: int, detail: Any, decision: int,
                 words: list[int], read: Any) -> Outcome:
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
        fired = [ids[bit] for bit in range(len(ids)) if (int(words[bit >> 6]) >> (bit & 63)) & 1]
        outputs = {o: read(o, java_kind(t), t.kind == "list") for o, t in self.outputs}
        return Outcome(ruleset=name, decision=ACTIONS[decision], fired=fired, outputs=outputs)


def _java_value(value: Any, kind: str) -> Any:
    if kind == "String":
        return str(value)
    return _numpy_value(value, kind)


def _numpy_value(value: Any, kind: str) -> Any:
    if kind == "long":
        return int(value)
    if kind == "double":
        return float(value)
    return bool(value)
