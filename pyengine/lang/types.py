"""Static types of the expression language and of schema fields."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SCALE = 18  # 10**18 still fits a signed 64-bit integer
MAX_FIELD_SCALE = 9  # RULES-FORMAT.md: decimal(S) with 0 <= S <= 9 in a schema


@dataclass(frozen=True)
class Type:
    """A value type; ``scale`` is used by decimals only."""

    kind: str
    scale: int = 0
    elem: Type | None = None  # for lists: the item type

    def __str__(self) -> str:
        if self.kind == "decimal":
            return f"decimal({self.scale})"
        if self.kind == "list":
            return f"list({self.elem})"
        return self.kind

    @property
    def item(self) -> Type:
        """The type of a value: for a list, of each of its items."""
        return self.elem if self.kind == "list" and self.elem is not None else self

    @property
    def is_numeric(self) -> bool:
        """int, float and decimal."""
        return self.kind in ("int", "float", "decimal")


INT = Type("int")
FLOAT = Type("float")
BOOL = Type("bool")
STRING = Type("string")
TIMESTAMP = Type("timestamp")
NULL = Type("null")
ACTION = Type("action")  # a table output named `action`: approve | flag | review | reject


def list_of(elem: Type) -> Type:
    """The list type with items of type ``elem`` (collect tables without aggregate)."""
    return Type("list", elem=elem)


def assignable(src: Type, dst: Type) -> bool:
    """Whether a value of type ``src`` converts to ``dst`` exactly (or is null)."""
    if src in (dst, NULL):
        return True
    if src.kind == "int":
        return dst.kind in ("float", "decimal")
    return src.kind == dst.kind == "decimal" and src.scale <= dst.scale


def scale_of(t: Type | None) -> int:
    """The digits after the point of a checked numeric type: a decimal's scale, else 0."""
    assert t is not None
    return t.scale if t.kind == "decimal" else 0


def decimal(scale: int) -> Type:
    """The decimal type with ``scale`` digits after the point."""
    return Type("decimal", scale)


_SIMPLE = {"int": INT, "float": FLOAT, "bool": BOOL, "string": STRING, "timestamp": TIMESTAMP}
_DECIMAL = re.compile(r"decimal\((\d+)\)")


def parse_type(text: str, *, allow_action: bool = False) -> Type:
    """Parse a type name as written in schema.yaml or table outputs.

    Raises ValueError with a user-facing message.
    """
    text = text.strip()
    if text in _SIMPLE:
        return _SIMPLE[text]
    if allow_action and text == "action":
        return ACTION
    m = _DECIMAL.fullmatch(text)
    if m:
        scale = int(m.group(1))
        if scale > MAX_FIELD_SCALE:
            raise ValueError(f"decimal scale must be between 0 and {MAX_FIELD_SCALE}, got {scale}")
        return decimal(scale)
    names = ", ".join([*_SIMPLE, "decimal(S)"])
    raise ValueError(f"unknown type '{text}' (expected one of {names})")


def numeric_join(a: Type, b: Type) -> Type | None:
    """The type two numeric operands are converted to, or None if they don't mix.

    int mixes with float (promoted to float) and with decimal (exact); decimals of
    different scales meet at the larger scale; decimal and float never mix.
    """
    if not (a.is_numeric and b.is_numeric):
        return None
    if a == b:
        return a
    kinds = {a.kind, b.kind}
    if kinds == {"int", "float"}:
        return FLOAT
    if kinds == {"decimal", "float"}:
        return None
    return decimal(max(a.scale, b.scale))


def join(a: Type, b: Type) -> Type | None:
    """The common type of two values (outputs, ternary branches), or None."""
    if a == b:
        return a
    return numeric_join(a, b)
