"""One transaction in one JPype call: the online path behind ``Engine.evaluate``.

:meth:`SingleEvaluator.run` is generated for the schema: it reads the JSON-like
record's fields, checks their types, and packs them into a per-thread input buffer
with one ``struct.pack_into`` (texts as UTF-8 bytes after the fixed part); Java's
``Evaluator.evaluatePacked`` reads them and writes the whole result into a
per-thread result buffer that Python reads with a single ``struct.unpack_from``
(layouts: :mod:`pyengine.codegen.layout`). Decimals and timestamps go as the text
they came as, for Java to read (``pyengine.runtime.Texts``); a record with a value
in any other form is read by :func:`pyengine.records.read_values` and sent again in
the common form (:meth:`SingleEvaluator.run_values`). The call takes no arguments:
JPype would convert each typed argument, a string about a microsecond. String
outputs come as codes into small dictionaries that Python copies only when they grow.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from pyengine.codegen.layout import (
    HEADER,
    REFUSED_TEXT,
    InputLayout,
    SingleLayout,
    input_layout,
    single_layout,
)
from pyengine.errors import JvmError
from pyengine.records import (
    FAST_CHECKS,
    FAST_NAMES,
    ZERO_VALUES,
    field_lines,
    format_decimal,
    format_timestamp,
    public_converter,
)
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
        self._schema = program.schema
        self._input: list[memoryview] = []  # Java reads the packed transaction here
        self._bind_input(4096)  # grown for a transaction whose texts do not fit
        self.run: Callable[[Any], tuple[Any, ...] | None]
        self._compile_runner(input_layout(program.schema))
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

        self._input[:] = [memoryview(bytearray(size))]
        self.evaluator.bindSingleInput(jpype.nio.convertToDirectBuffer(self._input[0]))

    def _compile_runner(self, inputs: InputLayout) -> None:
        """Generate ``run(raw)``: the unpacked result buffer of one JSON-like record, or
        None for a record with a value in no common form (or not an object).

        Straight-line code, as for :func:`pyengine.records.compile_reader`, whose checks
        it shares, except that decimal and timestamp texts go to Java unread (Java
        refuses, with ``REFUSED_TEXT``, the forms it does not read the same way).
        """
        numbers = "".join(f", v{s.index}" for s in inputs.numbers)
        texts = "".join(f"v{s.index}, " for s in inputs.texts)
        lengths = "".join(f"len(v{s.index}), " for s in inputs.texts)
        lines = ["def run(raw):", "    if type(raw) is not dict: return None",
                 "    get = raw.get", "    present = 0",
                 *field_lines(self._schema, _RUNNER_CHECKS, _RUNNER_ZEROS),
                 f"    texts = ({texts})",
                 "    text = ''.join(texts)",
                 "    if text.isascii():",  # a character a byte: the lengths are the texts'
                 "        data = text.encode('ascii')",
                 f"        lengths = ({lengths})",
                 "    else:",
                 "        if _SURROGATE.search(text) is not None: return None",
                 "        encoded = [t.encode('utf-8') for t in texts]",
                 "        data = b''.join(encoded)",
                 "        lengths = map(len, encoded)",
                 f"    end = {inputs.texts_offset} + len(data)",
                 "    if end > len(state[0]): grow(2 * end)",
                 f"    pack(state[0], 0, present{numbers}, *lengths)",
                 f"    state[0][{inputs.texts_offset}:end] = data",
                 "    call()",
                 "    return unpack(view)"]
        namespace: dict[str, Any] = {
            **FAST_NAMES, "state": self._input, "grow": self._bind_input, "call": self.call,
            "unpack": self._unpack, "view": self._view,
            "pack": struct.Struct(inputs.struct_format).pack_into}
        exec(compile("\n".join(lines), "<pyengine single runner>", "exec"), namespace)
        self.run = namespace["run"]

    def run_values(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """The unpacked result of a record already read (``(present, value, ...)`` as
        :func:`pyengine.records.read_values` gives it), sent in the common forms."""
        present = values[0]
        raw: dict[str, Any] = {}
        for k, (name, f) in enumerate(self._schema.fields.items()):
            value = values[k + 1]
            if f.optional and not present >> k & 1:
                value = None
            elif f.type.kind == "decimal":
                value = format_decimal(value, f.type.scale)
            elif f.type.kind == "timestamp":
                value = format_timestamp(value)
            raw[name] = value
        result = self.run(raw)
        if result is None or result[0] == REFUSED_TEXT:
            raise JvmError(f"Java refused the common form of a transaction's values: {raw}")
        return result

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


# The single runner sends decimal and timestamp texts to Java as they are (an int
# decimal as its digits). Texts are checked for lone surrogates all at once, when
# they are not all ASCII.
_RUNNER_CHECKS = {
    **FAST_CHECKS,
    "string": ["if type(v) is not str: return None"],
    "decimal": ["if type(v) is not str:",
                "    if type(v) is not int or not INT_MIN <= v <= INT_MAX: return None",
                "    v = str(v)"],
    "timestamp": ["if type(v) is not str: return None"],
}
_RUNNER_ZEROS = {**ZERO_VALUES, "decimal": "", "timestamp": ""}
