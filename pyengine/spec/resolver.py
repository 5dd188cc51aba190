"""Load a rules directory into a :class:`~pyengine.spec.program.Program`.

The resolver reads ``schema.yaml`` and every rule set file, validates their
shape with pydantic, resolves ``extends``, parses and type-checks every
expression and table cell, and checks routing. It never stops at the first
problem: everything it finds is raised together as one :class:`SpecError`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pyengine.errors import Diagnostic, Pos, SpecError
from pyengine.lang import ast
from pyengine.lang.checker import Scope, Slot, check, coerce_literal, did_you_mean
from pyengine.lang.lexer import RESERVED, LangError
from pyengine.lang.parser import parse_cell, parse_expression
from pyengine.lang.types import (
    ACTION,
    BOOL,
    INT,
    NULL,
    STRING,
    Type,
    assignable,
    join,
    list_of,
    parse_type,
)
from pyengine.spec import models, yamlsrc
from pyengine.spec.program import (
    ACTIONS,
    RESERVED_COLUMNS,
    Expr,
    FieldDef,
    Output,
    Program,
    Row,
    Rule,
    RuleSet,
    RuleTest,
    Schema,
    Table,
)

SCHEMA_FILE = "schema.yaml"
ERROR_KINDS = ("schema", "unknown_client", "evaluation", "overflow", "division_by_zero",
               "missing_value", "unique_violation", "any_conflict", "conversion")


@dataclass
class _Source:
    path: str
    model: models.RuleSetFile
    data: dict[str, Any]
    smap: yamlsrc.SourceMap


# A rule set's rules and tables are each a step of one Java method, which the JVM
# bounds to 64 KB of bytecode: javac refused 4,000 rules ("code too large").
MAX_SET_SIZE = 2_000


def load_rules(root: str | Path) -> Program:
    """Load, validate and type-check the rules directory ``root``.

    Raises :class:`SpecError` listing every problem found.
    """
    return _Resolver(Path(root)).run()


class _Resolver:
    def __init__(self, root: Path):
        self.root = root
        self.diags: list[Diagnostic] = []
        self.sources: dict[str, str] = {}
        self.file_order: dict[str, list[Rule]] = {}  # rules before the priority sort
        self.broken: set[str] = set()  # rule set names of files that failed validation

    def fail(self) -> SpecError:
        return SpecError(self.diags, self.sources)

    def error(self, pos: Pos, message: str) -> None:
        self.diags.append(Diagnostic(pos, message))

    # -- files -----------------------------------------------------------
    def run(self) -> Program:
        if not self.root.is_dir():
            raise SpecError([Diagnostic(Pos(str(self.root), 1, 1),
                                        "rules directory not found")])
        schema_path = self.root / SCHEMA_FILE
        loaded_schema = self.load(schema_path, models.SchemaFile)
        files = sorted(p for p in self.root.iterdir()
                       if p.suffix in (".yaml", ".yml") and p.name != SCHEMA_FILE and p.is_file())
        loaded = [self.load(p, models.RuleSetFile) for p in files]
        if loaded_schema is None:
            raise self.fail()
        schema = self.schema(*loaded_schema)
        sources = [_Source(str(p), *x) for p, x in zip(files, loaded, strict=True) if x]
        if not files:
            self.error(Pos(str(self.root), 1, 1), "no rule set files (*.yaml) in the directory")
        # Files that failed validation are left out; the others are still checked in full.
        rulesets = self.resolve_sets(schema, sources)
        routes, default_set = self.routing(sources)
        outputs = self.directory_outputs(rulesets, sources)
        if self.diags:
            raise self.fail()
        return Program(
            root=str(self.root), schema=schema, rulesets=sorted(rulesets, key=lambda r: r.name),
            routes=routes, default_set=default_set, outputs=outputs,
            version=_version(loaded_schema[1], loaded_schema[2], sources), sources=self.sources,
        )

    def load(self, path: Path, model: type[BaseModel]) -> tuple[Any, Any, yamlsrc.SourceMap] | None:
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.error(Pos(name, 1, 1), "file not found")
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.error(Pos(name, 1, 1), f"cannot read file: {exc}")
            return None
        self.sources[name] = text
        try:
            data, smap = yamlsrc.load(text, name)
        except yamlsrc.YamlError as exc:
            self.diags.extend(exc.diagnostics)
            return None
        if not isinstance(data, dict):
            self.error(Pos(name, 1, 1), "expected a YAML mapping at the top of the file")
            return None
        try:
            return model.model_validate(data), data, smap
        except ValidationError as exc:
            self.diags.extend(_pydantic_diagnostics(exc, smap, model))
            if isinstance(data.get("ruleset"), str):
                self.broken.add(data["ruleset"])
            return None

    # -- schema ----------------------------------------------------------
    def schema(self, model: models.SchemaFile, data: Any, smap: yamlsrc.SourceMap) -> Schema:
        fields: dict[str, FieldDef] = {}
        for name, text in model.fields.items():
            pos = smap.pos(("fields", name))
            if name in RESERVED:
                self.error(smap.key_pos(("fields", name)), f"'{name}' is a reserved word")
            optional = text.strip().endswith("?")
            try:
                type_ = parse_type(text.strip().rstrip("?"))
            except ValueError as exc:
                self.error(pos, str(exc))
                continue
            fields[name] = FieldDef(name, type_, optional, pos)
        for required in ("id", "client_id"):
            f = fields.get(required)
            if f is None:
                self.error(smap.pos(("fields",)), f"the schema must declare '{required}: string'")
            elif f.type != STRING or f.optional:
                self.error(f.pos, f"'{required}' must be a required string field")
        return Schema(fields, smap.path)

    # -- rule sets -------------------------------------------------------
    def resolve_sets(self, schema: Schema, sources: list[_Source]) -> list[RuleSet]:
        by_name: dict[str, _Source] = {}
        for src in sources:
            name = src.model.ruleset
            if name in by_name:
                self.error(src.smap.pos(("ruleset",)),
                           f"rule set '{name}' is already defined in {by_name[name].path}")
            else:
                by_name[name] = src
        order = self.extends_order(by_name)
        fields = {n: Slot(f.type, f.optional) for n, f in schema.fields.items()}
        done: dict[str, RuleSet] = {}
        for name in order:
            done[name] = self.ruleset(by_name[name], fields, done)
        return list(done.values())

    def extends_order(self, by_name: dict[str, _Source]) -> list[str]:
        """Rule set names with every set after the sets it extends; reports cycles."""
        order: list[str] = []
        state: dict[str, str] = {}

        def visit(name: str, trail: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "active":
                cycle = " -> ".join([*trail[trail.index(name):], name])
                self.error(by_name[name].smap.pos(("extends",)), f"extends cycle: {cycle}")
                return
            state[name] = "active"
            src = by_name[name]
            for i, base in enumerate(src.model.extends):
                if base in self.broken:
                    continue  # already reported where that file failed
                if base not in by_name:
                    self.error(src.smap.pos(("extends", i)), f"unknown rule set '{base}' in "
                               f"extends{did_you_mean(base, by_name)}")
                else:
                    visit(base, [*trail, name])
            state[name] = "done"
            order.append(name)

        for name in sorted(by_name):
            visit(name, [])
        return order

    def ruleset(self, src: _Source, fields: dict[str, Slot], done: dict[str, RuleSet]) -> RuleSet:
        model, _smap = src.model, src.smap
        tables: list[Table] = []
        rules: list[Rule] = []
        for base in model.extends:
            if base in done:
                tables += [t for t in done[base].tables if t not in tables]
                rules += [r for r in self.file_order[base] if r not in rules]
        ids = {t.id: t.origin for t in tables} | {r.id: r.origin for r in rules}
        all_table_ids = {t.id for t in tables} | {t.id for t in model.tables}
        for i, tm in enumerate(model.tables):
            scope = Scope(fields, {t.id: _slots(t) for t in tables},
                          later_tables=all_table_ids - {t.id for t in tables})
            table = self.table(tm, ("tables", i), src, scope)
            if self.unique_id(table.id, table.pos, ids, model.ruleset):
                tables.append(table)
        scope = Scope(fields, {t.id: _slots(t) for t in tables})
        for i, rm in enumerate(model.rules):
            rule = self.rule(rm, ("rules", i), src, scope)
            if self.unique_id(rule.id, rule.pos, ids, model.ruleset):
                rules.append(rule)
        self.file_order[model.ruleset] = list(rules)
        # A stable sort keeps file order, extended sets first, among equals.
        ordered = sorted(rules, key=lambda r: (-r.priority, not r.hot))
        clients = model.clients if model.clients is not None else [model.ruleset]
        if len(tables) + len(rules) > MAX_SET_SIZE:
            self.error(src.smap.pos(("ruleset",)), f"rule set '{model.ruleset}' has "
                       f"{len(tables) + len(rules):,} rules and tables (with those of the sets "
                       f"it extends); at most {MAX_SET_SIZE:,} fit in the Java class it "
                       "compiles to: split it")
        rs = RuleSet(model.ruleset, src.path, clients, model.default,
                     model.mode, tables, ordered, [])
        rs.outputs = self.set_outputs(rs)
        rs.tests = [self.rule_test(t, ("tests", i), src, rs) for i, t in enumerate(model.tests)]
        return rs

    def unique_id(self, id_: str, pos: Pos, ids: dict[str, str], ruleset: str) -> bool:
        if id_ in ids:
            where = "" if ids[id_] == ruleset else f" (from extended set '{ids[id_]}')"
            self.error(pos, f"duplicate rule or table id '{id_}'{where}")
            return False
        ids[id_] = ruleset
        return True

    def rule(self, rm: models.RuleModel, path: yamlsrc.Path_, src: _Source, scope: Scope) -> Rule:
        when = self.expr((*path, "when"), src, scope, want=BOOL)
        sets: list[tuple[str, Expr | None]] = []
        for name in rm.set:
            key = (*path, "set", name)
            if name in RESERVED_COLUMNS:
                self.error(src.smap.key_pos(key), f"'{name}' is reserved for a result column")
            value = None if rm.set[name] is None else self.expr(key, src, scope)
            sets.append((name, value))
        assert when is not None or self.diags
        return Rule(rm.id, when or _placeholder(src.smap.pos(path)), rm.action, rm.reason,
                    rm.priority, rm.hot, sets, src.model.ruleset, src.smap.pos((*path, "id")))

    def table(self, tm: models.TableModel, path: yamlsrc.Path_, src: _Source,
              scope: Scope) -> Table:
        smap = src.smap
        pos = smap.pos((*path, "id"))
        inputs = [self.expr((*path, "inputs", i), src, scope) for i in range(len(tm.inputs))]
        input_types = [e.node.type if e else None for e in inputs]
        for e in inputs:
            if e is not None and e.node.type == NULL:
                self.error(e.pos, "a table input cannot be null")
        outputs = self.table_outputs(tm, path, src)
        for name in tm.default or {}:
            if name not in tm.outputs:
                self.error(smap.key_pos((*path, "default", name)),
                           f"'{name}' is not an output of table '{tm.id}'")
        default = self.table_row_values(tm.default, outputs,
                                        [(*path, "default", o.name) for o in outputs], src, scope)
        rows = []
        for r, cells in enumerate(tm.rows):
            rpath = (*path, "rows", r)
            if len(cells) != len(tm.inputs) + len(tm.outputs):
                self.error(smap.pos(rpath), f"row has {len(cells)} cells, expected "
                           f"{len(tm.inputs)} inputs + {len(tm.outputs)} outputs")
                continue
            tests = [self.cell((*rpath, i), i, src, scope, input_types)
                     for i in range(len(tm.inputs))]
            values = {name: cells[len(tm.inputs) + j] for j, name in enumerate(tm.outputs)}
            keys = [(*rpath, len(tm.inputs) + j) for j in range(len(outputs))]
            row_values = self.table_row_values(values, outputs, keys, src, scope)
            assert row_values is not None
            rows.append(Row([t for t in tests if t is not None], row_values, smap.pos(rpath)))
        return Table(tm.id, tm.hit, tm.aggregate, [e for e in inputs if e], outputs, default,
                     rows, src.model.ruleset, pos)

    def table_outputs(self, tm: models.TableModel, path: yamlsrc.Path_,
                      src: _Source) -> list[Output]:
        outputs = []
        for name, text in tm.outputs.items():
            opos = src.smap.pos((*path, "outputs", name))
            try:
                type_ = parse_type(text, allow_action=name == "action")
            except ValueError as exc:
                self.error(opos, str(exc))
                type_ = INT
            if name == "action" and type_ != ACTION:
                self.error(opos, "the output 'action' must have type 'action'")
            elif name in RESERVED_COLUMNS - {"action"}:
                self.error(src.smap.key_pos((*path, "outputs", name)),
                           f"'{name}' is reserved for a result column")
            has_default = tm.default is not None and tm.default.get(name) is not None
            nullable = not has_default and tm.aggregate != "count"
            if tm.hit == "collect":
                type_, nullable = self.collect_type(tm, type_, nullable, opos)
            outputs.append(Output(name, type_, nullable))
        if tm.aggregate and tm.hit != "collect":
            self.error(src.smap.pos((*path, "aggregate")), "aggregate applies to hit: collect only")
        return outputs

    def collect_type(self, tm: models.TableModel, type_: Type, nullable: bool,
                     pos: Pos) -> tuple[Type, bool]:
        if type_ == ACTION:
            self.error(pos, "a collect table cannot output 'action'")
            return type_, nullable
        if tm.aggregate is None:
            if tm.default:
                self.error(pos, "a collect table without aggregate outputs lists and takes no "
                           "default: no matching row gives an empty list")
            return list_of(type_), False
        if len(tm.outputs) != 1:
            self.error(pos, f"aggregate '{tm.aggregate}' needs exactly one output")
        if tm.aggregate == "count":
            return INT, False
        if not type_.is_numeric:
            self.error(pos, f"aggregate '{tm.aggregate}' needs a numeric output, not {type_}")
        return type_, nullable

    def table_row_values(self, values: dict[str, Any] | None, outputs: list[Output],
                         keys: list[yamlsrc.Path_], src: _Source,
                         scope: Scope) -> list[Expr | None] | None:
        if values is None:
            return None
        result: list[Expr | None] = []
        for out, key in zip(outputs, keys, strict=True):
            if values.get(out.name) is None:
                result.append(None)
                continue
            result.append(self.output_value(key, src, scope, out.type.item))
        return result

    def output_value(self, key: yamlsrc.Path_, src: _Source, scope: Scope,
                     declared: Type) -> Expr | None:
        if declared == ACTION:
            e = self.expr(key, src, scope)
            if e is not None and not (isinstance(e.node, ast.Literal) and e.node.value in ACTIONS):
                self.error(e.pos, "an action cell must be one of "
                           + ", ".join(f'"{a}"' for a in ACTIONS))
            if e is not None:
                e.node.type = ACTION
            return e
        return self.expr(key, src, scope, want=declared, assign=True)

    def cell(self, path: yamlsrc.Path_, index: int, src: _Source, scope: Scope,
             input_types: list[Type | None]) -> Expr | None:
        if any(t is None for t in input_types):
            return None  # the input itself is wrong; one message is enough
        cell_scope = Scope(scope.fields, scope.tables, [t for t in input_types if t],
                           scope.later_tables)
        return self.expr(path, src, cell_scope, want=BOOL, cell=index)

    # -- expressions -----------------------------------------------------
    def expr(self, path: yamlsrc.Path_, src: _Source, scope: Scope, *, want: Type | None = None,
             assign: bool = False, cell: int | None = None) -> Expr | None:
        loc = src.smap.get(path)
        text = loc.text if loc.text is not None else ""
        try:
            if cell is None:
                node = parse_expression(text, loc.at)
            else:
                node = parse_cell(text, cell, loc.at)
        except LangError as exc:
            self.diags.append(exc.diagnostic)
            return None
        type_, problems = check(node, scope)
        self.diags.extend(problems)
        if type_ is None:
            return None
        if want is not None and assign:
            problem = coerce_literal(node, want)
            if problem:
                self.diags.append(problem)
            elif node.type is not None and not assignable(node.type, want):
                self.error(node.pos, f"expected {want}, got {node.type}")
                return None
        elif want is not None and type_ != want:
            what = "a cell" if cell is not None else "this expression"
            self.error(node.pos, f"{what} must be {want}, not {type_}")
            return None
        return Expr(text, node, loc.pos)

    # -- outputs, routing, tests -----------------------------------------
    def set_outputs(self, rs: RuleSet) -> dict[str, Type]:
        outputs: dict[str, Type] = {}
        origin: dict[str, Pos] = {}
        producers: list[tuple[str, Type, Pos]] = []
        owner: dict[str, str] = {}
        for t in rs.tables:
            for o in t.outputs:
                if o.name == "action":
                    continue
                if o.name in owner:
                    self.error(t.pos, f"output '{o.name}' is already produced by table "
                               f"'{owner[o.name]}' in rule set '{rs.name}'")
                owner[o.name] = t.id
                producers.append((o.name, o.type, t.pos))
        for r in rs.rules:
            producers += [(n, e.type, e.pos) for n, e in r.sets if e is not None]
        for name, type_, pos in producers:
            if name not in outputs:
                outputs[name], origin[name] = type_, pos
                continue
            joined = join(outputs[name], type_)
            if joined is None or (joined.kind == "list" and outputs[name] != type_):
                self.error(pos, f"output '{name}' is {type_} here but {outputs[name]} at "
                           f"{origin[name]}")
            else:
                outputs[name] = joined
        for r in rs.rules:
            for name, e in r.sets:
                if e is None and name not in outputs:
                    outputs[name] = NULL
        return outputs

    def directory_outputs(self, rulesets: list[RuleSet],
                          sources: list[_Source]) -> dict[str, Type]:
        result: dict[str, Type] = {}
        first: dict[str, str] = {}
        paths = {s.model.ruleset: s for s in sources}
        for rs in sorted(rulesets, key=lambda r: r.name):
            for name, type_ in rs.outputs.items():
                if name not in result or result[name] == NULL:
                    result[name], first[name] = type_, rs.name
                    continue
                joined = join(result[name], type_) if type_ != NULL else result[name]
                if joined is None:
                    self.error(paths[rs.name].smap.pos(("ruleset",)),
                               f"output '{name}' is {type_} in rule set '{rs.name}' but "
                               f"{result[name]} in '{first[name]}'")
                else:
                    result[name] = joined
        for name, type_ in result.items():
            if type_ == NULL:
                result[name] = STRING  # only ever set to null: any column type will do
        return dict(sorted(result.items()))

    def routing(self, sources: list[_Source]) -> tuple[dict[str, str], str | None]:
        routes: dict[str, str] = {}
        default_set: str | None = None
        for src in sorted(sources, key=lambda s: s.model.ruleset):
            m = src.model
            clients = m.clients if m.clients is not None else [m.ruleset]
            for i, client in enumerate(clients):
                if client in routes and routes[client] != m.ruleset:
                    self.error(src.smap.pos(("clients", i)), f"client '{client}' is already "
                               f"served by rule set '{routes[client]}'")
                routes.setdefault(client, m.ruleset)
            if m.default:
                if default_set is not None:
                    self.error(src.smap.pos(("default",)), f"only one rule set may be the "
                               f"default; '{default_set}' already is")
                else:
                    default_set = m.ruleset
        return routes, default_set

    def rule_test(self, tm: models.TestModel, path: yamlsrc.Path_, src: _Source,
                  rs: RuleSet) -> RuleTest:
        expect = tm.expect.model_dump(exclude_none=True)
        epath = (*path, "expect")
        ids = set(rs.ids)
        for i, id_ in enumerate(tm.expect.fired or []):
            if id_ not in ids:
                self.error(src.smap.pos((*epath, "fired", i)), f"no rule or table '{id_}' in "
                           f"rule set '{rs.name}'{did_you_mean(id_, ids)}")
        for name in tm.expect.outputs or {}:
            if name not in rs.outputs:
                self.error(src.smap.key_pos((*epath, "outputs", name)),
                           f"rule set '{rs.name}' has no output '{name}'")
        if tm.expect.error is not None and tm.expect.error not in ERROR_KINDS:
            self.error(src.smap.pos((*epath, "error")), f"unknown error kind "
                       f"'{tm.expect.error}' (one of {', '.join(ERROR_KINDS)})")
        return RuleTest(tm.name, tm.txn, expect, src.smap.pos((*path, "name")))


def _slots(table: Table) -> dict[str, Slot]:
    return {o.name: Slot(o.type, o.nullable) for o in table.outputs}


def _placeholder(pos: Pos) -> Expr:
    node = ast.Literal(pos, value=False, text="false")
    node.type = BOOL
    return Expr("false", node, pos)


def _pydantic_diagnostics(exc: ValidationError, smap: yamlsrc.SourceMap,
                          model: type[BaseModel]) -> list[Diagnostic]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # A union (expressions) reports once per member; tagged-union paths add the member.
        loc = tuple(x for x in loc if not (isinstance(x, str) and x in ("str", "bool", "int",
                                                                          "float", "none")))
        if loc in seen:
            continue
        seen.add(loc)
        where = _dotted(loc)
        if loc and loc[-1] == "[key]":
            out.append(Diagnostic(smap.key_pos(loc[:-1]), f"key '{loc[-2]}': {err['msg']}"))
        elif err["type"] == "extra_forbidden":
            out.append(Diagnostic(smap.key_pos(loc), f"unknown key '{loc[-1]}'"))
        elif err["type"] == "missing":
            out.append(Diagnostic(smap.pos(loc[:-1]), f"missing required key '{where}'"))
        else:
            out.append(Diagnostic(smap.pos(loc), f"{where}: {err['msg']}"))
    return out


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _version(schema_data: Any, schema_map: yamlsrc.SourceMap, sources: list[_Source]) -> str:
    """sha256 of the normalized rules: scalars as written, comments and layout ignored."""
    doc = {
        "schema": _normalize(schema_data, schema_map, ()),
        "rulesets": {
            Path(s.path).name: _normalize(
                {k: v for k, v in s.data.items() if k != "tests"}, s.smap, ())
            for s in sources
        },
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _normalize(value: Any, smap: yamlsrc.SourceMap, path: yamlsrc.Path_) -> Any:
    if isinstance(value, dict):
        return {k: _normalize(v, smap, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v, smap, (*path, i)) for i, v in enumerate(value)]
    # Keep the text as written: 1.50 and 1.5 are different decimal literals.
    return [type(value).__name__, smap.get(path).text]
