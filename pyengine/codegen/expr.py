"""Typed expression AST -> Java expression text.

Each ``java_<Node>`` method returns a parenthesised Java expression of the
node's Java type (see :func:`jtype`). Constants that should exist once per
class (regex patterns, ``in`` lists, missing-value errors) are registered in a
:class:`Constants` pool and emitted as ``static final`` fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyengine.codegen.javatext import length_prefixed, string_literal, text_literals
from pyengine.lang import ast
from pyengine.lang.types import ACTION, NULL, Type
from pyengine.reference import ops
from pyengine.reference.evaluator import convert


def jtype(t: Type) -> str:
    """The Java type holding values of ``t`` (a list: an array of its items)."""
    if t.kind == "list":
        assert t.elem is not None
        return jtype(t.elem) + "[]"
    if t.kind in ("int", "decimal", "timestamp"):
        return "long"
    if t.kind == "float":
        return "double"
    if t.kind == "bool":
        return "boolean"
    if t == ACTION:
        return "int"
    return "String"


def missing_helper(t: Type) -> str:
    """The Ops.missingX method returning ``t``'s Java type."""
    return "Ops.missing" + jtype(t).capitalize()


def literal(value: Any, t: Type) -> str:
    """A Java literal for a constant ``value`` of type ``t``."""
    if t.kind in ("int", "decimal", "timestamp"):
        if value == ops.INT_MIN:
            return "Long.MIN_VALUE"
        return f"{value}L" if value >= 0 else f"({value}L)"
    if t.kind == "float":
        text = repr(float(value))
        if text in ("inf", "-inf", "nan"):
            return {"inf": "Double.POSITIVE_INFINITY", "-inf": "Double.NEGATIVE_INFINITY",
                    "nan": "Double.NaN"}[text]
        return f"{text}d" if not text.startswith("-") else f"({text}d)"
    if t.kind == "bool":
        return "true" if value else "false"
    if t == ACTION:
        return f"Actions.{str(value).upper()}"
    return string_literal(str(value))


@dataclass
class Constants:
    """The ``static final`` constants of one generated class, and its ``final`` instance
    fields: a RuleSet belongs to one Evaluator, so those are its thread's own."""

    # (modifiers, type, initializer) -> name
    decls: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def add(self, java_type: str, init: str, stem: str, per_instance: bool = False) -> str:
        """Name of a constant (a field of each instance, ``per_instance``) with this
        initializer, declared once."""
        key = ("final" if per_instance else "static final", java_type, init)
        if key not in self.decls:
            self.decls[key] = f"{stem}_{len(self.decls)}"
        return self.decls[key]

    def lines(self) -> list[str]:
        """The declarations, in first-use order."""
        return [f"private {modifiers} {java_type} {name} = {init};"
                for (modifiers, java_type, init), name in self.decls.items()]


class Slots:
    """Where generated code finds fields, table outputs and table inputs."""

    def __init__(self, table_index: dict[str, int], nullable: dict[tuple[str, str], bool],
                 table_types: dict[tuple[str, str], Type], optional_fields: set[str]):
        self.table_index = table_index
        self.nullable = nullable
        self.table_types = table_types
        self.optional_fields = optional_fields

    def field(self, name: str) -> str:
        return f"r.f_{name}"

    def field_present(self, name: str) -> str:
        return f"r.has_{name}"

    def output(self, table: str, output: str) -> str:
        return f"t{self.table_index[table]}_{output}"

    def output_present(self, table: str, output: str) -> str:
        return f"t{self.table_index[table]}_{output}_has"


class JavaExpr(ast.Visitor):
    """Translates one expression; see :func:`to_java`."""

    prefix = "java"

    def __init__(self, slots: Slots, consts: Constants):
        self.slots = slots
        self.consts = consts

    def expr(self, node: ast.Node, target: Type | None = None) -> str:
        """Java text of ``node``, converted to ``target`` if given."""
        if target is not None and isinstance(node, ast.Literal) and node.value is not None:
            assert node.type is not None
            try:  # fold constant conversions: 1.5 as decimal(3) is simply 1500L
                return literal(convert(node.value, node.type, target), target)
            except ops.EvalFailure:
                pass  # overflows: leave the conversion to run time, where it raises
        code: str = self.visit(node)
        if target is None:
            return code
        assert node.type is not None
        return conversion(code, node.type, target)

    # -- leaves ----------------------------------------------------------
    def java_Literal(self, node: ast.Literal) -> str:
        assert node.type is not None
        return literal(node.value, node.type)

    def java_Name(self, node: ast.Name) -> str:
        value = self.slots.field(node.name)
        if node.name not in self.slots.optional_fields:
            return value
        assert node.type is not None
        err = self.missing(node.name)
        return f"({self.slots.field_present(node.name)} ? {value} : " \
               f"{missing_helper(node.type)}({err}))"

    def java_Select(self, node: ast.Select) -> str:
        t = self.slots.table_types[(node.table, node.output)]
        value = self.slots.output(node.table, node.output)
        if self.slots.nullable[(node.table, node.output)]:
            err = self.missing(f"{node.table}.{node.output}")
            value = f"({self.slots.output_present(node.table, node.output)} ? {value} : " \
                    f"{missing_helper(t)}({err}))"
        return f"Actions.NAMES[{value}]" if t == ACTION else value

    def java_InputRef(self, node: ast.InputRef) -> str:
        return f"in{node.index}"

    def missing(self, what: str) -> str:
        init = f"new EvalException(ErrorCode.MISSING_VALUE, {string_literal(what)})"
        return self.consts.add("EvalException", init, "MISSING")

    def present(self, node: ast.Node) -> str:
        if isinstance(node, ast.Name):
            return self.slots.field_present(node.name)
        assert isinstance(node, ast.Select)
        return self.slots.output_present(node.table, node.output)

    # -- operators -------------------------------------------------------
    def java_Unary(self, node: ast.Unary) -> str:
        inner = self.expr(node.operand)
        if node.op == "!":
            return f"(!{inner})"
        assert node.type is not None
        return f"(-{inner})" if node.type.kind == "float" else f"Ops.neg({inner})"

    def java_Binary(self, node: ast.Binary) -> str:
        op = node.op
        if op in ("&&", "||"):
            return f"({self.expr(node.left)} {op} {self.expr(node.right)})"
        t = node.operand_type
        assert t is not None
        if t == NULL:
            other = node.right if node.left.type == NULL else node.left
            return f"(!{self.present(other)})" if op == "==" else f"({self.present(other)})"
        if op == "in":
            return self.in_list(node, t)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return self.compare(node, t)
        return self.arithmetic(node, t)

    def compare(self, node: ast.Binary, t: Type) -> str:
        op = node.op
        if t.kind == "decimal":
            return f"(Dec.cmp({self.scaled(node.left)}, {self.scaled(node.right)}) {op} 0)"
        a, b = self.expr(node.left, t), self.expr(node.right, t)
        if t.kind == "string":
            if op in ("==", "!="):
                negate = "!" if op == "!=" else ""
                mapped = _case_mapped(node.left)
                if mapped is not None:  # (the right side is still evaluated second)
                    return f"({negate}Str.equalsAscii({self.expr(mapped[0])}, {mapped[1]}, {b}))"
                return f"({negate}{a}.equals({b}))"
            return f"(Str.compare({a}, {b}) {op} 0)"
        return f"({a} {op} {b})"

    def scaled(self, node: ast.Node) -> str:
        """``value, scale`` arguments for Dec functions (an int has scale 0)."""
        assert node.type is not None
        scale = node.type.scale if node.type.kind == "decimal" else 0
        return f"{self.expr(node)}, {scale}"

    def arithmetic(self, node: ast.Binary, t: Type) -> str:
        op = node.op
        if t.kind == "string":
            return f"{self.expr(node.left)}.concat({self.expr(node.right)})"
        if t.kind == "decimal" and op == "*":
            return f"Ops.mul({self.expr(node.left)}, {self.expr(node.right)})"
        if t.kind == "decimal" and op == "/":
            return f"Dec.div({self.scaled(node.left)}, {self.scaled(node.right)})"
        a, b = self.expr(node.left, t), self.expr(node.right, t)
        if t.kind == "float":
            return f"({a} {op} {b})"
        method = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod"}[op]
        return f"Ops.{method}({a}, {b})"

    def in_list(self, node: ast.Binary, t: Type) -> str:
        assert isinstance(node.right, ast.ListLit)
        x = self.expr(node.left, t)
        items = node.right.items
        array_type = f"{jtype(t)}[]"
        folded = _fold_items(items, t)
        if folded is not None and len(folded) > LONG_LIST and t.kind in _SORTABLE:
            name = self.consts.add(array_type, _sorted_array(folded, t), "IN")
            return f"Ops.inSorted({x}, {name})"
        if folded is not None:
            init = "{" + ", ".join(literal(v, t) for v in folded) + "}"
            name = self.consts.add(array_type, init, "IN")
            return f"Ops.in({x}, {name})"
        # Items that are not constants are evaluated on each call, left to right, as in CEL.
        values = ", ".join(self.expr(item, t) for item in items)
        return f"Ops.in({x}, new {array_type} {{{values}}})"

    def java_Ternary(self, node: ast.Ternary) -> str:
        assert node.type is not None
        then = self.expr(node.then, node.type)
        otherwise = self.expr(node.otherwise, node.type)
        return f"({self.expr(node.cond)} ? {then} : {otherwise})"

    def java_ListLit(self, node: ast.ListLit) -> str:
        raise AssertionError("list literals are translated by 'in'")

    # -- functions -------------------------------------------------------
    def java_Call(self, node: ast.Call) -> str:
        name = node.func
        if name == "has":
            return f"({self.present(node.args[0])})"
        if node.target is not None:
            return self.method_call(node)
        if name in ("min", "max"):
            t = node.operand_type
            return f"Ops.{name}({self.expr(node.args[0], t)}, {self.expr(node.args[1], t)})"
        arg = node.args[0]
        at = arg.type
        assert at is not None
        code = self.expr(arg)
        if name == "size":
            return f"Str.size({code})"
        if name == "abs":
            return f"Math.abs({code})" if at.kind == "float" else f"Ops.abs({code})"
        if name == "int":
            return _to_int(code, at)
        assert name == "double"
        return _to_double(code, at)

    def method(self, node: ast.Call, target: str) -> str:
        name = node.func
        if name.startswith("get"):
            return f"Times.{name}({target})"
        if name == "size":
            return f"Str.size({target})"
        if name in ("lowerAscii", "upperAscii"):
            return f"Str.{name}({target})"
        arg = node.args[0]
        if name == "matches":
            assert isinstance(arg, ast.Literal)
            init = f"Pattern.compile({string_literal(arg.value)}, Pattern.UNIX_LINES)"
            pattern = self.consts.add("Pattern", init, "RE")
            # One Search per RuleSet (an evaluator's, so a thread's), reset for each
            # value: Pattern.matcher made one and its arrays each call, most of what the
            # example rules allocated, and each of Java's collections then costs a full
            # Python collection under the GIL (JPype's reference queue runs one).
            search = self.consts.add("Str.Search", f"new Str.Search({pattern})", "SEARCH",
                                     per_instance=True)
            return f"Str.matches({search}, {target})"
        return f"{target}.{name}({self.expr(arg)})"

    def method_call(self, node: ast.Call) -> str:
        """A method call on its target; ``contains``, ``startsWith`` and ``endsWith`` on
        a case-mapped string compare with the mapping, without making the new string."""
        assert node.target is not None
        mapped = _case_mapped(node.target)
        if mapped is not None and node.func in ("contains", "startsWith", "endsWith"):
            target, upper = mapped
            return (f"Str.{node.func}Ascii({self.expr(target)}, {upper}, "
                    f"{self.expr(node.args[0])})")
        return self.method(node, self.expr(node.target))


def _case_mapped(node: ast.Node) -> tuple[ast.Node, str] | None:
    """(s, "true" for upperAscii, "false" for lowerAscii) of ``s.lowerAscii()`` or
    ``s.upperAscii()``; None for any other expression."""
    if isinstance(node, ast.Call) and node.target is not None and not node.args \
            and node.func in ("lowerAscii", "upperAscii"):
        return node.target, "true" if node.func == "upperAscii" else "false"
    return None


def conversion(code: str, src: Type, dst: Type) -> str:
    """Java text converting ``code`` from ``src`` to ``dst`` (checker-approved pairs)."""
    if src == dst or dst == NULL:
        return code
    if dst.kind == "float" and src.kind == "int":
        return f"((double) {code})"
    if dst.kind == "decimal":
        from_scale = src.scale if src.kind == "decimal" else 0
        by = dst.scale - from_scale
        return code if by == 0 else f"Dec.rescale({code}, {by})"
    if src == ACTION and dst.kind == "string":
        return f"Actions.NAMES[{code}]"
    return code


# int(x) and double(x) by the argument's kind: Java templates over {c} (code), {s} (scale).
_CONVERSIONS = {
    "int": {"int": "{c}", "float": "Ops.d2l({c})", "decimal": "Dec.toLong({c}, {s})",
            "string": "Ops.parseLong({c})"},
    "double": {"float": "{c}", "int": "((double) {c})", "decimal": "Dec.toDouble({c}, {s})",
               "string": "Ops.parseDouble({c})"},
}


def _to_int(code: str, t: Type) -> str:
    return _CONVERSIONS["int"][t.kind].format(c=code, s=t.scale)


def _to_double(code: str, t: Type) -> str:
    return _CONVERSIONS["double"][t.kind].format(c=code, s=t.scale)


# An 'in' list of more constants than this is written as text that its class reads when
# it loads, sorted, and searched by bisection: as Java literals, its values would fill
# the class initializer, which the JVM bounds to 64 KB of bytecode (about 8,000 longs),
# and be compared one by one.
LONG_LIST = 64
_SORTABLE = ("int", "decimal", "timestamp", "string")


def _sorted_array(values: list[Any], t: Type) -> str:
    """Java building the sorted array of ``values`` from text: Ops.sortedLongs reads the
    values apart by spaces, Ops.sortedStrings as javatext.length_prefixed writes them."""
    if t.kind == "string":
        return f"Ops.sortedStrings({text_literals(length_prefixed(values))})"
    return f"Ops.sortedLongs({text_literals(' '.join(map(str, values)))})"


def _fold_items(items: list[ast.Node], t: Type) -> list[Any] | None:
    """Constant values of ``in`` list items converted to ``t``, or None if not constant."""
    values = []
    for item in items:
        if not isinstance(item, ast.Literal) or item.type is None:
            return None
        try:
            values.append(convert(item.value, item.type, t))
        except ops.EvalFailure:
            return None  # e.g. an int too large for the decimal scale: fail at run time
    return values
