"""The rules as polars expressions: what a team would write instead of pyengine.

:func:`translate` turns a resolved program into one lazy polars query per rule
set, built from the same typed AST the Java generator reads; :meth:`PolarsRules.evaluate`
runs them over an Arrow table and returns, per row, the rule set, the decision, the
fired ids, the outputs and whether evaluation failed.

Semantics follow the reference evaluator exactly, with one convention: inside an
expression, null means "this evaluation failed" (a missing value, an overflow, a
division by zero, a bad conversion). That is sound because reading an absent field
or table output is itself an error; ``has()`` and ``== null`` look at the columns
directly. ``&&``, ``||`` and ``?:`` short-circuit as in CEL, so an error on the side
not evaluated does not count. Ints and decimals (scaled int64, as in Java) are
computed in int128 and range-checked, as Java's ``Math.*Exact`` does.

Two things are not the same as pyengine, and are documented in docs/benchmarks.md:
error records are marked failed without the error's kind, and ``matches()`` runs on
Rust's regex engine (patterns are rewritten to keep the ASCII classes and ``$``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import polars as pl
import pyarrow as pa

from pyengine.lang import ast
from pyengine.lang.types import ACTION, NULL, Type, scale_of
from pyengine.reference.ops import INT_MAX, INT_MIN
from pyengine.spec.program import ACTIONS, Program, Rule, RuleSet, Table

I128 = pl.Int128
_NONE = pl.lit(None)
_UPPER = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
_LOWER = [c.lower() for c in _UPPER]


def translate(program: Program) -> PolarsRules:
    """The polars form of ``program``; evaluate tables with :meth:`PolarsRules.evaluate`."""
    return PolarsRules(program)


# -- values: null is an evaluation error ------------------------------------
def checked(v: pl.Expr) -> pl.Expr:
    """An int128 result as int64, or null (overflow) when it does not fit."""
    return pl.when(v.is_between(INT_MIN, INT_MAX)).then(v).otherwise(_NONE).cast(pl.Int64)


def fails(v: pl.Expr) -> pl.Expr:
    """Null when ``v`` is null, else false: the way to say "if ``v`` failed"."""
    return pl.when(v.is_null()).then(_NONE).otherwise(pl.lit(False))


def and_(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """CEL's short-circuit ``&&``: ``b`` counts (and can fail) only when ``a`` is true."""
    return pl.when(a.is_null()).then(_NONE).when(~a).then(pl.lit(False)).otherwise(b)


def or_(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """CEL's short-circuit ``||``."""
    return pl.when(a.is_null()).then(_NONE).when(a).then(pl.lit(True)).otherwise(b)


def neg(v: pl.Expr) -> pl.Expr:
    """``-v`` for int128 (polars has no negation for that type)."""
    return pl.lit(0, I128) - v


def abs_(v: pl.Expr) -> pl.Expr:
    """``abs(v)`` for int128."""
    return pl.when(v < 0).then(neg(v)).otherwise(v)


def trunc_div(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Java's integer division (toward zero) of int128 values; null on division by zero."""
    q = abs_(a) // abs_(b)
    q = pl.when((a >= 0) == (b >= 0)).then(q).otherwise(neg(q))
    return checked(pl.when(b == 0).then(_NONE).otherwise(q))


def _float_compare(op: str, a: pl.Expr, b: pl.Expr) -> pl.Expr:
    # polars orders NaN above everything and equal to itself; IEEE (Java, Python) says
    # every comparison with NaN is false except !=.
    nan = a.is_nan() | b.is_nan()
    plain = _COMPARE[op](a, b)
    result = (plain | nan) if op == "!=" else (plain & ~nan)
    # A failed side stays a failure: Kleene logic would make null & false false, so a
    # NaN on one side hid a failure (a missing value) on the other.
    return pl.when(a.is_null() | b.is_null()).then(_NONE).otherwise(result)


_COMPARE: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def rescale(v: pl.Expr, src: int, dst: int) -> pl.Expr:
    """A scaled int from scale ``src`` to the larger ``dst``; null on overflow."""
    return v if src == dst else checked(v.cast(I128) * 10 ** (dst - src))


def convert(v: pl.Expr, src: Type, dst: Type) -> pl.Expr:
    """The reference evaluator's ``convert`` between compatible types."""
    if NULL in (src, dst) or src == dst:
        return v
    if dst.kind == "float" and src.kind == "int":
        return v.cast(pl.Float64)
    if dst.kind == "decimal" and src.kind in ("int", "decimal"):
        return rescale(v, src.scale, dst.scale)
    return v  # action -> string


def rust_regex(pattern: str) -> str:
    """``pattern`` (the subset of lang/regex.py) for Rust's regex, with the same meaning.

    Python's ``re.ASCII`` classes become POSIX ASCII classes, and ``$`` (which also
    matches before a final newline in Python and Java) becomes ``\\n?\\z``.
    """
    out: list[str] = []
    in_class, i = False, 0
    classes = {"d": "digit", "w": "word", "s": "space"}
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            e = pattern[i + 1]
            name = classes.get(e.lower())
            if name is None:
                out.append(pattern[i:i + 2])
            else:
                posix = f"[:{'^' if e.isupper() else ''}{name}:]"
                out.append(posix if in_class else f"[{posix}]")
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            if pattern[i + 1:i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1:i + 2] == "]":  # a leading ] is a literal
                out.append("\\]")
                i += 1
        elif c == "]" and in_class:
            in_class = False
            out.append(c)
        elif c == "$" and not in_class:
            out.append("(?:\\n?\\z)")
        else:
            out.append(c)
        i += 1
    return "".join(out)


class ExprTranslator(ast.Visitor):
    """One typed expression tree as a polars expression (null: the evaluation failed)."""

    prefix = "polars"

    def __init__(self, columns: ColumnNames, inputs: Sequence[str] = ()):
        self.columns = columns
        self.inputs = inputs

    def expr(self, node: ast.Node) -> pl.Expr:
        """The polars expression of ``node``."""
        result: pl.Expr = self.visit(node)
        return result

    def as_type(self, node: ast.Node, target: Type | None) -> pl.Expr:
        """``node`` converted to ``target``."""
        assert node.type is not None and target is not None
        return convert(self.expr(node), node.type, target)

    # -- leaves ----------------------------------------------------------
    def polars_Literal(self, node: ast.Literal) -> pl.Expr:
        if node.value is None:
            return _NONE
        dtype = {"int": pl.Int64, "decimal": pl.Int64, "float": pl.Float64,
                 "bool": pl.Boolean, "string": pl.String, "action": pl.String,
                 "timestamp": pl.Int64}
        assert node.type is not None
        return pl.lit(node.value, dtype[node.type.kind])

    def polars_Name(self, node: ast.Name) -> pl.Expr:
        return pl.col(self.columns.field(node.name))

    def polars_Select(self, node: ast.Select) -> pl.Expr:
        return pl.col(self.columns.output(node.table, node.output))

    def polars_InputRef(self, node: ast.InputRef) -> pl.Expr:
        return pl.col(self.inputs[node.index])

    def present(self, node: ast.Node) -> pl.Expr:
        """``has(node)``: the column itself is not null."""
        return self.expr(node).is_not_null()

    # -- operators -------------------------------------------------------
    def polars_Unary(self, node: ast.Unary) -> pl.Expr:
        v = self.expr(node.operand)
        if node.op == "!":
            return ~v
        assert node.type is not None
        return -v if node.type.kind == "float" else checked(neg(v.cast(I128)))

    def polars_Binary(self, node: ast.Binary) -> pl.Expr:
        op, t = node.op, node.operand_type
        if op in ("&&", "||"):
            return (and_ if op == "&&" else or_)(self.expr(node.left), self.expr(node.right))
        assert t is not None
        if t == NULL:
            other = node.right if node.left.type == NULL else node.left
            absent = ~self.present(other)
            return absent if op == "==" else ~absent
        if op == "in":
            return self.member(node, t)
        if op in _COMPARE:
            return self.compare(node, t)
        return self.arithmetic(node, t)

    def member(self, node: ast.Binary, t: Type) -> pl.Expr:
        assert isinstance(node.right, ast.ListLit)
        x = self.as_type(node.left, t)
        items = node.right.items
        literals = [i for i in items if isinstance(i, ast.Literal)]
        if len(literals) == len(items):
            values = [self.literal_value(i, t) for i in literals]
            return pl.when(x.is_null()).then(_NONE).otherwise(x.is_in(values))
        exprs = [self.as_type(i, t) for i in items]
        equal = [_float_compare("==", x, e) if t.kind == "float" else x == e for e in exprs]
        # Every item is evaluated first (as in the reference), so any failure fails.
        any_failed = pl.any_horizontal([x.is_null(), *[e.is_null() for e in exprs]])
        return pl.when(any_failed).then(_NONE).otherwise(pl.any_horizontal(equal))

    @staticmethod
    def literal_value(node: ast.Literal, t: Type) -> Any:
        assert node.type is not None
        if t.kind == "decimal" and node.type.kind in ("int", "decimal"):
            return node.value * 10 ** (t.scale - node.type.scale)
        return float(node.value) if t.kind == "float" else node.value

    def compare(self, node: ast.Binary, t: Type) -> pl.Expr:
        if t.kind == "decimal":  # at the larger scale, in int128: never overflows
            a, b = self.expr(node.left), self.expr(node.right)
            sa, sb = scale_of(node.left.type), scale_of(node.right.type)
            s = max(sa, sb)
            x, y = a.cast(I128) * 10 ** (s - sa), b.cast(I128) * 10 ** (s - sb)
            return _COMPARE[node.op](x, y)
        x, y = self.as_type(node.left, t), self.as_type(node.right, t)
        if t.kind == "float":
            return _float_compare(node.op, x, y)
        return _COMPARE[node.op](x, y)

    def arithmetic(self, node: ast.Binary, t: Type) -> pl.Expr:
        op = node.op
        if t.kind == "string":
            return pl.concat_str([self.expr(node.left), self.expr(node.right)])
        if t.kind == "decimal" and op in ("*", "/"):
            a, b = self.expr(node.left).cast(I128), self.expr(node.right).cast(I128)
            if op == "*":
                return checked(a * b)
            sa, sb = scale_of(node.left.type), scale_of(node.right.type)
            return trunc_div(checked(a * 10 ** (max(sa, sb) - sa + sb)).cast(I128), b)
        a, b = self.as_type(node.left, t), self.as_type(node.right, t)
        if t.kind == "float":
            if op == "/" and _constant(node.right):
                # Over a column, polars divides by a constant as a multiplication by its
                # inverse, which rounds twice. Adding a column of -0.0 (the identity of
                # IEEE addition, signed zeros included) makes it a true division.
                b = pl.int_range(pl.len()).cast(pl.Float64) * -0.0 + b
            return {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
        a, b = a.cast(I128), b.cast(I128)
        if op == "/":
            return trunc_div(a, b)
        if op == "%":
            r = abs_(a) % abs_(b)
            r = pl.when(a >= 0).then(r).otherwise(neg(r))
            return pl.when(b == 0).then(_NONE).otherwise(r).cast(pl.Int64)
        return checked(a + b if op == "+" else a - b if op == "-" else a * b)

    def polars_Ternary(self, node: ast.Ternary) -> pl.Expr:
        cond = self.expr(node.cond)
        return (pl.when(cond.is_null()).then(_NONE)
                .when(cond).then(self.as_type(node.then, node.type))
                .otherwise(self.as_type(node.otherwise, node.type)))

    def polars_ListLit(self, node: ast.ListLit) -> pl.Expr:
        raise AssertionError("list literals are translated by 'in'")

    # -- functions -------------------------------------------------------
    def polars_Call(self, node: ast.Call) -> pl.Expr:
        name = node.func
        if name == "has":
            return self.present(node.args[0])
        if node.target is not None:
            return self.method(node, self.expr(node.target))
        if name in ("min", "max"):
            a = self.as_type(node.args[0], node.operand_type)
            b = self.as_type(node.args[1], node.operand_type)
            assert node.operand_type is not None
            test = (_float_compare("<=" if name == "min" else ">=", a, b)
                    if node.operand_type.kind == "float" else (a <= b if name == "min" else a >= b))
            failed = a.is_null() | b.is_null()
            return pl.when(failed).then(_NONE).when(test).then(a).otherwise(b)
        arg, at = self.expr(node.args[0]), node.args[0].type
        assert at is not None
        if name == "size":
            return arg.str.len_chars().cast(pl.Int64)
        if name == "abs":
            return arg.abs() if at.kind == "float" else checked(abs_(arg.cast(I128)))
        if name == "int":
            return _to_int(arg, at)
        assert name == "double"
        return _to_double(arg, at)

    def method(self, node: ast.Call, target: pl.Expr) -> pl.Expr:
        name = node.func
        if name.startswith("get"):
            return _timestamp_part(name, target)
        if name == "size":
            return target.str.len_chars().cast(pl.Int64)
        if name in ("lowerAscii", "upperAscii"):
            old, new = (_UPPER, _LOWER) if name == "lowerAscii" else (_LOWER, _UPPER)
            return target.str.replace_many(old, new)
        pattern = node.args[0]
        arg = self.expr(pattern)
        if name == "startsWith":
            return target.str.starts_with(arg)
        if name == "endsWith":
            return target.str.ends_with(arg)
        if name == "contains":
            return target.str.contains(arg, literal=True)
        assert name == "matches"
        if isinstance(pattern, ast.Literal):
            return target.str.contains(rust_regex(pattern.value))
        return target.str.contains(arg.map_elements(rust_regex, return_dtype=pl.String))


def _constant(node: ast.Node) -> bool:
    """Whether ``node`` reads no field, table output or table input."""
    return not any(isinstance(n, ast.Name | ast.Select | ast.InputRef) for n in node.walk())


def _to_int(v: pl.Expr, t: Type) -> pl.Expr:
    if t.kind == "int":
        return v
    if t.kind == "float":
        ok = v.is_between(-9.223372036854775808e18, 9.223372036854775808e18, closed="left")
        return pl.when(ok & ~v.is_nan()).then(v).otherwise(_NONE).cast(pl.Int64)
    if t.kind == "decimal":
        return trunc_div(v.cast(I128), pl.lit(10 ** t.scale, I128))
    text = pl.when(v.str.contains(r"^[+-]?[0-9]+$")).then(v.str.strip_prefix("+"))
    return text.cast(pl.Int64, strict=False)


def _to_double(v: pl.Expr, t: Type) -> pl.Expr:
    if t.kind == "decimal":
        return _decimal_to_double(v, t.scale)
    if t.kind != "string":
        return v.cast(pl.Float64)
    plain = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
    return pl.when(v.str.contains(plain)).then(v).cast(pl.Float64, strict=False)


def _decimal_to_double(v: pl.Expr, scale: int) -> pl.Expr:
    """The nearest double, as the reference: the decimal text is parsed, which rounds
    once (polars turns ``x / 10.0**s`` into a multiplication that rounds twice)."""
    if scale == 0:
        return v.cast(pl.Float64)
    digits = abs_(v.cast(I128)).cast(pl.String).str.zfill(scale + 1)
    sign = pl.when(v < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str([sign, digits.str.head(-scale), pl.lit("."),
                          digits.str.tail(scale)]).cast(pl.Float64)


_US_PER_HOUR, _US_PER_DAY = 3_600_000_000, 86_400_000_000


def _timestamp_part(name: str, us: pl.Expr) -> pl.Expr:
    """The CEL timestamp accessors in UTC (floor division, as the reference)."""
    simple = {"getHours": (us // _US_PER_HOUR) % 24, "getMinutes": (us // 60_000_000) % 60,
              "getSeconds": (us // 1_000_000) % 60, "getDayOfWeek": (us // _US_PER_DAY + 4) % 7}
    if name in simple:
        return simple[name]
    date = pl.from_epoch(us, "us").dt
    part = {"getFullYear": date.year(), "getMonth": date.month() - 1,
            "getDayOfMonth": date.day() - 1, "getDate": date.day()}[name]
    return part.cast(pl.Int64)


# -- tables, rules and rule sets ----------------------------------------------
@dataclass(frozen=True)
class ColumnNames:
    """Where each value lives in the working frame."""

    def field(self, name: str) -> str:
        """A schema field's column (decimals scaled, timestamps in microseconds)."""
        return f"f.{name}"

    def output(self, table: str, output: str) -> str:
        """A table's output value (null when absent)."""
        return f"t.{table}.{output}"

    def matched(self, table: str) -> str:
        """Whether a table fired."""
        return f"t.{table}"

    def failed(self, table: str) -> str:
        """Whether a table's evaluation failed."""
        return f"t.{table}!"

    def rule(self, rule: str) -> str:
        """A rule's condition (null: it failed)."""
        return f"r.{rule}"


NAMES = ColumnNames()


class TableTranslator:
    """One decision table: its matched flag, failure flag and outputs as columns."""

    def __init__(self, table: Table):
        self.table = table
        self.inputs = [f"t.{table.id}.in{k}" for k in range(len(table.inputs))]
        self.ex = ExprTranslator(NAMES, self.inputs)
        self.rows = [f"t.{table.id}.row{i}" for i in range(len(table.rows))]

    def stages(self) -> list[list[pl.Expr]]:
        """Column groups to add in order: inputs, row matches, then the results."""
        ex, t = ExprTranslator(NAMES), self.table
        inputs = [ex.expr(e.node).alias(n) for e, n in zip(t.inputs, self.inputs, strict=True)]
        rows = [reduce(and_, [self.ex.expr(test.node) for test in row.tests]).alias(name)
                for row, name in zip(t.rows, self.rows, strict=True)]
        return [inputs, rows, self.results()]

    def cell(self, i: int, j: int) -> pl.Expr:
        """Output ``j`` of row ``i`` as the output's type (null: absent or failed)."""
        out, expr = self.table.outputs[j], self.table.rows[i].values[j]
        if expr is None:
            return _NONE
        target = out.type.item
        return self.ex.expr(expr.node) if target == ACTION else self.ex.as_type(expr.node, target)

    def cell_failed(self, i: int, j: int) -> pl.Expr:
        return pl.lit(False) if self.table.rows[i].values[j] is None else self.cell(i, j).is_null()

    def default(self, j: int) -> pl.Expr:
        out, t = self.table.outputs[j], self.table
        if out.type.kind == "list":
            return pl.lit([], pl.List(pl.String))
        if t.aggregate == "count":
            return pl.lit(0, pl.Int64)
        expr = t.default[j] if t.default else None
        if expr is None:
            return _NONE
        return self.ex.expr(expr.node) if out.type == ACTION else self.ex.as_type(expr.node,
                                                                                 out.type)

    def default_failed(self, j: int) -> pl.Expr:
        t = self.table
        expr = t.default[j] if t.default else None
        if expr is None or t.aggregate == "count" or t.outputs[j].type.kind == "list":
            return pl.lit(False)
        return self.default(j).is_null()

    def results(self) -> list[pl.Expr]:
        t = self.table
        rows = [pl.col(r) for r in self.rows]
        input_failed = pl.any_horizontal([pl.col(n).is_null() for n in self.inputs])
        if t.hit == "first":
            values, matched, failed = self.first(rows)
        elif t.hit == "collect":
            values, matched, failed = self.collect(rows)
        else:
            values, matched, failed = self.single(rows)
        failed = pl.when(input_failed).then(True).otherwise(failed.fill_null(True))
        return [matched.fill_null(False).alias(NAMES.matched(t.id)),
                failed.alias(NAMES.failed(t.id)),
                *[v.alias(NAMES.output(t.id, o.name)) for v, o in zip(values, t.outputs,
                                                                      strict=True)]]

    def first(self, rows: list[pl.Expr]) -> tuple[list[pl.Expr], pl.Expr, pl.Expr]:
        # Rows are tried in order up to the first match; a failure before it fails.
        index: pl.Expr = pl.lit(-1)
        for i in reversed(range(len(rows))):
            index = pl.when(rows[i].is_null()).then(-2).when(rows[i]).then(i).otherwise(index)
        return self.pick(index, len(rows))

    def single(self, rows: list[pl.Expr]) -> tuple[list[pl.Expr], pl.Expr, pl.Expr]:
        """Hit policies unique and any: every row is tried."""
        index: pl.Expr = pl.lit(-1)
        for i in reversed(range(len(rows))):
            index = pl.when(rows[i]).then(i).otherwise(index)
        any_failed = pl.any_horizontal([r.is_null() for r in rows])
        values, matched, failed = self.pick(index, len(rows))
        if self.table.hit == "unique":
            clash = pl.sum_horizontal([r.fill_null(False).cast(pl.Int32) for r in rows]) > 1
        else:  # any: every matching row must give the first one's outputs
            clash = pl.any_horizontal([
                rows[i].fill_null(False) & ~pl.all_horizontal([
                    self.cell(i, j).eq_missing(values[j]) for j in range(len(values))])
                | rows[i].fill_null(False) & pl.any_horizontal(
                    [self.cell_failed(i, j) for j in range(len(values))])
                for i in range(len(rows))] or [pl.lit(False)])
        return values, matched, failed | any_failed | clash

    def pick(self, index: pl.Expr, count: int) -> tuple[list[pl.Expr], pl.Expr, pl.Expr]:
        """The outputs of row ``index`` (-1: none matched; -2: failed)."""
        n = len(self.table.outputs)
        values, failures = [], []
        for j in range(n):
            value, failed = self.default(j), self.default_failed(j)
            for i in range(count):
                hit = index == i
                value = pl.when(hit).then(self.cell(i, j)).otherwise(value)
                failed = pl.when(hit).then(self.cell_failed(i, j)).otherwise(failed)
            values.append(value)
            failures.append(pl.when(index == -1).then(self.default_failed(j)).otherwise(failed))
        failed = (index == -2) | pl.any_horizontal(failures or [pl.lit(False)])
        return values, index >= 0, failed

    def collect(self, rows: list[pl.Expr]) -> tuple[list[pl.Expr], pl.Expr, pl.Expr]:
        t = self.table
        hits = [r.fill_null(False) for r in rows]
        matched = pl.any_horizontal(hits or [pl.lit(False)])
        failed = pl.any_horizontal([r.is_null() for r in rows] or [pl.lit(False)])
        values = []
        for j, out in enumerate(t.outputs):
            if t.aggregate == "count":
                values.append(pl.sum_horizontal([h.cast(pl.Int64) for h in hits]))
                continue
            failed = failed | pl.any_horizontal(
                [h & self.cell_failed(i, j) for i, h in enumerate(hits)] or [pl.lit(False)])
            items: list[pl.Expr] = [pl.when(h).then(self.cell(i, j))
                                    for i, h in enumerate(hits)]
            if out.type.kind == "list":
                values.append(pl.concat_list(items).list.drop_nulls() if items
                              else self.default(j))
                continue
            acc, overflow = _aggregate(t.aggregate or "", out.type, items)
            values.append(pl.when(acc.is_not_null()).then(acc).otherwise(self.default(j)))
            failed = failed | overflow | (acc.is_null() & self.default_failed(j))
        return values, matched, failed


def _aggregate(kind: str, t: Type, items: list[pl.Expr]) -> tuple[pl.Expr, pl.Expr]:
    """A collect aggregate over the matched rows' values, in row order, null items
    skipped (as in the reference): (the value, null when there is none; overflowed)."""
    if kind == "sum" and t.kind != "float":
        # The reference checks every partial sum; int128 holds them all exactly.
        total, overflow, count = pl.lit(0, I128), pl.lit(False), pl.lit(0)
        for v in items:
            total = total + v.fill_null(0).cast(I128)
            overflow = overflow | ~total.is_between(INT_MIN, INT_MAX)
            count = count + v.is_not_null().cast(pl.Int32)
        return pl.when(count > 0).then(total).cast(pl.Int64, strict=False), overflow
    acc: pl.Expr = _NONE
    for v in items:
        if kind == "sum":
            step = acc + v
        else:
            test = (_float_compare("<=" if kind == "min" else ">=", acc, v)
                    if t.kind == "float" else (acc <= v if kind == "min" else acc >= v))
            step = pl.when(test).then(acc).otherwise(v)
        acc = pl.when(v.is_null()).then(acc).when(acc.is_null()).then(v).otherwise(step)
    return acc, pl.lit(False)


class RuleSetTranslator:
    """One rule set as a lazy query over the rows routed to it."""

    def __init__(self, program: Program, rs: RuleSet):
        self.program = program
        self.rs = rs
        self.ex = ExprTranslator(NAMES)

    def query(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """Tables, then rules, then the result columns of :meth:`PolarsRules.evaluate`."""
        for table in self.rs.tables:
            for stage in TableTranslator(table).stages():
                if stage:
                    frame = frame.with_columns(stage)
        frame = frame.with_columns([self.ex.expr(r.when.node).alias(NAMES.rule(r.id))
                                    for r in self.rs.rules])
        fired = self.fired()
        failed = pl.col("failed") | self.failed(fired)
        outputs = [pl.when(failed).then(_NONE).otherwise(self.output(name, type_, fired))
                   .alias(name) for name, type_ in self.program.outputs.items()]
        ids = [pl.when(pl.col(NAMES.matched(t.id))).then(pl.lit(t.id)) for t in self.rs.tables]
        ids += [pl.when(f).then(pl.lit(r.id)) for r, f in zip(self.rs.rules, fired, strict=True)]
        decision = pl.lit(pl.Series(ACTIONS)).get(self.severity(fired))
        return frame.select(
            "position", pl.lit(self.rs.name).alias("ruleset"),
            pl.when(failed).then(_NONE).otherwise(decision).alias("decision"),
            (pl.concat_list(ids).list.drop_nulls() if ids else pl.lit([], pl.List(pl.String)))
            .alias("fired"), *outputs, failed.alias("failed"))

    def fired(self) -> list[pl.Expr]:
        """Whether each rule fired (failures are counted by :meth:`failed`)."""
        conds = [pl.col(NAMES.rule(r.id)).fill_null(False) for r in self.rs.rules]
        if self.rs.mode != "first":
            return conds
        return [c & ~pl.any_horizontal(conds[:i]) if i else c for i, c in enumerate(conds)]

    def failed(self, fired: list[pl.Expr]) -> pl.Expr:
        tables = [pl.col(NAMES.failed(t.id)) for t in self.rs.tables]
        rules = []
        for i, rule in enumerate(self.rs.rules):
            cond_failed = pl.col(NAMES.rule(rule.id)).is_null()
            if self.rs.mode == "first" and i:  # evaluated only while nothing fired
                cond_failed = cond_failed & ~pl.any_horizontal(fired[:i])
            rules.append(cond_failed)
            rules += [fired[i] & v.is_null() for v in self.set_values(rule).values()
                      if v is not _NONE]
        return pl.any_horizontal([pl.lit(False), *tables, *rules])

    def set_values(self, rule: Rule) -> dict[str, pl.Expr]:
        return {name: _NONE if expr is None else
                self.ex.as_type(expr.node, self.program.outputs[name])
                for name, expr in rule.sets}

    def severity(self, fired: list[pl.Expr]) -> pl.Expr:
        index = {a: i for i, a in enumerate(ACTIONS)}
        levels = [pl.lit(0)]
        for t in self.rs.tables:
            if any(o.name == "action" for o in t.outputs):
                action = pl.col(NAMES.output(t.id, "action"))
                levels.append(pl.when(pl.col(NAMES.matched(t.id)))
                              .then(action.replace_strict(index, default=0)).otherwise(0))
        levels += [pl.when(f).then(index[r.action]).otherwise(0)
                   for r, f in zip(self.rs.rules, fired, strict=True)]
        return pl.max_horizontal(levels)

    def output(self, name: str, type_: Type, fired: list[pl.Expr]) -> pl.Expr:
        """The first firing rule that sets ``name``, else the last table giving it."""
        value: pl.Expr = _NONE
        for t in self.rs.tables:
            if any(o.name == name for o in t.outputs):
                value = convert(pl.col(NAMES.output(t.id, name)), t.output(name).type, type_)
        for rule, f in reversed(list(zip(self.rs.rules, fired, strict=True))):
            sets = self.set_values(rule)
            if name in sets:
                value = pl.when(f).then(sets[name]).otherwise(value)
        return value


class PolarsRules:
    """A program translated to polars; see :func:`translate`."""

    def __init__(self, program: Program):
        self.program = program
        self.rulesets = {rs.name: RuleSetTranslator(program, rs) for rs in program.rulesets}

    def prepare(self, table: pa.Table) -> pl.LazyFrame:
        """The working frame: position, route, each field as the rules see it, and
        ``failed`` for rows missing a required field (pyengine's schema errors)."""
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        fields = []
        for f in self.program.schema.fields.values():
            col = pl.col(f.name)
            if f.type.kind == "decimal":
                col = (col.cast(pl.Decimal(38, f.type.scale)) * 10 ** f.type.scale).cast(pl.Int64)
            elif f.type.kind == "timestamp":
                col = col.dt.epoch("us")
            fields.append(col.alias(NAMES.field(f.name)))
        required = [pl.col(f.name).is_null() for f in self.program.schema.fields.values()
                    if not f.optional]
        route = pl.col("client_id").replace_strict(
            self.program.routes, default=self.program.default_set, return_dtype=pl.String)
        return frame.lazy().select(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("position"), route.alias("route"),
            pl.any_horizontal([pl.lit(False), *required]).alias("failed"), *fields)

    def evaluate(self, table: pa.Table) -> pl.DataFrame:
        """Every row of ``table``: position, ruleset, decision, fired, the outputs, failed
        (a row whose evaluation failed has no decision; ``ruleset`` is null for an
        unknown client)."""
        frame = self.prepare(table)
        parts = [t.query(frame.filter(pl.col("route") == name))
                 for name, t in self.rulesets.items()]
        unrouted = frame.filter(pl.col("route").is_null()).select(
            "position", pl.lit(None, pl.String).alias("ruleset"),
            pl.lit(None, pl.String).alias("decision"),
            pl.lit([], pl.List(pl.String)).alias("fired"),
            *[_NONE.alias(n) for n in self.program.outputs], pl.lit(True).alias("failed"))
        return pl.concat([*parts, unrouted], how="diagonal_relaxed").sort("position").collect()
