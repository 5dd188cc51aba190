"""AST of the expression language.

Every node carries its source position and declares its child fields in
``children``, so generic walkers need no per-node code. The type checker fills
in ``type`` (and, on operators, ``operand_type``, the type both operands are
converted to); code generators and the reference evaluator read them.
Visitors dispatch on the class name: ``visit_Binary``, ``java_Binary``...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pyengine.errors import Pos
from pyengine.lang.types import Type


@dataclass(eq=False)
class Node:
    """Base of all expression nodes."""

    pos: Pos
    type: Type | None = field(default=None, init=False, repr=False)

    children: ClassVar[tuple[str, ...]] = ()

    def iter_children(self) -> Iterator[Node]:
        """Child nodes in source order."""
        for name in self.children:
            value = getattr(self, name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, list):
                yield from value

    def walk(self) -> Iterator[Node]:
        """This node and all its descendants, depth first."""
        yield self
        for child in self.iter_children():
            yield from child.walk()


@dataclass(eq=False)
class Literal(Node):
    """``42``, ``1.50``, ``"text"``, ``true``, ``null``; ``text`` is the lexeme."""

    value: Any = None
    text: str = ""


@dataclass(eq=False)
class Name(Node):
    """A schema field."""

    name: str = ""


@dataclass(eq=False)
class Select(Node):
    """``table_id.output``: a table's own output value."""

    table: str = ""
    output: str = ""


@dataclass(eq=False)
class InputRef(Node):
    """The value under test in a table cell (DMN's ``?``): the table's input ``index``."""

    index: int = 0


@dataclass(eq=False)
class Unary(Node):
    """``!x`` or ``-x``."""

    op: str = ""
    operand: Node = field(default=None)  # type: ignore[assignment]

    children: ClassVar[tuple[str, ...]] = ("operand",)


@dataclass(eq=False)
class Binary(Node):
    """Arithmetic, comparison, logical operators and ``in``."""

    op: str = ""
    left: Node = field(default=None)  # type: ignore[assignment]
    right: Node = field(default=None)  # type: ignore[assignment]
    operand_type: Type | None = field(default=None, init=False, repr=False)

    children: ClassVar[tuple[str, ...]] = ("left", "right")


@dataclass(eq=False)
class Ternary(Node):
    """``cond ? then : otherwise``."""

    cond: Node = field(default=None)  # type: ignore[assignment]
    then: Node = field(default=None)  # type: ignore[assignment]
    otherwise: Node = field(default=None)  # type: ignore[assignment]

    children: ClassVar[tuple[str, ...]] = ("cond", "then", "otherwise")


@dataclass(eq=False)
class Call(Node):
    """A function ``f(args)`` or a method ``target.f(args)``."""

    func: str = ""
    target: Node | None = None
    args: list[Node] = field(default_factory=list)
    operand_type: Type | None = field(default=None, init=False, repr=False)

    children: ClassVar[tuple[str, ...]] = ("target", "args")


@dataclass(eq=False)
class ListLit(Node):
    """``[a, b]``, only on the right of ``in``."""

    items: list[Node] = field(default_factory=list)

    children: ClassVar[tuple[str, ...]] = ("items",)


class Visitor:
    """Dispatches ``visit(node)`` to ``<prefix>_<ClassName>(node)``."""

    prefix = "visit"

    def visit(self, node: Node, *args: Any) -> Any:
        """Call the method for ``node``'s class."""
        method = getattr(self, f"{self.prefix}_{type(node).__name__}")
        return method(node, *args)
