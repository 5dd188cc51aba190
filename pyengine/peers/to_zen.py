"""The rules as a GoRules ZEN decision (JDM), for ``bench compare``.

Each rule set becomes one JDM graph, ``input -> expression node -> output``, whose
expressions are ZEN expression-language text generated from the typed AST (a
visitor: ``zen_Binary``, ...). Later expressions read earlier ones with ``$.key``:
first each table's inputs, row matches, hit and outputs, then each rule's
condition, then ``decision`` (a severity 0-3), ``fired`` and ``failed``. Tables are
expressions rather than ZEN decision-table nodes because ZEN's tables have only
the ``first`` and ``collect`` hit policies and read cells as unary tests of a
field, not of computed inputs.

Values are what the Java bridge hands the compiled rules: decimals as scaled ints
and timestamps as microseconds, so decimal arithmetic is exact and scaled as in
the reference. What ZEN cannot express the same way, :func:`translate` reports in
:attr:`ZenRules.untranslated` (the rule never fires there) instead of guessing.
Where a translated rule relies on ZEN's own semantics, :attr:`ZenRules.approximate`
says so per rule: ZEN computes floats as decimals, its ``lower``/``upper`` (for
``lowerAscii``/``upperAscii``) map all of Unicode, its ``len`` counts UTF-8 bytes, and
it does not stop at int64 overflow. ZEN's errors are not classified: a record
pyengine fails on agrees only if ZEN fails on it too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyengine.errors import Pos, PyEngineError, RecordError
from pyengine.lang import ast
from pyengine.lang.types import ACTION, NULL, Type, scale_of
from pyengine.peers import FAILED, Key
from pyengine.peers.to_polars import rust_regex
from pyengine.records import convert_record
from pyengine.spec.program import ACTIONS, Program, RuleSet, Table


class Untranslatable(PyEngineError):
    """A construct with no faithful ZEN expression, at ``pos``."""

    def __init__(self, what: str, pos: Pos):
        self.what, self.pos = what, pos
        super().__init__(f"{pos}: {what}")


def translate(program: Program) -> ZenRules:
    """The ZEN form of ``program``: one JDM decision per rule set."""
    return ZenRules(program)


def _raw_string(text: str, pos: Pos) -> str:
    """A ZEN string literal: ZEN reads no escapes, so the text goes in as it is."""
    if '"' not in text and "\\" not in text and text.isprintable():
        return f'"{text}"'
    if "'" not in text and text.isprintable():
        return f"'{text}'"
    raise Untranslatable(f"the string {json.dumps(text)} (ZEN string literals have no "
                         "escapes)", pos)


def _floor_mod(x: str, m: int) -> str:
    return f"((({x}) % {m}) + {m}) % {m}"


class ExprTranslator(ast.Visitor):
    """One typed expression tree as ZEN expression text."""

    prefix = "zen"

    def __init__(self, inputs: list[str] | None = None):
        self.inputs = inputs or []

    def expr(self, node: ast.Node) -> str:
        """The ZEN text of ``node``, parenthesised."""
        text: str = self.visit(node)
        return text

    def as_type(self, node: ast.Node, target: Type | None) -> str:
        """``node`` converted to ``target`` (a wider decimal is a larger scaled int)."""
        assert node.type is not None and target is not None
        text = self.expr(node)
        if target.kind == "decimal" and node.type.kind in ("int", "decimal"):
            k = target.scale - scale_of(node.type)
            return f"({text} * {10 ** k})" if k else text
        return text

    def zen_Literal(self, node: ast.Literal) -> str:
        if node.value is None:
            return "null"
        if isinstance(node.value, bool):
            return "true" if node.value else "false"
        if isinstance(node.value, str):
            return _raw_string(node.value, node.pos)
        return repr(node.value) if isinstance(node.value, float) else str(node.value)

    def zen_Name(self, node: ast.Name) -> str:
        return node.name

    def zen_Select(self, node: ast.Select) -> str:
        return f"$.{_table_key(node.table, node.output)}"

    def zen_InputRef(self, node: ast.InputRef) -> str:
        return f"$.{self.inputs[node.index]}"

    def zen_Unary(self, node: ast.Unary) -> str:
        inner = self.expr(node.operand)
        return f"(not {inner})" if node.op == "!" else f"(0 - {inner})"

    def zen_Binary(self, node: ast.Binary) -> str:
        op, t = node.op, node.operand_type
        if op in ("&&", "||"):
            word = "and" if op == "&&" else "or"
            return f"({self.expr(node.left)} {word} {self.expr(node.right)})"
        assert t is not None
        if t == NULL:
            other = node.right if node.left.type == NULL else node.left
            return f"({self.expr(other)} {op} null)"
        if op == "in":
            assert isinstance(node.right, ast.ListLit)
            items = ", ".join(self.as_type(i, t) for i in node.right.items)
            return f"({self.as_type(node.left, t)} in [{items}])"
        if t.kind == "string" and op in ("<", "<=", ">", ">="):
            raise Untranslatable("ordering strings (ZEN compares only numbers and dates)",
                                 node.pos)
        if t.kind == "decimal" and op in ("*", "/"):
            a, b = self.expr(node.left), self.expr(node.right)
            if op == "*":
                return f"({a} * {b})"
            sa, sb = scale_of(node.left.type), scale_of(node.right.type)
            return f"trunc({a} * {10 ** (max(sa, sb) - sa + sb)} / {b})"
        if t.kind == "decimal" and op in ("==", "!=", "<", "<=", ">", ">="):
            s = max(scale_of(node.left.type), scale_of(node.right.type))
            t = Type("decimal", s)
        a, b = self.as_type(node.left, t), self.as_type(node.right, t)
        if op == "/" and t.kind == "int":
            return f"trunc({a} / {b})"
        if op == "+" and t.kind == "string":
            return f"({a} + {b})"
        return f"({a} {op} {b})"

    def zen_Ternary(self, node: ast.Ternary) -> str:
        return (f"({self.expr(node.cond)} ? {self.as_type(node.then, node.type)} : "
                f"{self.as_type(node.otherwise, node.type)})")

    def zen_ListLit(self, node: ast.ListLit) -> str:
        raise AssertionError("list literals are translated by 'in'")

    def zen_Call(self, node: ast.Call) -> str:
        name = node.func
        if name == "has":
            return f"({self.expr(node.args[0])} != null)"
        if node.target is not None:
            return self.method(node, self.expr(node.target))
        if name in ("min", "max"):
            a = self.as_type(node.args[0], node.operand_type)
            b = self.as_type(node.args[1], node.operand_type)
            return f"{name}([{a}, {b}])"
        arg, at = self.expr(node.args[0]), node.args[0].type
        assert at is not None
        if name == "size":
            return f"len({arg})"
        if name == "abs":
            return f"abs({arg})"
        scale = 10 ** scale_of(at)
        if name == "int":
            if at.kind == "string":
                return f"trunc(number({arg}))"
            return f"trunc({arg} / {scale})" if at.kind == "decimal" else f"trunc({arg})"
        if at.kind == "string":
            return f"number({arg})"
        return f"({arg} / {scale})" if at.kind == "decimal" else arg

    def method(self, node: ast.Call, target: str) -> str:
        name = node.func
        us = {"getHours": 3_600_000_000, "getMinutes": 60_000_000, "getSeconds": 1_000_000}
        if name in us:
            modulo = 24 if name == "getHours" else 60
            return _floor_mod(f"floor({target} / {us[name]})", modulo)
        if name == "getDayOfWeek":
            return _floor_mod(f"floor({target} / 86400000000) + 4", 7)
        if name.startswith("get"):
            date = f"d(floor({target} / 1000))"
            return {"getFullYear": f"{date}.year()", "getMonth": f"({date}.month() - 1)",
                    "getDayOfMonth": f"({date}.day() - 1)", "getDate": f"{date}.day()"}[name]
        if name == "size":
            return f"len({target})"
        if name in ("lowerAscii", "upperAscii"):
            return f"{'lower' if name == 'lowerAscii' else 'upper'}({target})"
        pattern = node.args[0]
        if name == "matches":
            if not isinstance(pattern, ast.Literal):
                raise Untranslatable("matches() with a computed pattern", node.pos)
            return f"matches({target}, {_raw_string(rust_regex(pattern.value), node.pos)})"
        return f"{name}({target}, {self.expr(pattern)})"


def approximations(node: ast.Node) -> set[str]:
    """Why ``node``'s translation relies on ZEN's own semantics, which differ from the
    reference's on some inputs (an empty set: none of these apply)."""
    found = set()
    for n in node.walk():
        if n.type is not None and n.type.kind == "float":
            found.add("floats are decimals in ZEN")
        if isinstance(n, ast.Call) and n.func in ("lowerAscii", "upperAscii"):
            found.add("ZEN's lower/upper map all of Unicode")
        if isinstance(n, ast.Call) and n.func == "size":
            found.add("ZEN's len counts UTF-8 bytes")
        arithmetic = ((isinstance(n, ast.Binary) and n.op in ("+", "-", "*", "/"))
                      or (isinstance(n, ast.Unary) and n.op == "-"))
        if arithmetic and n.type is not None and n.type.kind in ("int", "decimal"):
            found.add("ZEN does not stop at int64 overflow")
    return found


def _table_key(table: str, output: str) -> str:
    return f"t_{table}_{output}"


@dataclass
class Expressions:
    """The expression node's ``key: value`` list, in evaluation order."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, key: str, value: str) -> str:
        """Append ``key = value``; returns ``$.key`` for later expressions."""
        self.items.append((key, value))
        return f"$.{key}"


def _any(flags: list[str]) -> str:
    return "(" + " or ".join(flags) + ")" if flags else "false"


class RuleSetTranslator:
    """One rule set as the expressions of a JDM expression node."""

    def __init__(self, program: Program, rs: RuleSet):
        self.program, self.rs = program, rs
        self.out = Expressions()
        self.untranslated: list[str] = []
        self.approximate: dict[str, set[str]] = {}  # rule or table id -> why
        self.failures: list[str] = []

    def expressions(self) -> list[tuple[str, str]]:
        """Tables, rules, then ``decision``, ``fired`` and ``failed``."""
        levels, fired = ["0"], []
        for table in self.rs.tables:
            nodes = [e.node for e in table.inputs]
            nodes += [e.node for row in table.rows for e in [*row.tests, *row.values] if e]
            self.note_approximations(table.id, nodes)
            try:
                hit = self.table(table)
            except Untranslatable as exc:  # the table never matches in ZEN
                self.untranslated.append(f"{table.id} ({exc.what}, {exc.pos})")
                hit = "false"
            fired.append(f'({hit} ? "{table.id}" : null)')
            if any(o.name == "action" for o in table.outputs):
                action = f"$.{_table_key(table.id, 'action')}"
                levels += [f'(({hit} and {action} == "{a}") ? {i} : 0)'
                           for i, a in enumerate(ACTIONS) if i]
        before: list[str] = []
        ex = ExprTranslator()
        for rule in self.rs.rules:
            self.note_approximations(rule.id, [rule.when.node])
            try:
                cond = ex.expr(rule.when.node)
            except Untranslatable as exc:
                self.untranslated.append(f"{rule.id} ({exc.what}, {exc.pos})")
                cond = "false"
            if self.rs.mode == "first" and before:
                cond = f"({cond} and not {_any(before)})"
            ref = self.out.add(f"r_{rule.id}", cond)
            before.append(ref)
            fired.append(f'({ref} ? "{rule.id}" : null)')
            levels.append(f"({ref} ? {ACTIONS.index(rule.action)} : 0)")
        self.out.add("decision", f"max([{', '.join(levels)}])")
        self.out.add("fired", f"filter([{', '.join(fired)}], # != null)")
        self.out.add("failed", _any(self.failures))
        return self.out.items

    def note_approximations(self, where: str, nodes: list[ast.Node]) -> None:
        found = set().union(*(approximations(n) for n in nodes))
        if found:
            self.approximate[where] = found

    def table(self, table: Table) -> str:
        """Add a table's expressions; returns the reference to "it matched"."""
        key = f"t_{table.id}"
        inputs = [f"{key}_in{k}" for k in range(len(table.inputs))]
        for name, expr in zip(inputs, table.inputs, strict=True):
            self.out.add(name, ExprTranslator().expr(expr.node))
        cells = ExprTranslator(inputs)
        rows = [self.out.add(f"{key}_row{i}", " and ".join(cells.expr(t.node) for t in r.tests))
                for i, r in enumerate(table.rows)]
        first = " : ".join(f"{r} ? {i}" for i, r in enumerate(rows)) + " : -1"
        index = self.out.add(f"{key}_index", f"({first})" if rows else "-1")
        count = self.out.add(f"{key}_count", f"len(filter([{', '.join(rows)}], #))")
        if table.hit == "unique":
            self.failures.append(f"{count} > 1")
        for j, output in enumerate(table.outputs):
            values = [self.cell(cells, table, i, j) for i in range(len(rows))]
            default = self.default(cells, table, j)
            name = _table_key(table.id, output.name)
            if table.hit == "collect":
                picks = ", ".join(f"({r} ? {v} : null)" for r, v in zip(rows, values, strict=True))
                items = self.out.add(f"{name}_items", f"filter([{picks}], # != null)")
                if table.aggregate == "count":
                    self.out.add(name, count)
                elif output.type.kind == "list":
                    self.out.add(name, items)
                else:
                    agg = table.aggregate or "sum"
                    self.out.add(name, f"(len({items}) > 0 ? {agg}({items}) : {default})")
                continue
            chosen = " : ".join(f"{index} == {i} ? {v}" for i, v in enumerate(values))
            picked = self.out.add(name, f"({chosen} : {default})" if values else default)
            if table.hit == "any":
                self.failures += [f"({r} and {v} != {picked})" for r, v in
                                  zip(rows, values, strict=True)]
        return f"({count} > 0)"

    def cell(self, cells: ExprTranslator, table: Table, i: int, j: int) -> str:
        out, expr = table.outputs[j], table.rows[i].values[j]
        if expr is None:
            return "null"
        target = out.type.item
        return cells.expr(expr.node) if target == ACTION else cells.as_type(expr.node, target)

    def default(self, cells: ExprTranslator, table: Table, j: int) -> str:
        out = table.outputs[j]
        if out.type.kind == "list":
            return "[]"
        if table.aggregate == "count":
            return "0"
        expr = table.default[j] if table.default else None
        if expr is None:
            return "null"
        return cells.expr(expr.node) if out.type == ACTION else cells.as_type(expr.node,
                                                                              out.type)


def jdm(expressions: list[tuple[str, str]]) -> dict[str, Any]:
    """A JDM graph: input -> one expression node -> output."""
    position = {"x": 0, "y": 0}
    node = {"id": "rules", "type": "expressionNode", "name": "rules", "position": position,
            "content": {"expressions": [{"id": str(i), "key": k, "value": v}
                                        for i, (k, v) in enumerate(expressions)]}}
    return {"nodes": [{"id": "in", "type": "inputNode", "name": "Request", "position": position},
                      node,
                      {"id": "out", "type": "outputNode", "name": "Response",
                       "position": position}],
            "edges": [{"id": "e1", "type": "edge", "sourceId": "in", "targetId": "rules"},
                      {"id": "e2", "type": "edge", "sourceId": "rules", "targetId": "out"}]}


class ZenRules:
    """A program translated to ZEN; see :func:`translate`."""

    def __init__(self, program: Program):
        import zen

        self.program = program
        self.untranslated: list[str] = []
        self.approximate: dict[str, set[str]] = {}  # "ruleset.id" -> why
        self.graphs: dict[str, dict[str, Any]] = {}
        for rs in program.rulesets:
            t = RuleSetTranslator(program, rs)
            self.graphs[rs.name] = jdm(t.expressions())
            self.untranslated += [f"{rs.name}.{u}" for u in t.untranslated]
            self.approximate.update({f"{rs.name}.{k}": v for k, v in t.approximate.items()})
        self.engine = zen.ZenEngine({"loader": {"type": "static", "content": self.graphs}})
        self.decisions = {name: self.engine.create_decision(json.dumps(graph))
                          for name, graph in self.graphs.items()}

    @property
    def note(self) -> str:
        """What the lane leaves out or approximates, in a line for the comparison table."""
        done = ("every rule translated" if not self.untranslated
                else f"{len(self.untranslated)} rules not translated")
        return f"{done}, {len(self.approximate)} with ZEN's number or string semantics"

    @property
    def detail(self) -> str:
        """Every rule left out and every approximation, for compare.json."""
        lines = [f"not translated: {u}" for u in self.untranslated]
        lines += [f"ZEN semantics: {where}: {'; '.join(sorted(why))}"
                  for where, why in sorted(self.approximate.items())]
        return "\n".join(lines)

    def context(self, raw: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(rule set, ZEN input) of a raw transaction; None when pyengine dead-letters it
        before evaluation (schema error, unknown client)."""
        try:
            record = convert_record(self.program.schema, raw)
        except RecordError:
            return None
        rs = self.program.route(record["client_id"])
        return None if rs is None else (rs.name, record)

    def key(self, ruleset: str, response: Mapping[str, Any]) -> Key:
        """The comparison key of one ZEN result."""
        result = response["result"]
        if result.get("failed") or result.get("decision") is None:
            return FAILED
        return ruleset, ACTIONS[int(result["decision"])], tuple(result["fired"])

    def evaluate(self, raw: dict[str, Any]) -> Key:
        """One transaction through ZEN's per-record API."""
        found = self.context(raw)
        if found is None:
            return FAILED
        ruleset, record = found
        try:
            return self.key(ruleset, self.decisions[ruleset].evaluate(record))
        except RuntimeError:  # ZEN reports an evaluation error (e.g. null compared)
            return FAILED

    def evaluate_many(self, raws: list[dict[str, Any]]) -> list[Key]:
        """Transactions through ZEN's batch API (``ZenEngine.evaluate_batch``)."""
        found = [self.context(r) for r in raws]
        requests: list[Any] = [{"key": f[0], "context": f[1]} for f in found if f is not None]
        answers = iter(self.engine.evaluate_batch(requests))
        keys: list[Key] = []
        for f in found:
            if f is None:
                keys.append(FAILED)
                continue
            answer = next(answers)
            keys.append(self.key(f[0], answer["data"]) if answer.get("success") else FAILED)
        return keys
