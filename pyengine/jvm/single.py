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
_FIRED_DISPLAYS = 4  # fired lists of up to this many ids are built without a loop


class SingleEvaluator:
    """This thread's Java Evaluator with its bound input and result buffers."""

    def __init__(self, program: Program, evaluator: Any, set_names: list[str],
                 uncommon: Callable[[Any, tuple[Any, ...] | None], dict[str, Any]]):
        """``uncommon(raw, result)`` is what :attr:`evaluate` gives for a record ``run``
        gives None for, or whose ``result`` is not an evaluated transaction's."""
        import jpype.nio

        self.layout: SingleLayout = single_layout(program)
        self.evaluator = evaluator
        self._buffer = np.zeros(self.layout.size, np.uint8)  # Java writes here
        evaluator.bindSingle(jpype.nio.convertToDirectBuffer(self._buffer))
        self._schema = program.schema
        inputs = input_layout(program.schema)
        self._texts_offset = inputs.texts_offset
        self._input: list[memoryview] = []  # Java reads the packed transaction here
        self._room = [0]  # bytes of text it has room for
        self._bind_input(4096)  # grown for a transaction whose texts do not fit
        self._generation = [-1]  # of our copies of Java's string dictionaries
        self._dictionaries: list[list[str]] = [[] for _ in self.layout.outputs]
        self._fired_at = len(HEADER)
        # where each output's validity, count and values are in the unpacked tuple
        self._slots: list[tuple[str, str, bool, int]] = []
        at = len(HEADER) + self.layout.max_fired
        for o in self.layout.outputs:
            self._slots.append((o.name, o.kind, o.is_list, at))
            at += (2 if o.is_list else 1) + o.cap
        self._public = [public_converter(t) for t in program.outputs.values()]
        # what the generated functions refer to
        self._namespace: dict[str, Any] = {
            **FAST_NAMES, "state": self._input, "room": self._room, "grow": self._bind_input,
            "call": evaluator.evaluatePacked, "view": self._buffer.data,
            "unpack": struct.Struct(self.layout.struct_format).unpack_from,
            "pack": struct.Struct(inputs.struct_format).pack_into, "struct_error": struct.error,
            "JException": jpype.JException, "JvmError": JvmError, "uncommon": uncommon,
            "generation": self._generation, "refresh": self._refresh, "string": self._string,
            "ACTIONS": ACTIONS, "FIRED": tuple(program.fired_ids), "SETS": tuple(set_names),
            **{f"D{i}": values for i, values in enumerate(self._dictionaries)},
            **{f"P{i}": convert for i, convert in enumerate(self._public)},
            **{f"M{i}": {} for i in range(len(self._public))}, "memo": _memo}
        self.run: Callable[[Any], tuple[Any, ...] | None]
        self._compile_runner(inputs)
        self.outputs: Callable[[tuple[Any, ...]], dict[str, Any]]
        self.public: Callable[[tuple[Any, ...]], dict[str, Any]]
        self.evaluate: Callable[[Any], dict[str, Any]]
        self._compile_decoders(inputs)

    def _bind_input(self, room: int) -> None:
        """Bind a new input buffer, with room for ``room`` bytes of texts."""
        import jpype.nio

        self._input[:] = [memoryview(bytearray(self._texts_offset + room))]
        self._room[0] = room
        self.evaluator.bindSingleInput(jpype.nio.convertToDirectBuffer(self._input[0]))

    def _compile_runner(self, inputs: InputLayout) -> None:
        """Generate ``run(raw)``: the unpacked result buffer of one JSON-like record, or
        None for a record with a value in no common form (or not an object).

        Straight-line code, as for :func:`pyengine.records.compile_reader`, whose checks
        it shares, except that decimal and timestamp texts go to Java unread (Java
        refuses, with ``REFUSED_TEXT``, the forms it does not read the same way).
        """
        lines = ["def run(raw):", *self._packing_lines(inputs, "return None"),
                 "    return unpack(view)"]
        self.run = self._exec(lines, "run", "<pyengine single runner>")

    def _packing_lines(self, inputs: InputLayout, fail: str) -> list[str]:
        """The statements that check ``raw``'s values, pack them into the input buffer and
        call Java; ``fail`` for a value in no common form."""
        numbers = "".join(f", v{s.index}" for s in inputs.numbers)
        texts = "".join(f"v{s.index}, " for s in inputs.texts)
        ascii_lengths = ", ".join(f"len(v{s.index})" for s in inputs.texts)
        # present as uint64 words: Python's int holds a bit per field, however many
        words = ", ".join(["present"] if inputs.present_words == 1 else
                          [f"present >> {64 * w} & {2**64 - 1}"
                           for w in range(inputs.present_words)])
        packed = f"state[0], 0, {words}{numbers}"
        return [f"    if type(raw) is not dict: {fail}",
                "    get = raw.get", "    present = 0",
                *field_lines(self._schema, _RUNNER_CHECKS, _RUNNER_ZEROS, fail),
                f"    texts = ({texts})",
                # join checks the texts' types: a string field's value is not checked
                "    try: text = ''.join(texts)",
                f"    except TypeError: {fail}",
                "    if text.isascii():",  # a character a byte: the lengths are the texts'
                "        data = text.encode('ascii')",
                "        lengths = None",  # packed as len(v<k>) each, without a tuple
                "    else:",
                f"        if _SURROGATE.search(text) is not None: {fail}",
                "        encoded = [t.encode('utf-8') for t in texts]",
                "        data = b''.join(encoded)",
                "        lengths = map(len, encoded)",
                "    if len(data) > room[0]: grow(2 * len(data))",
                # pack checks the ints' range: an int field's value is only checked for type
                "    try:",
                f"        if lengths is None: pack({packed}, {ascii_lengths})",
                f"        else: pack({packed}, *lengths)",
                f"    except struct_error: {fail}",
                f"    state[0][{inputs.texts_offset}:{inputs.texts_offset} + len(data)] = data",
                "    try: call()",
                "    except JException as exc:",
                "        raise JvmError(f'the compiled rules failed: {exc}') from exc"]

    def _exec(self, lines: list[str], name: str, filename: str) -> Any:
        """The function ``name`` that ``lines`` define, in this evaluator's namespace."""
        exec(compile("\n".join(lines), filename, "exec"), self._namespace)
        return self._namespace[name]

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

    def _compile_decoders(self, inputs: InputLayout) -> None:
        """Generate ``outputs(result)``: output name -> Java-level value (None when null; a
        list for a list output); ``public(result)``: the dict ``Engine.evaluate`` gives
        for an evaluated transaction, with outputs as users see them (Decimal, datetime);
        and ``evaluate(raw)``: ``run`` and ``public`` in one, ``uncommon(raw, result)``
        for a record ``run`` gives None for or Java did not evaluate.

        Straight-line code generated for the layout is twice as fast as a loop over the
        outputs; building the public dict directly skips an intermediate Outcome, and
        ``evaluate`` the calls between the steps (a tenth of a call's time).
        """
        refresh = [f"    if result[{_GENERATION}] != generation[0]: refresh(result[{_GENERATION}])"]
        # String codes are looked up unchecked; a code beyond our copy of a dictionary
        # raises IndexError, and only then are the codes checked one by one (and the
        # new values copied): checking each of them took a tenth of a call.
        public = [*refresh, "    try:", *("    " + line for line in self._public_lines(False)),
                  "    except IndexError: return checked_public(result)"]
        lines = ["def outputs(result):", *refresh, "    return {",
                 *self._output_items(public=False, checked=True), "    }",
                 "def checked_public(result):", *self._public_lines(True),
                 "def public(result):", *public,
                 "def evaluate(raw):", *self._packing_lines(inputs, "return uncommon(raw, None)"),
                 "    result = unpack(view)",
                 "    if result[0]: return uncommon(raw, result)", *public]
        self.outputs = self._exec(lines, "outputs", "<pyengine single decoders>")
        self.public = self._namespace["public"]
        self.evaluate = self._namespace["evaluate"]

    def _public_lines(self, checked: bool) -> list[str]:
        """The statements that return the public dict of the unpacked ``result``; string
        codes ``checked`` against our copies of Java's dictionaries, or not."""
        start = self._fired_at
        # A list display for each count up to _FIRED_DISPLAYS: most transactions fire a
        # few rules, and a comprehension is a call of its own (a third of ``public``).
        counts = range(min(_FIRED_DISPLAYS, self.layout.max_fired) + 1)
        fired = "".join(
            f"[{', '.join(f'FIRED[result[{start + i}]]' for i in range(count))}] "
            f"if n == {count} else " for count in counts)
        fired += f"[FIRED[c] for c in result[{start}:{start} + n]]"
        return [f"    n = result[{_FIRED}]",
                f"    return {{'decision': ACTIONS[result[{HEADER.index('decision')}]],",
                f"            'fired': {fired},",
                f"            'ruleset': SETS[result[{HEADER.index('ruleset')}]],",
                "            'outputs': {", *self._output_items(True, checked), "    }}"]

    def _output_items(self, public: bool, checked: bool) -> list[str]:
        """The items of a dict display from the unpacked result to its outputs; with
        ``public``, each non-null value goes through its public converter ``P<index>``;
        string codes ``checked``, or looked up in our copies of the dictionaries as
        they are."""
        items = []
        for index, (name, kind, is_list, at) in enumerate(self._slots):
            if is_list:
                values = f"result[{at + 2}:{at + 2} + result[{at + 1}]]"
                value = (f"[{_lookup(index, 'c', checked)} for c in {values}]"
                         if kind == "string" else f"list({values})")
                value = f"([] if not result[{at + 1}] else {value})"  # no call for none
            elif kind == "string":
                value = f"({_lookup(index, f'result[{at + 1}]', checked)})"
            else:
                value = f"result[{at + 1}]"
            if public and self._public[index] is not None:
                if is_list:
                    value = f"P{index}({value})"
                else:  # decimal and datetime objects are immutable: equal values share one
                    value = (f"(M{index}[v] if (v := {value}) in M{index} "
                             f"else memo(M{index}, P{index}, v))")
            items.append(f"        {name!r}: {value} if result[{at}] else None,")
        return items


def _lookup(output: int, code: str, checked: bool) -> str:
    """The expression of string output ``output``'s value of code ``code`` (an
    expression): in our copy of its dictionary, or, ``checked``, in a fresh copy when
    the code is beyond ours."""
    if not checked:
        return f"D{output}[{code}]"
    if code != "c":
        code = f"(c := {code})"  # evaluated once, in the test
    return f"D{output}[c] if {code} < len(D{output}) else string({output}, c)"


def _memo(cache: dict[Any, Any], convert: Callable[[Any], Any], value: Any) -> Any:
    """``convert(value)``, remembered in ``cache``: an output's Decimal, whose making
    took a quarter of ``public`` for the example rules, is often one of a few (a limit,
    a fee). The cache is emptied when it is full, so unique values cost only a miss."""
    if len(cache) >= _MEMO_SIZE:
        cache.clear()
    converted = cache[value] = convert(value)
    return converted


_MEMO_SIZE = 1024  # values remembered per output


# The single runner sends decimal and timestamp texts to Java as they are (an int
# decimal as its digits). Joining the texts checks that they are strings, and packing
# the numbers that ints are in range; texts are checked for lone surrogates all at
# once, when they are not all ASCII.
_RUNNER_CHECKS = {
    **FAST_CHECKS,
    "string": [],
    "int": ["if type({v}) is not int: {fail}"],  # not a bool, which packs as an int
    "decimal": ["if type({v}) is not str:",
                "    if type({v}) is not int or not INT_MIN <= {v} <= INT_MAX: {fail}",
                "    {v} = str({v})"],
    "timestamp": [],
}
_RUNNER_ZEROS = {**ZERO_VALUES, "decimal": "", "timestamp": ""}
