"""Static type checker for expressions.

Checks one expression against a :class:`Scope` (schema fields, the tables
visible at that point, and the inputs of the table a cell belongs to), fills in
``node.type`` and ``node.operand_type``, and collects every problem as a
positioned diagnostic. A node that fails to type gets ``None`` and its parents
stay quiet, so one mistake gives one message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from pyengine.errors import Diagnostic, Pos
from pyengine.lang import ast, regex
from pyengine.lang.types import (
    ACTION,
    BOOL,
    FLOAT,
    INT,
    MAX_SCALE,
    NULL,
    STRING,
    TIMESTAMP,
    Type,
    decimal,
    join,
    numeric_join,
)

INT_MIN, INT_MAX = -(2**63), 2**63 - 1

TIMESTAMP_METHODS = (
    "getHours", "getMinutes", "getSeconds", "getDayOfWeek", "getDayOfMonth", "getDate",
    "getMonth", "getFullYear",
)
STRING_PREDICATES = ("startsWith", "endsWith", "contains", "matches")
STRING_TRANSFORMS = ("lowerAscii", "upperAscii")


@dataclass(frozen=True)
class Slot:
    """A named value an expression can read: a field or a table output."""

    type: Type
    nullable: bool = False


@dataclass
class Scope:
    """What an expression may refer to."""

    fields: dict[str, Slot]
    tables: dict[str, dict[str, Slot]] = field(default_factory=dict)
    inputs: list[Type] = field(default_factory=list)
    later_tables: set[str] = field(default_factory=set)


class Checker(ast.Visitor):
    """Types one expression tree; see :func:`check`."""

    prefix = "check"

    def __init__(self, scope: Scope):
        self.scope = scope
        self.diagnostics: list[Diagnostic] = []

    def error(self, pos: Pos, message: str) -> None:
        self.diagnostics.append(Diagnostic(pos, message))

    def type_of(self, node: ast.Node) -> Type | None:
        node.type = self.visit(node)
        return node.type

    # -- leaves ----------------------------------------------------------
    def check_Literal(self, node: ast.Literal) -> Type | None:
        value = node.value
        if value is None:
            return NULL
        if isinstance(value, bool):
            return BOOL
        if isinstance(value, int):
            if not INT_MIN <= value <= INT_MAX:
                self.error(node.pos, f"integer literal {node.text} is out of the 64-bit range")
                return None
            return INT
        if isinstance(value, float):
            return FLOAT
        return STRING

    def check_Name(self, node: ast.Name) -> Type | None:
        slot = self.scope.fields.get(node.name)
        if slot is None:
            hint = ""
            if node.name in self.scope.tables or node.name in self.scope.later_tables:
                hint = f" ('{node.name}' is a table: use {node.name}.<output>)"
            else:
                hint = did_you_mean(node.name, self.scope.fields)
            self.error(node.pos, f"unknown name '{node.name}'{hint}")
            return None
        return slot.type

    def check_Select(self, node: ast.Select) -> Type | None:
        outputs = self.scope.tables.get(node.table)
        if outputs is None:
            if node.table in self.scope.later_tables:
                self.error(node.pos, f"table '{node.table}' is evaluated after this one")
            else:
                hint = did_you_mean(node.table, self.scope.tables)
                self.error(node.pos, f"unknown table '{node.table}'{hint}")
            return None
        slot = outputs.get(node.output)
        if slot is None:
            hint = did_you_mean(node.output, outputs)
            self.error(node.pos, f"table '{node.table}' has no output '{node.output}'{hint}")
            return None
        if slot.type.kind == "list":
            self.error(node.pos, f"'{node.table}.{node.output}' is the list of a collect table "
                       "without aggregate; expressions cannot use it")
            return None
        # An action output reads as its name: region.action == "reject".
        return STRING if slot.type == ACTION else slot.type

    def check_InputRef(self, node: ast.InputRef) -> Type | None:
        return self.scope.inputs[node.index]

    # -- operators -------------------------------------------------------
    def check_Unary(self, node: ast.Unary) -> Type | None:
        t = self.type_of(node.operand)
        if t is None:
            return None
        if node.op == "!":
            return BOOL if self.expect_bool(node.operand, t, "operand of '!'") else None
        if t.is_numeric:
            return t
        self.error(node.pos, f"'-' needs a number, not {t}")
        return None

    def check_Binary(self, node: ast.Binary) -> Type | None:
        if node.op == "in":
            return self.check_in(node)
        lt, rt = self.type_of(node.left), self.type_of(node.right)
        if lt is None or rt is None:
            return None
        if node.op in ("&&", "||"):
            ok = self.expect_bool(node.left, lt, f"left of '{node.op}'")
            ok2 = self.expect_bool(node.right, rt, f"right of '{node.op}'")
            return BOOL if ok and ok2 else None
        if node.op in ("==", "!=") and NULL in (lt, rt):
            return self.check_null_compare(node)
        lt, rt = self.adapt_pair(node.left, node.right)
        if node.op in ("==", "!=", "<", "<=", ">", ">="):
            return self.check_compare(node, lt, rt)
        return self.check_arithmetic(node, lt, rt)

    def check_compare(self, node: ast.Binary, lt: Type, rt: Type) -> Type | None:
        common = numeric_join(lt, rt) or (lt if lt == rt else None)
        ordered = common is not None and (common.is_numeric or common in (STRING, TIMESTAMP))
        if common is None or (node.op not in ("==", "!=") and not ordered):
            self.error(node.pos, f"cannot compare {lt} {node.op} {rt}{_mix_hint(lt, rt)}")
            return None
        node.operand_type = common
        return BOOL

    def check_null_compare(self, node: ast.Binary) -> Type | None:
        other = node.right if node.left.type == NULL else node.left
        if other.type == NULL or not self.is_nullable(other):
            self.error(node.pos, "only an optional field or a table output can be compared "
                       "with null")
            return None
        node.operand_type = NULL
        return BOOL

    def check_arithmetic(self, node: ast.Binary, lt: Type, rt: Type) -> Type | None:
        op = node.op
        if op == "+" and lt == rt == STRING:
            node.operand_type = STRING
            return STRING
        common = numeric_join(lt, rt)
        if common is None or (op == "%" and common != INT):
            need = "two ints" if op == "%" else "numbers"
            self.error(node.pos, f"'{op}' needs {need}, not {lt} and {rt}{_mix_hint(lt, rt)}")
            return None
        node.operand_type = common
        if common.kind == "decimal" and op == "*":
            scale = lt.scale + rt.scale
            if scale > MAX_SCALE:
                self.error(node.pos, f"decimal product would need scale {scale} > {MAX_SCALE}")
                return None
            return decimal(scale)
        return common

    def check_in(self, node: ast.Binary) -> Type | None:
        assert isinstance(node.right, ast.ListLit)
        members = [node.left, *node.right.items]
        types = [self.type_of(m) for m in members]
        if any(t is None for t in types):
            return None
        decimals = [t for t in types if t is not None and t.kind == "decimal"]
        if decimals:
            for member in members:
                self.adapt(member, decimals[0])
        common = node.left.type
        for item in node.right.items:
            assert common is not None and item.type is not None
            joined = join(common, item.type)
            if joined is None:
                self.error(item.pos, f"list item of type {item.type} cannot be compared with "
                           f"{common}{_mix_hint(common, item.type)}")
                return None
            common = joined
        if common in (BOOL, NULL):
            self.error(node.pos, f"'in' does not apply to {common}")
            return None
        node.operand_type = common
        node.right.type = common
        return BOOL

    def check_Ternary(self, node: ast.Ternary) -> Type | None:
        ct = self.type_of(node.cond)
        tt, ot = self.type_of(node.then), self.type_of(node.otherwise)
        if ct is None or tt is None or ot is None:
            return None
        if not self.expect_bool(node.cond, ct, "condition of '?:'"):
            return None
        tt, ot = self.adapt_pair(node.then, node.otherwise)
        common = join(tt, ot)
        if common is None or common == NULL:
            self.error(node.pos, f"branches of '?:' have different types {tt} and {ot}")
            return None
        return common

    def check_ListLit(self, node: ast.ListLit) -> Type | None:
        self.error(node.pos, "a list literal is allowed only on the right of 'in'")
        return None

    # -- functions -------------------------------------------------------
    def check_Call(self, node: ast.Call) -> Type | None:
        if node.func == "has":
            return self.check_has(node)
        target = self.type_of(node.target) if node.target is not None else None
        args = [self.type_of(a) for a in node.args]
        if (node.target is not None and target is None) or any(a is None for a in args):
            return None
        if node.target is None:
            return self.check_function(node, [a for a in args if a is not None])
        assert target is not None
        return self.check_method(node, target, [a for a in args if a is not None])

    def check_has(self, node: ast.Call) -> Type | None:
        if node.target is not None or len(node.args) != 1:
            self.error(node.pos, "has() takes one field or table output: has(field)")
            return None
        arg = node.args[0]
        if not isinstance(arg, ast.Name | ast.Select):
            self.error(arg.pos, "has() takes a field name or table_id.output")
            return None
        if self.type_of(arg) is None:
            return None
        if not self.is_nullable(arg):
            what = "field" if isinstance(arg, ast.Name) else "table output"
            self.error(arg.pos, f"has() needs an optional value; this {what} is always present")
            return None
        return BOOL

    def check_function(self, node: ast.Call, args: list[Type]) -> Type | None:
        name = node.func
        arity = {"size": 1, "int": 1, "double": 1, "abs": 1, "min": 2, "max": 2}
        if name not in arity:
            known = ", ".join([*arity, "has"])
            self.error(node.pos, f"unknown function '{name}' (functions: {known}; methods "
                       "are called as value.method())")
            return None
        if len(args) != arity[name]:
            self.error(node.pos, f"{name}() takes {arity[name]} argument(s), got {len(args)}")
            return None
        if name == "size":
            return self.expect_arg(node, args[0], (STRING,), INT)
        if name == "int":
            return self.expect_conversion(node, args[0], INT)
        if name == "double":
            return self.expect_conversion(node, args[0], FLOAT)
        if name == "abs":
            if not args[0].is_numeric:
                self.error(node.pos, f"abs() needs a number, not {args[0]}")
                return None
            return args[0]
        a, b = self.adapt_pair(node.args[0], node.args[1])
        common = numeric_join(a, b)
        if common is None:
            self.error(node.pos, f"{name}() needs two numbers that mix, not {a} and {b}"
                       f"{_mix_hint(a, b)}")
            return None
        node.operand_type = common
        return common

    def check_method(self, node: ast.Call, target: Type, args: list[Type]) -> Type | None:
        name = node.func
        if name in TIMESTAMP_METHODS:
            return self.method_sig(node, target, TIMESTAMP, args, [], INT)
        if name in STRING_PREDICATES:
            result = self.method_sig(node, target, STRING, args, [STRING], BOOL)
            if result is not None and name == "matches" and not self.check_regex(node.args[0]):
                return None
            return result
        if name in STRING_TRANSFORMS:
            return self.method_sig(node, target, STRING, args, [], STRING)
        if name == "size":
            return self.method_sig(node, target, STRING, args, [], INT)
        self.error(node.pos, f"unknown method '{name}'")
        return None

    def method_sig(self, node: ast.Call, target: Type, want: Type, args: list[Type],
                   params: list[Type], result: Type) -> Type | None:
        if target != want:
            self.error(node.pos, f"{node.func}() applies to {want}, not {target}")
            return None
        if args != params:
            sig = ", ".join(str(p) for p in params)
            got = ", ".join(str(a) for a in args)
            self.error(node.pos, f"{node.func}() takes ({sig}), got ({got})")
            return None
        return result

    def check_regex(self, arg: ast.Node) -> bool:
        if not (isinstance(arg, ast.Literal) and isinstance(arg.value, str)):
            self.error(arg.pos, "matches() takes a string literal pattern (it is compiled "
                       "and checked at build time)")
            return False
        problem = regex.check(arg.value)
        if problem:
            self.error(arg.pos, f"invalid pattern: {problem}")
        return problem is None

    def expect_conversion(self, node: ast.Call, arg: Type, result: Type) -> Type | None:
        if arg.is_numeric or arg == STRING:
            node.operand_type = arg
            return result
        self.error(node.pos, f"{node.func}() converts a number or a string, not {arg}")
        return None

    def expect_arg(self, node: ast.Call, arg: Type, allowed: tuple[Type, ...],
                   result: Type) -> Type | None:
        if arg in allowed:
            return result
        self.error(node.pos, f"{node.func}() applies to {allowed[0]}, not {arg}")
        return None

    # -- helpers ---------------------------------------------------------
    def expect_bool(self, node: ast.Node, t: Type, what: str) -> bool:
        if t != BOOL:
            self.error(node.pos, f"{what} must be bool, not {t}")
            return False
        return True

    def is_nullable(self, node: ast.Node) -> bool:
        if isinstance(node, ast.Name):
            slot = self.scope.fields.get(node.name)
            return slot is not None and slot.nullable
        if isinstance(node, ast.Select):
            outputs = self.scope.tables.get(node.table, {})
            slot = outputs.get(node.output)
            return slot is not None and slot.nullable
        return False

    def adapt_pair(self, a: ast.Node, b: ast.Node) -> tuple[Type, Type]:
        assert a.type is not None and b.type is not None
        return self.adapt(a, b.type), self.adapt(b, a.type)

    def adapt(self, node: ast.Node, other: Type | None) -> Type:
        """Make a float literal exact when it meets a decimal (RULES-FORMAT.md)."""
        problem = coerce_literal(node, other)
        if problem:
            self.diagnostics.append(problem)
        assert node.type is not None
        return node.type


def coerce_literal(node: ast.Node, other: Type | None) -> Diagnostic | None:
    """Retype a float literal as an exact decimal when ``other`` is a decimal.

    Returns a diagnostic when the literal does not fit a decimal.
    """
    if other is None or other.kind != "decimal" or node.type != FLOAT:
        return None
    if not isinstance(node, ast.Literal):
        return None
    exact = decimal_literal(node.text)
    if exact is None:
        return Diagnostic(node.pos, f"literal {node.text} does not fit a decimal "
                          f"(at most {MAX_SCALE} digits after the point, 64-bit range)")
    node.type = decimal(exact[1])
    node.value = exact[0]
    return None


def decimal_literal(text: str) -> tuple[int, int] | None:
    """``(unscaled, scale)`` of a numeric literal read exactly, or None if it doesn't fit."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    scale = max(0, -exponent)
    if scale > MAX_SCALE:
        return None
    unscaled = int(d.scaleb(scale))
    if not INT_MIN <= unscaled <= INT_MAX:
        return None
    return unscaled, scale


def did_you_mean(name: str, candidates: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    names = [str(c) for c in candidates]
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _mix_hint(a: Type | None, b: Type | None) -> str:
    kinds = {a.kind if a else "", b.kind if b else ""}
    if kinds == {"decimal", "float"}:
        return "; a decimal never mixes with a float: convert with double(x)"
    return ""


def check(node: ast.Node, scope: Scope) -> tuple[Type | None, list[Diagnostic]]:
    """Type ``node`` in ``scope``; returns its type (None on error) and the problems."""
    checker = Checker(scope)
    return checker.type_of(node), checker.diagnostics

