"""The byte layouts of one transaction and of its result, shared by Java and Python.

Python packs a transaction's values into a buffer with one ``struct.pack_into``,
``Evaluator.evaluatePacked`` reads them and writes the result into a second buffer,
and Python reads that with one ``struct.unpack_from``: one JPype call without
arguments, where typed arguments would cost a conversion each (a Java String
about a microsecond). Both sides come from :func:`input_layout` and
:func:`single_layout`, so they cannot disagree.

Input (native byte order, unaligned): int64 ``present`` (bit k: optional field k is
there); each int, decimal, timestamp, float and bool field in schema order (int64,
int64, int64, float64, one byte); an int32 UTF-8 length per string field in schema
order; then the strings' UTF-8 bytes, one after the other in the same order.

Result: a header of int32 error, ruleset, errorWhere, decision, string-dictionary
generation and fired count; then ``max_fired`` int32 codes into
``Program.fired_ids``; then per output a validity byte, and for a list an int32 item
count, followed by its value slots.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyengine.codegen.expr import jtype
from pyengine.lang.types import Type
from pyengine.spec.program import Program, Schema

HEADER = ("error", "ruleset", "where", "decision", "generation", "fired")
# struct code and size of one value slot, by Java kind
SLOTS = {"long": ("q", 8), "double": ("d", 8), "boolean": ("?", 1), "string": ("i", 4)}


@dataclass(frozen=True)
class OutputSlot:
    """Where output ``name`` lies in the buffer: validity byte at ``offset``."""

    name: str
    kind: str  # long | double | boolean | string (a list: of its items)
    is_list: bool
    cap: int
    offset: int

    @property
    def values_offset(self) -> int:
        """Offset of the first value slot (after validity, and a list's count)."""
        return self.offset + (5 if self.is_list else 1)


@dataclass(frozen=True)
class SingleLayout:
    """The single-result buffer of a program."""

    max_fired: int
    outputs: tuple[OutputSlot, ...]
    size: int

    @property
    def fired_offset(self) -> int:
        """Offset of the fired codes."""
        return 4 * len(HEADER)

    @property
    def struct_format(self) -> str:
        """The ``struct`` format of the whole buffer."""
        parts = ["=", "i" * len(HEADER), f"{self.max_fired}i"]
        for o in self.outputs:
            parts.append("?i" if o.is_list else "?")
            parts.append(f"{o.cap}{SLOTS[o.kind][0]}")
        return "".join(parts)


def single_layout(program: Program) -> SingleLayout:
    """The layout of ``program``'s single-transaction result."""
    offset = 4 * len(HEADER) + 4 * program.max_fired
    slots = []
    for name, t in program.outputs.items():
        cap = program.list_capacity(name)
        slot = OutputSlot(name, item_kind(t), t.kind == "list", cap, offset)
        slots.append(slot)
        offset = slot.values_offset + cap * SLOTS[slot.kind][1]
    return SingleLayout(program.max_fired, tuple(slots), max(offset, 1))


def item_kind(t: Type) -> str:
    """long, double, boolean or string: how a value (a list: each item) of ``t`` is held."""
    java = jtype(t.item)
    return "string" if java == "String" else java


@dataclass(frozen=True)
class InputSlot:
    """Where field ``index`` of the schema lies in the input buffer (a string: its length)."""

    index: int
    kind: str  # long | double | boolean | string
    offset: int


@dataclass(frozen=True)
class InputLayout:
    """The single-transaction input buffer of a schema."""

    numbers: tuple[InputSlot, ...]  # the fields that are not strings, in schema order
    strings: tuple[InputSlot, ...]  # the string fields, in schema order
    strings_offset: int  # where the first string's bytes start

    @property
    def struct_format(self) -> str:
        """The ``struct`` format of ``present``, the numbers and the string lengths."""
        codes = "".join(SLOTS[s.kind][0] for s in self.numbers)
        return f"=q{codes}{'i' * len(self.strings)}"


def input_layout(schema: Schema) -> InputLayout:
    """The layout of one transaction of ``schema``, as ``Evaluator.evaluatePacked`` reads it."""
    kinds = [item_kind(f.type) for f in schema.fields.values()]
    numbers, offset = [], 8
    for index, kind in enumerate(kinds):
        if kind != "string":
            numbers.append(InputSlot(index, kind, offset))
            offset += SLOTS[kind][1]
    strings = []
    for index, kind in enumerate(kinds):
        if kind == "string":
            strings.append(InputSlot(index, kind, offset))
            offset += 4
    return InputLayout(tuple(numbers), tuple(strings), offset)
