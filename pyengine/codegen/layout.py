"""The byte layout of a single-transaction result, shared by Java and Python.

``Evaluator.evaluateValues`` writes one transaction's result into a buffer Python
owns, and Python reads it with one ``struct.unpack_from``: no per-field JPype
calls. Both sides come from :func:`single_layout`, so they cannot disagree.

Layout (native byte order, unaligned): a header of int32 error, ruleset,
errorWhere, decision, string-dictionary generation and fired count; then
``max_fired`` int32 codes into ``Program.fired_ids``; then per output a validity
byte, and for a list an int32 item count, followed by its value slots.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyengine.codegen.expr import jtype
from pyengine.lang.types import Type
from pyengine.spec.program import Program

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
    java = jtype(t.elem if t.kind == "list" and t.elem is not None else t)
    return "string" if java == "String" else java
