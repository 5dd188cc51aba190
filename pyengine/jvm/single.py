"""One transaction in one JPype call: the online path behind ``Engine.evaluate``.

The record's values go to ``Evaluator.evaluateValues`` as typed arguments (JPype
converts each once, with no attribute lookups), and Java writes the whole result
into a per-thread buffer that Python reads with a single ``struct.unpack_from``
(layout: :mod:`pyengine.codegen.layout`). String outputs come as codes into small
dictionaries that Python copies only when they grow.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from pyengine.codegen.layout import HEADER, SingleLayout, single_layout
from pyengine.spec.program import Program

_GENERATION = HEADER.index("generation")  # of the string dictionaries
_FIRED = HEADER.index("fired")  # how many fired codes follow the header


class SingleEvaluator:
    """This thread's Java Evaluator with its bound result buffer."""

    def __init__(self, program: Program, evaluator: Any):
        import jpype.nio

        self.layout: SingleLayout = single_layout(program)
        self.evaluator = evaluator
        self.call = evaluator.evaluateValues
        self._buffer = np.zeros(self.layout.size, np.uint8)  # Java writes here
        evaluator.bindSingle(jpype.nio.convertToDirectBuffer(self._buffer))
        self._unpack = struct.Struct(self.layout.struct_format).unpack_from
        self._view = self._buffer.data
        self._generation = -1
        self._dictionaries: dict[int, list[str]] = {}
        self._fired_at = len(HEADER)
        # where each output's validity, count and values are in the unpacked tuple
        self._slots: list[tuple[str, str, bool, int]] = []
        at = len(HEADER) + self.layout.max_fired
        for o in self.layout.outputs:
            self._slots.append((o.name, o.kind, o.is_list, at))
            at += (2 if o.is_list else 1) + o.cap

    def run(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """Evaluate one record's ``(present, value, ...)``; the unpacked result buffer."""
        self.call(*values)
        return self._unpack(self._view)

    def fired_codes(self, result: tuple[Any, ...]) -> tuple[int, ...]:
        """Indexes into ``Program.fired_ids`` of the ids the transaction fired."""
        start = self._fired_at
        return result[start:start + result[_FIRED]]

    def outputs(self, result: tuple[Any, ...]) -> dict[str, Any]:
        """Output name -> Java-level value (None when null; a list for list outputs)."""
        if result[_GENERATION] != self._generation:
            self._generation = result[_GENERATION]
            self._dictionaries.clear()
        out: dict[str, Any] = {}
        for index, (name, kind, is_list, at) in enumerate(self._slots):
            if not result[at]:
                out[name] = None
            elif is_list:
                items = list(result[at + 2:at + 2 + result[at + 1]])
                out[name] = [self._string(index, c) for c in items] if kind == "string" \
                    else items
            else:
                value = result[at + 1]
                out[name] = self._string(index, value) if kind == "string" else value
        return out

    def _string(self, output: int, code: int) -> str:
        values = self._dictionaries.get(output)
        if values is None or code >= len(values):
            values = [str(s) for s in self.evaluator.singleDictionary(output)]
            self._dictionaries[output] = values
        return values[code]
