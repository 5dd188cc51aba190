"""The byte layouts of one transaction and of its result, shared by Java and Python.

Python packs a transaction's values into a buffer with one ``struct.pack_into``,
``Evaluator.evaluatePacked`` reads them and writes the result into a second buffer,
and Python reads that with one ``struct.unpack_from``: one JPype call without
arguments, where typed arguments would cost a conversion each (a Java String
about a microsecond). Both sides come from :func:`input_layout` and
:func:`single_layout`, so they cannot disagree.

Input (native byte order, unaligned): ``present``, a uint64 per 64 fields (bit k % 64
of word k // 64: optional field k is there); each int, float and bool field in schema
order (int64, float64, one byte); an int32 UTF-8 length per text field (string,
decimal, timestamp) in schema order; then the texts' UTF-8 bytes, one after the other
in the same order. Decimals and timestamps travel as the JSON text they came as: Java
reads their common forms (``pyengine.runtime.Texts``) faster than Python, and answers
``REFUSED_TEXT`` for any other, which Python then reads itself and sends again in the
common form.

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
# The header's error when Java refused a decimal or timestamp text (``where``: the field).
REFUSED_TEXT = -1
# Fields that travel as UTF-8 text, by type kind.
TEXT_KINDS = ("string", "decimal", "timestamp")
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
    """Where field ``index`` of the schema lies in the input buffer (a text: its length)."""

    index: int
    kind: str  # long | double | boolean, or a text: string | decimal | timestamp
    offset: int
    scale: int = 0  # a decimal's


@dataclass(frozen=True)
class InputLayout:
    """The single-transaction input buffer of a schema."""

    present_words: int  # uint64 words of presence bits, one per 64 fields
    numbers: tuple[InputSlot, ...]  # the fields that are not texts, in schema order
    texts: tuple[InputSlot, ...]  # the string, decimal and timestamp fields, in schema order
    texts_offset: int  # where the first text's bytes start

    @property
    def struct_format(self) -> str:
        """The ``struct`` format of ``present``, the numbers and the text lengths."""
        codes = "".join(SLOTS[s.kind][0] for s in self.numbers)
        return f"={'Q' * self.present_words}{codes}{'i' * len(self.texts)}"


def input_layout(schema: Schema) -> InputLayout:
    """The layout of one transaction of ``schema``, as ``Evaluator.evaluatePacked`` reads it."""
    fields = list(schema.fields.values())
    kinds = [f.type.kind if f.type.kind in TEXT_KINDS else item_kind(f.type) for f in fields]
    words = max(1, (len(fields) + 63) // 64)
    numbers, offset = [], 8 * words
    for index, kind in enumerate(kinds):
        if kind not in TEXT_KINDS:
            numbers.append(InputSlot(index, kind, offset))
            offset += SLOTS[kind][1]
    texts = []
    for index, kind in enumerate(kinds):
        if kind in TEXT_KINDS:
            texts.append(InputSlot(index, kind, offset, fields[index].type.scale))
            offset += 4
    return InputLayout(words, tuple(numbers), tuple(texts), offset)
