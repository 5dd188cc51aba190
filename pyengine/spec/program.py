"""The resolved, type-checked form of a rules directory.

This is what every back end consumes: the Java generator, the reference
evaluator, ``explain`` and ``test-rules``. Extends are already resolved, rules
are in evaluation order, and every expression is a typed AST.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pyengine.errors import Pos
from pyengine.lang import ast
from pyengine.lang.types import Type

ACTIONS = ("approve", "flag", "review", "reject")  # in increasing severity
RESERVED_COLUMNS = frozenset(
    {"id", "client_id", "ruleset", "decision", "fired", "ruleset_version", "error", "action"}
)


@dataclass(frozen=True)
class FieldDef:
    """A schema field."""

    name: str
    type: Type
    optional: bool
    pos: Pos


@dataclass(frozen=True)
class Schema:
    """The transaction schema shared by every rule set of a directory."""

    fields: dict[str, FieldDef]
    path: str

    @cached_property
    def reader(self) -> Callable[[Any], tuple[Any, ...] | None]:
        """The fast reader of JSON-like transactions (:func:`pyengine.records.compile_reader`)."""
        from pyengine.records import compile_reader

        return compile_reader(self)


@dataclass
class Expr:
    """An expression with its source text and typed AST."""

    text: str
    node: ast.Node
    pos: Pos

    @property
    def type(self) -> Type:
        """The checked type (set once the resolver succeeded)."""
        assert self.node.type is not None
        return self.node.type


@dataclass
class Rule:
    """A rule as evaluated: ``origin`` is the rule set that defined it."""

    id: str
    when: Expr
    action: str
    reason: str | None
    priority: int
    hot: bool
    sets: list[tuple[str, Expr | None]]
    origin: str
    pos: Pos


@dataclass(frozen=True)
class Output:
    """A declared table output; ``nullable`` when no default covers it."""

    name: str
    type: Type
    nullable: bool


@dataclass
class Row:
    """A table row: one boolean test per input, one expression per output."""

    tests: list[Expr]
    values: list[Expr | None]
    pos: Pos


@dataclass
class Table:
    """A decision table as evaluated."""

    id: str
    hit: str
    aggregate: str | None
    inputs: list[Expr]
    outputs: list[Output]
    default: list[Expr | None] | None
    rows: list[Row]
    origin: str
    pos: Pos

    def output(self, name: str) -> Output:
        """The output called ``name``."""
        return next(o for o in self.outputs if o.name == name)


@dataclass
class RuleTest:
    """A ``tests:`` case of a rule set file."""

    name: str
    txn: dict[str, Any]
    expect: dict[str, Any]
    pos: Pos


@dataclass
class RuleSet:
    """A rule set with extends resolved: ``tables`` and ``rules`` in evaluation order."""

    name: str
    path: str
    clients: list[str]
    default: bool
    mode: str
    tables: list[Table]
    rules: list[Rule]
    tests: list[RuleTest]
    outputs: dict[str, Type] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        """Fired-bit order: tables, then rules, in evaluation order."""
        return [t.id for t in self.tables] + [r.id for r in self.rules]


@dataclass
class Program:
    """A whole rules directory, resolved."""

    root: str
    schema: Schema
    rulesets: list[RuleSet]  # sorted by name
    routes: dict[str, str]  # client_id -> rule set name
    default_set: str | None
    outputs: dict[str, Type]  # result columns beyond the fixed ones, sorted by name
    version: str  # sha256 of the normalized rules
    sources: dict[str, str]  # file text by path, for error carets

    def list_capacity(self, name: str) -> int:
        """The most items output ``name`` can hold: 1 for scalars, the row count for lists."""
        if self.outputs[name].kind != "list":
            return 1
        return max(len(t.rows) for rs in self.rulesets for t in rs.tables
                   if any(o.name == name for o in t.outputs))

    @cached_property
    def read_fields(self) -> set[str]:
        """Fields some expression of the program reads, plus client_id (routing)."""
        exprs: list[Expr] = []
        for rs in self.rulesets:
            for r in rs.rules:
                exprs += [r.when] + [e for _, e in r.sets if e is not None]
            for t in rs.tables:
                exprs += t.inputs + [e for row in t.rows for e in [*row.tests, *row.values] if e]
                exprs += [e for e in t.default or [] if e is not None]
        names = {n.name for e in exprs for n in e.node.walk() if isinstance(n, ast.Name)}
        return names | {"client_id"}

    @cached_property
    def fired_ids(self) -> list[str]:
        """Every table and rule id of every rule set, sorted: the fired column's dictionary."""
        return sorted({i for rs in self.rulesets for i in rs.ids})

    @cached_property
    def max_fired(self) -> int:
        """The most ids one transaction can fire: the largest rule set's."""
        return max(len(rs.ids) for rs in self.rulesets)

    def ruleset(self, name: str) -> RuleSet:
        """The rule set called ``name``."""
        return next(r for r in self.rulesets if r.name == name)

    def route(self, client_id: str) -> RuleSet | None:
        """The rule set serving ``client_id``, the default set, or None."""
        name = self.routes.get(client_id, self.default_set)
        return self.ruleset(name) if name is not None else None
