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
from pyengine.records import public_converter
from pyengine.spec.program import ACTIONS, Program

_GENERATION = HEADER.index("generation")  # of the string dictionaries
_FIRED = HEADER.index("fired")  # how many fired codes follow the header


class SingleEvaluator:
    """This thread's Java Evaluator with its bound input and result buffers."""

    def __init__(self, program: Program, evaluator: Any, set_names: list[str]):
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
        self._input: memoryview  # Java reads the packed transaction here
        self._bind_input(4096)  # grown for a transaction whose strings do not fit
        self._generation = [-1]  # of our copies of Java's string dictionaries
        self._dictionaries: list[list[str]] = [[] for _ in self.layout.outputs]
        self._fired_at = len(HEADER)
        # where each output's validity, count and values are in the unpacked tuple
        self._slots: list[tuple[str, str, bool, int]] = []
        at = len(HEADER) + self.layout.max_fired
        for o in self.layout.outputs:
            self._slots.append((o.name, o.kind, o.is_list, at))
            at += (2 if o.is_list else 1) + o.cap
        self._fired_ids = tuple(program.fired_ids)
        self._public = [public_converter(t) for t in program.outputs.values()]
        self.outputs: Callable[[tuple[Any, ...]], dict[str, Any]]
        self.public: Callable[[tuple[Any, ...]], dict[str, Any]]
        self._compile_decoders(set_names)

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

    def _refresh(self, generation: int) -> None:
        """Java started a new generation of its string dictionaries: forget ours."""
        self._generation[0] = generation
        for values in self._dictionaries:
            values.clear()

    def _string(self, output: int, code: int) -> str:
        """The value of a code beyond our copy of the dictionary: copy the values it lacks
        (only those: copying all of them for each new value made unique outputs quadratic)."""
        values = self._dictionaries[output]
        values += [str(s) for s in self.evaluator.singleDictionary(output, len(values))]
        return values[code]

    def _compile_decoders(self, set_names: list[str]) -> None:
        """Generate ``outputs(result)``: output name -> Java-level value (None when null; a
        list for a list output); and ``public(result)``: the dict ``Engine.evaluate`` gives
        for an evaluated transaction, with outputs as users see them (Decimal, datetime).

        Straight-line code generated for the layout is twice as fast as a loop over the
        outputs, and building the public dict directly skips an intermediate Outcome.
        """
        fired = f"result[{self._fired_at}:{self._fired_at} + result[{_FIRED}]]"
        lines = ["def outputs(result):", *self._output_lines(public=False),
                 "def public(result):",
                 f"    return {{'decision': ACTIONS[result[{HEADER.index('decision')}]],",
                 f"            'fired': [FIRED[c] for c in {fired}],",
                 f"            'ruleset': SETS[result[{HEADER.index('ruleset')}]],",
                 "            'outputs': outputs_public(result)}",
                 "def outputs_public(result):", *self._output_lines(public=True)]
        namespace: dict[str, Any] = {
            "generation": self._generation, "refresh": self._refresh, "string": self._string,
            "ACTIONS": ACTIONS, "FIRED": self._fired_ids, "SETS": tuple(set_names)}
        namespace.update({f"D{i}": values for i, values in enumerate(self._dictionaries)})
        namespace.update({f"P{i}": convert for i, convert in enumerate(self._public)})
        exec(compile("\n".join(lines), "<pyengine single decoders>", "exec"), namespace)
        self.outputs = namespace["outputs"]
        self.public = namespace["public"]

    def _output_lines(self, public: bool) -> list[str]:
        """The body of a function from the unpacked result to its outputs dict; with
        ``public``, each non-null value goes through its public converter ``P<index>``."""
        lines = [f"    if result[{_GENERATION}] != generation[0]:",
                 f"        refresh(result[{_GENERATION}])",
                 "    return {"]
        for index, (name, kind, is_list, at) in enumerate(self._slots):
            # code c in our copy of the output's dictionary, or in a fresh copy
            lookup = f"D{index}[c] if c < len(D{index}) else string({index}, c)"
            if is_list:
                items = f"result[{at + 2}:{at + 2} + result[{at + 1}]]"
                value = f"[{lookup} for c in {items}]" if kind == "string" else f"list({items})"
            elif kind == "string":
                value = (f"(D{index}[c] if (c := result[{at + 1}]) < len(D{index}) "
                         f"else string({index}, c))")
            else:
                value = f"result[{at + 1}]"
            if public and self._public[index] is not None:
                value = f"P{index}({value})"
            lines.append(f"        {name!r}: {value} if result[{at}] else None,")
        lines.append("    }")
        return lines


def _getter(indexes: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A function from a tuple to the tuple of its items at ``indexes`` (a tuple always,
    where itemgetter gives a single item for a single index)."""
    if len(indexes) > 1:
        return itemgetter(*indexes)
    return lambda values: tuple(values[i] for i in indexes)
