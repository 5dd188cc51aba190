"""One transaction in one JPype call: the online path behind ``Engine.evaluate``.

The record's values are packed into a per-thread input buffer with one
``struct.pack_into`` (strings as UTF-8 bytes after the fixed part), Java's
``Evaluator.evaluatePacked`` reads them and writes the whole result into a
per-thread result buffer that Python reads with a single ``struct.unpack_from``
(layouts: :mod:`pyengine.codegen.layout`). The call takes no arguments: JPype
would convert each typed argument, a string about a microsecond. String outputs
come as codes into small dictionaries that Python copies only when they grow.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import numpy as np

from pyengine.codegen.layout import HEADER, SingleLayout, input_layout, single_layout
from pyengine.spec.program import Program

_GENERATION = HEADER.index("generation")  # of the string dictionaries
_FIRED = HEADER.index("fired")  # how many fired codes follow the header


class SingleEvaluator:
    """This thread's Java Evaluator with its bound input and result buffers."""

    def __init__(self, program: Program, evaluator: Any):
        import jpype.nio

        self.layout: SingleLayout = single_layout(program)
        self.evaluator = evaluator
        self.call = evaluator.evaluatePacked
        self._buffer = np.zeros(self.layout.size, np.uint8)  # Java writes here
        evaluator.bindSingle(jpype.nio.convertToDirectBuffer(self._buffer))
        self._unpack = struct.Struct(self.layout.struct_format).unpack_from
        self._view = self._buffer.data
        inputs = input_layout(program.schema)
        self._pack = struct.Struct(inputs.struct_format).pack_into
        # (present, value, ...) -> present and the numbers; -> the strings
        self._numbers = _getter([0] + [s.index + 1 for s in inputs.numbers])
        self._strings = _getter([s.index + 1 for s in inputs.strings])
        self._strings_at = inputs.strings_offset
        self._input = memoryview(bytearray(0))
        self._bind_input(4096)
        self._generation = -1
        self._dictionaries: dict[int, list[str]] = {}
        self._fired_at = len(HEADER)
        # where each output's validity, count and values are in the unpacked tuple
        self._slots: list[tuple[str, str, bool, int]] = []
        at = len(HEADER) + self.layout.max_fired
        for o in self.layout.outputs:
            self._slots.append((o.name, o.kind, o.is_list, at))
            at += (2 if o.is_list else 1) + o.cap

    def _bind_input(self, size: int) -> None:
        import jpype.nio

        self._input = memoryview(bytearray(size))
        self.evaluator.bindSingleInput(jpype.nio.convertToDirectBuffer(self._input))

    def run(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """Evaluate one record's ``(present, value, ...)``; the unpacked result buffer."""
        strings = self._strings(values)
        text = "".join(strings)
        if text.isascii():  # a character a byte: the lengths are the strings'
            data = text.encode("ascii")
            lengths = map(len, strings)
        else:
            encoded = [s.encode("utf-8") for s in strings]
            data = b"".join(encoded)
            lengths = map(len, encoded)
        end = self._strings_at + len(data)
        if end > len(self._input):
            self._bind_input(2 * end)
        self._pack(self._input, 0, *self._numbers(values), *lengths)
        self._input[self._strings_at:end] = data
        self.call()
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


def _getter(indexes: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A function from a tuple to the tuple of its items at ``indexes`` (a tuple always,
    where itemgetter gives a single item for a single index)."""
    if len(indexes) > 1:
        return itemgetter(*indexes)
    return lambda values: tuple(values[i] for i in indexes)
