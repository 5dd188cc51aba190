"""The reference evaluator: the semantic oracle of the rules language.

A direct, unoptimised interpreter of a resolved :class:`Program`. The compiled
Java must agree with it on every transaction (decision, fired ids, outputs and
errors); ``explain`` and ``test-rules`` use it to say *why*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pyengine.errors import RecordError
from pyengine.lang import ast
from pyengine.lang import regex as regex_mod
from pyengine.lang.types import ACTION, NULL, Type, scale_of
from pyengine.reference import ops
from pyengine.reference.ops import EvalFailure
from pyengine.spec.program import ACTIONS, Program, Rule, RuleSet, Table

Record = dict[str, Any]


@dataclass(frozen=True)
class ErrorInfo:
    """Why a transaction was not evaluated: ``kind`` is the DLQ kind."""

    kind: str  # schema | unknown_client | evaluation
    code: str  # the kind, or for evaluation errors: overflow, division_by_zero, ...
    rule: str | None
    message: str


@dataclass
class Outcome:
    """The result of one transaction: what the results row or DLQ entry holds."""

    ruleset: str | None = None
    decision: str | None = None
    fired: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: ErrorInfo | None = None


def convert(value: Any, src: Type, dst: Type) -> Any:
    """Convert a value between types the checker declared compatible."""
    if value is None or src == dst or dst == NULL:
        return value
    if dst.kind == "list":
        assert src.kind == "list" and src.elem and dst.elem
        return [convert(v, src.elem, dst.elem) for v in value]
    if dst.kind == "float" and src.kind == "int":
        return float(value)
    if dst.kind == "decimal" and src.kind in ("int", "decimal"):
        return ops.rescale(value, src.scale, dst.scale)
    return value  # action -> string: the same text


class ExprEvaluator(ast.Visitor):
    """Evaluates one typed expression tree against a record and table values."""

    prefix = "eval"

    def __init__(self, record: Record, tables: dict[str, dict[str, Any]]):
        self.record = record
        self.tables = tables
        self.inputs: list[Any] = []

    def value(self, node: ast.Node) -> Any:
        """Evaluate ``node``; raises EvalFailure on an evaluation error."""
        return self.visit(node)

    def as_type(self, node: ast.Node, target: Type | None) -> Any:
        assert node.type is not None and target is not None
        return convert(self.visit(node), node.type, target)

    # -- leaves ----------------------------------------------------------
    def eval_Literal(self, node: ast.Literal) -> Any:
        return node.value

    def eval_Name(self, node: ast.Name) -> Any:
        value = self.record.get(node.name)
        if value is None:
            raise EvalFailure(ops.MISSING_VALUE, node.name)
        return value

    def eval_Select(self, node: ast.Select) -> Any:
        value = self.tables[node.table][node.output]
        if value is None:
            raise EvalFailure(ops.MISSING_VALUE, f"{node.table}.{node.output}")
        return value

    def eval_InputRef(self, node: ast.InputRef) -> Any:
        return self.inputs[node.index]

    def present(self, node: ast.Node) -> bool:
        if isinstance(node, ast.Name):
            return self.record.get(node.name) is not None
        assert isinstance(node, ast.Select)
        return self.tables[node.table][node.output] is not None

    # -- operators -------------------------------------------------------
    def eval_Unary(self, node: ast.Unary) -> Any:
        v = self.visit(node.operand)
        if node.op == "!":
            return not v
        return -v if node.type is not None and node.type.kind == "float" else ops.check(-v)

    def eval_Binary(self, node: ast.Binary) -> Any:
        op = node.op
        if op == "&&":
            return bool(self.visit(node.left)) and bool(self.visit(node.right))
        if op == "||":
            return bool(self.visit(node.left)) or bool(self.visit(node.right))
        t = node.operand_type
        assert t is not None
        if t == NULL:
            other = node.right if node.left.type == NULL else node.left
            absent = not self.present(other)
            return absent if op == "==" else not absent
        if op == "in":
            assert isinstance(node.right, ast.ListLit)
            x = self.as_type(node.left, t)
            items = [self.as_type(item, t) for item in node.right.items]
            return any(x == item for item in items)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return self.compare(node, t)
        return self.arithmetic(node, t)

    def compare(self, node: ast.Binary, t: Type) -> bool:
        if t.kind == "decimal":
            a, sa = self.visit(node.left), scale_of(node.left.type)
            b, sb = self.visit(node.right), scale_of(node.right.type)
            c = ops.dec_cmp(a, sa, b, sb)
            x: Any = c
            y: Any = 0
        else:
            x, y = self.as_type(node.left, t), self.as_type(node.right, t)
        return bool(_COMPARE[node.op](x, y))

    def arithmetic(self, node: ast.Binary, t: Type) -> Any:
        op = node.op
        if t.kind == "string":
            return self.visit(node.left) + self.visit(node.right)
        if t.kind == "decimal" and op in ("*", "/"):
            a, sa = self.visit(node.left), scale_of(node.left.type)
            b, sb = self.visit(node.right), scale_of(node.right.type)
            return ops.check(a * b) if op == "*" else ops.dec_div(a, sa, b, sb)
        a, b = self.as_type(node.left, t), self.as_type(node.right, t)
        if t.kind == "float":
            return _float_arith(op, a, b)
        if op == "/":
            return ops.int_div(a, b)
        if op == "%":
            return ops.int_mod(a, b)
        return ops.check(a + b if op == "+" else a - b if op == "-" else a * b)

    def eval_Ternary(self, node: ast.Ternary) -> Any:
        branch = node.then if self.visit(node.cond) else node.otherwise
        return self.as_type(branch, node.type)

    def eval_ListLit(self, node: ast.ListLit) -> Any:
        raise AssertionError("list literals are evaluated by 'in'")

    # -- functions -------------------------------------------------------
    def eval_Call(self, node: ast.Call) -> Any:
        name = node.func
        if name == "has":
            return self.present(node.args[0])
        if node.target is not None:
            return self.method(node, self.visit(node.target))
        if name in ("min", "max"):
            a = self.as_type(node.args[0], node.operand_type)
            b = self.as_type(node.args[1], node.operand_type)
            return ops.fmin(a, b) if name == "min" else ops.fmax(a, b)
        arg = self.visit(node.args[0])
        at = node.args[0].type
        assert at is not None
        if name == "size":
            return len(arg)
        if name == "abs":
            return abs(arg) if at.kind == "float" else ops.check(abs(arg))
        if name == "int":
            return _to_int(arg, at)
        if name == "double":
            return _to_double(arg, at)
        raise AssertionError(name)

    def method(self, node: ast.Call, target: Any) -> Any:
        name = node.func
        if name.startswith("get"):
            return ops.ts_method(name, target)
        if name == "size":
            return len(target)
        if name == "lowerAscii":
            return ops.lower_ascii(target)
        if name == "upperAscii":
            return ops.upper_ascii(target)
        arg = self.visit(node.args[0])
        if name == "startsWith":
            return target.startswith(arg)
        if name == "endsWith":
            return target.endswith(arg)
        if name == "contains":
            return arg in target
        assert name == "matches"
        return regex_mod.compile(arg).search(target) is not None


_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _float_arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0.0:  # IEEE 754, as in Java and CEL: no error for doubles
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _to_int(v: Any, t: Type) -> int:
    if t.kind == "int":
        return int(v)
    if t.kind == "float":
        return ops.double_to_int(v)
    if t.kind == "decimal":
        return ops.dec_to_int(v, t.scale)
    return ops.parse_int(v)


def _to_double(v: Any, t: Type) -> float:
    if t.kind == "float":
        return float(v)
    if t.kind == "int":
        return float(v)
    if t.kind == "decimal":
        return ops.dec_to_double(v, t.scale)
    return ops.parse_double(v)


# -- tables and rules ----------------------------------------------------
class RuleSetEvaluator:
    """Evaluates one record with one rule set, the reference way."""

    def __init__(self, program: Program, rs: RuleSet, record: Record):
        self.program = program
        self.rs = rs
        self.tables: dict[str, dict[str, Any]] = {}
        self.ev = ExprEvaluator(record, self.tables)
        self.where: str | None = None

    def run(self) -> Outcome:
        """Evaluate tables then rules; evaluation errors land in ``Outcome.error``."""
        out = Outcome(ruleset=self.rs.name)
        try:
            self.evaluate(out)
        except EvalFailure as exc:
            name = ops.CODE_NAMES[exc.code]
            out.error = ErrorInfo("evaluation", name, self.where, str(exc))
            out.decision, out.fired, out.outputs = None, [], {}
        return out

    def evaluate(self, out: Outcome) -> None:
        severity = 0
        for table in self.rs.tables:
            self.where = table.id
            matched, values = self.table(table)
            self.tables[table.id] = values
            if matched:
                out.fired.append(table.id)
                action = values.get("action")
                if action is not None:
                    severity = max(severity, ACTIONS.index(action))
        set_by_rules: dict[str, Any] = {}
        for rule in self.rs.rules:
            self.where = rule.id
            if not self.ev.value(rule.when.node):
                continue
            out.fired.append(rule.id)
            severity = max(severity, ACTIONS.index(rule.action))
            self.assign(rule, set_by_rules)
            if self.rs.mode == "first":
                break
        out.decision = ACTIONS[severity]
        out.outputs = self.outputs(set_by_rules)

    def assign(self, rule: Rule, set_by_rules: dict[str, Any]) -> None:
        for name, expr in rule.sets:
            value = None if expr is None else self.ev.as_type(expr.node,
                                                                self.program.outputs[name])
            set_by_rules.setdefault(name, value)  # the first rule in evaluation order wins

    def outputs(self, set_by_rules: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, type_ in self.program.outputs.items():
            if name in set_by_rules:
                result[name] = set_by_rules[name]
                continue
            result[name] = None
            for table in self.rs.tables:
                if any(o.name == name for o in table.outputs):
                    result[name] = convert(self.tables[table.id][name],
                                           table.output(name).type, type_)
        return result

    def table(self, table: Table) -> tuple[bool, dict[str, Any]]:
        self.ev.inputs = [self.ev.value(e.node) for e in table.inputs]
        # Output cells are evaluated as soon as their row matches, in row order.
        matched: list[tuple[int, dict[str, Any]]] = []
        for i, row in enumerate(table.rows):
            if not all(self.ev.value(test.node) for test in row.tests):
                continue
            if table.hit == "unique" and matched:
                raise EvalFailure(ops.UNIQUE_VIOLATION, f"{matched[0][0] + 1}, {i + 1}")
            # A count needs no values: its output cells are not evaluated (as in Java).
            values = {} if table.aggregate == "count" else self.row_values(table, i)
            if table.hit == "any" and matched and not _same_row(values, matched[0][1]):
                raise EvalFailure(ops.ANY_CONFLICT, f"{matched[0][0] + 1}, {i + 1}")
            matched.append((i, values))
            if table.hit == "first":
                break
        if not matched:
            return False, self.no_match(table)
        if table.hit == "collect":
            return True, self.collect(table, [values for _, values in matched])
        return True, matched[0][1]

    def row_values(self, table: Table, index: int) -> dict[str, Any]:
        row = table.rows[index]
        values: dict[str, Any] = {}
        for out, expr in zip(table.outputs, row.values, strict=True):
            target = out.type.item
            values[out.name] = None if expr is None else (
                self.ev.value(expr.node) if target == ACTION else self.ev.as_type(expr.node,
                                                                                   target))
        return values

    def no_match(self, table: Table) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for j, out in enumerate(table.outputs):
            expr = table.default[j] if table.default else None
            if out.type.kind == "list":
                values[out.name] = []
            elif table.aggregate == "count":
                values[out.name] = 0
            elif expr is None:
                values[out.name] = None
            else:
                values[out.name] = (self.ev.value(expr.node) if out.type == ACTION
                                    else self.ev.as_type(expr.node, out.type))
        return values

    def collect(self, table: Table, rows: list[dict[str, Any]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for j, out in enumerate(table.outputs):
            if table.aggregate == "count":
                values[out.name] = len(rows)
                continue
            items = [r[out.name] for r in rows if r[out.name] is not None]
            if out.type.kind == "list":
                values[out.name] = items
            elif not items:
                expr = table.default[j] if table.default else None
                values[out.name] = None if expr is None else self.ev.as_type(expr.node,
                                                                             out.type)
            else:
                values[out.name] = _aggregate(table.aggregate or "", items, out.type)
        return values


def _aggregate(kind: str, items: list[Any], t: Type) -> Any:
    acc = items[0]
    for v in items[1:]:
        if kind == "sum":
            acc = acc + v if t.kind == "float" else ops.check(acc + v)
        elif kind == "min":
            acc = ops.fmin(acc, v)
        else:
            acc = ops.fmax(acc, v)
    return acc


def _same_row(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a[k] == b[k] for k in a)


def evaluate_record(program: Program, record: Record) -> Outcome:
    """Evaluate an already converted record (see :mod:`pyengine.records`)."""
    rs = program.route(record["client_id"])
    if rs is None:
        client = record["client_id"]
        return Outcome(error=ErrorInfo("unknown_client", "unknown_client", None,
                                       f"no rule set serves client_id '{client}'"))
    return RuleSetEvaluator(program, rs, record).run()


def evaluate(program: Program, raw: dict[str, Any]) -> Outcome:
    """Convert, route and evaluate one raw transaction (a JSON-like dict)."""
    from pyengine.records import convert_record

    try:
        record = convert_record(program.schema, raw)
    except RecordError as exc:
        return Outcome(error=ErrorInfo(exc.kind, exc.kind, None, exc.message))
    return evaluate_record(program, record)
