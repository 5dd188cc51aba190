"""Program -> Java sources, through the Jinja2 templates in ``templates/``.

Python prepares a small view model (names, types, Java expression text) and
the templates lay out the classes. User text reaches Java only as string
literals or comments built by :mod:`pyengine.codegen.javatext`, and reaches the
templates only as variable values, so it can never be read as template syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from pyengine import resources
from pyengine.codegen import javatext
from pyengine.codegen.expr import Constants, JavaExpr, Slots, conversion, jtype, literal
from pyengine.codegen.layout import (
    REFUSED_TEXT,
    OutputSlot,
    input_layout,
    item_kind,
    single_layout,
)
from pyengine.errors import Pos
from pyengine.lang.types import ACTION, NULL, Type
from pyengine.spec.program import ACTIONS, Expr, Program, Rule, RuleSet, Table

PACKAGE = "pyengine.generated"


@dataclass
class FieldView:
    """A schema field as the Record and Chunk classes see it."""

    index: int
    name: str
    jtype: str
    kind: str  # long | double | boolean | string
    optional: bool
    used: bool = True  # read by some expression (client_id always: it routes)
    decimal: bool = False  # may come as Arrow's decimal128, read in place (Chunk.outOfRange)


@dataclass
class OutputView:
    """A result column beyond the fixed ones (for a list: its item type and capacity)."""

    index: int
    name: str
    jtype: str
    kind: str
    zero: str
    is_list: bool = False
    cap: int = 1
    offset: int = 0  # in the single-result buffer (codegen.layout): validity byte
    values_offset: int = 0  # first value slot
    decimal: bool = False  # a chunk holds it as Arrow's decimal128: two longs a value


@dataclass
class TableOutputView:
    name: str
    field: str
    jtype: str  # of one value (the item type for a list)
    zero: str
    is_action: bool
    is_list: bool = False
    cap: int = 1


@dataclass
class RowView:
    comment: str
    number: int
    test: str
    values: list[str | None]


@dataclass
class TableView:
    index: int
    bit: int
    id: str
    comment: str
    hit: str
    aggregate: str | None
    inputs: list[tuple[str, str]]  # (java type, code)
    outputs: list[TableOutputView]
    rows: list[RowView]
    default: list[str | None]
    has_action: bool


@dataclass
class RuleView:
    bit: int
    id: str
    method: str
    comment: str
    reason: str
    when: str
    action: str
    sets: list[tuple[str, str, str | None]]  # (output, Java type, Java value or None: null)


@dataclass
class RuleSetView:
    index: int
    name: str
    class_name: str
    comment: str
    mode: str
    tables: list[TableView]
    rules: list[RuleView]
    # (output, Java value as column type, has-flag, is a list)
    table_outputs: list[tuple[str, str, str, bool]]
    constants: list[str] = field(default_factory=list)


def generate(program: Program, out_dir: Path) -> list[Path]:
    """Write the Java sources for ``program`` under ``out_dir``; returns their paths."""
    sources = render(program)
    package_dir = out_dir / PACKAGE.replace(".", "/")
    package_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in sources.items():
        path = package_dir / name
        path.write_text(text, encoding="ascii")
        paths.append(path)
    return paths


def render(program: Program) -> dict[str, str]:
    """File name -> Java source text, deterministic for a given program."""
    env = _environment()
    fields = _fields(program)
    single = single_layout(program)
    outputs = [_output_view(program, i, name, t, single.outputs[i])
               for i, (name, t) in enumerate(program.outputs.items())]
    sets = [_ruleset_view(program, i, rs) for i, rs in enumerate(program.rulesets)]
    words = max(1, max((len(rs.ids) + 63) // 64 for rs in program.rulesets))
    set_index = {rs.name: i for i, rs in enumerate(program.rulesets)}
    routes = sorted(program.routes.items())
    ctx = {
        "package": PACKAGE, "program": program, "fields": fields, "outputs": outputs,
        "sets": sets, "words": words, "version": program.version,
        "routes": routes, "route_sets": [set_index[name] for _, name in routes],
        "default_index": next((i for i, rs in enumerate(program.rulesets)
                               if rs.name == program.default_set), -1),
        "ids": [rs.ids for rs in program.rulesets],
        "fired_ids": program.fired_ids, "single": single, "max_fired": program.max_fired,
        "single_input": input_layout(program.schema), "refused_text": REFUSED_TEXT,
        "fired_codes": [[program.fired_ids.index(i) for i in rs.ids] for rs in program.rulesets],
    }
    files = {
        "Record.java": env.get_template("Record.java.j2").render(ctx),
        "Result.java": env.get_template("Result.java.j2").render(ctx),
        "Chunk.java": env.get_template("Chunk.java.j2").render(ctx),
        "Rules.java": env.get_template("Rules.java.j2").render(ctx),
        "Evaluator.java": env.get_template("Evaluator.java.j2").render(ctx),
    }
    ruleset_template = env.get_template("RuleSet.java.j2")
    for view in sets:
        files[f"{view.class_name}.java"] = ruleset_template.render(ctx, rs=view)
    return files


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Java, not HTML: all user text goes through the filters below
    )
    env.filters["jstr"] = javatext.string_literal
    # Arrays that grow with the rules, read from text (see Ops.words)
    env.filters["words"] = javatext.words
    env.filters["ints"] = javatext.ints
    env.filters["word_lists"] = javatext.word_lists
    env.filters["int_lists"] = javatext.int_lists
    env.filters["strings"] = javatext.strings
    env.filters["comment"] = javatext.comment
    return env


def _output_view(program: Program, index: int, name: str, t: Type,
                 slot: OutputSlot) -> OutputView:
    item = t.item
    return OutputView(index, name, jtype(item), item_kind(item), literal(_zero(item), item),
                      t.kind == "list", program.list_capacity(name), slot.offset,
                      slot.values_offset, item.kind == "decimal")


def _zero(t: Type) -> object:
    return {"long": 0, "double": 0.0, "boolean": False, "int": "approve"}.get(jtype(t), "")


def _fields(program: Program) -> list[FieldView]:
    used = program.read_fields
    return [FieldView(i, f.name, jtype(f.type), item_kind(f.type), f.optional, f.name in used,
                      f.type.kind == "decimal")
            for i, f in enumerate(program.schema.fields.values())]


def method_origin(program: Program, origin: str) -> tuple[str, Pos] | None:
    """The kind (rule or table) and position in the rules of the rule or table whose
    generated method carries the comment ``origin`` (``rule ID (FILE:LINE)``); None
    for any other text."""
    for rs in program.rulesets:
        items: list[tuple[str, Rule | Table]] = [*(("rule", r) for r in rs.rules),
                                                 *(("table", t) for t in rs.tables)]
        for kind, item in items:
            if origin == javatext.comment(_origin(kind, item, program)):
                return kind, item.pos
    return None


def _origin(kind: str, item: Rule | Table, program: Program) -> str:
    """``rule ID (FILE:LINE)``: how the comment above a rule's or table's method starts."""
    return f"{kind} {item.id} ({_where(item.pos, program)})"


def _where(pos: Pos, program: Program) -> str:
    try:
        path = str(Path(pos.path).relative_to(program.root))
    except ValueError:
        path = pos.path
    return f"{path}:{pos.line}"


def _ruleset_view(program: Program, index: int, rs: RuleSet) -> RuleSetView:
    consts = Constants()
    table_index = {t.id: i for i, t in enumerate(rs.tables)}
    slots = Slots(
        table_index,
        {(t.id, o.name): o.nullable for t in rs.tables for o in t.outputs},
        {(t.id, o.name): o.type for t in rs.tables for o in t.outputs},
        {f.name for f in program.schema.fields.values() if f.optional},
    )
    gen = JavaExpr(slots, consts)
    tables = [_table_view(program, i, t, gen) for i, t in enumerate(rs.tables)]
    nt = len(rs.tables)
    rules = [_rule_view(program, nt + i, r, gen) for i, r in enumerate(rs.rules)]
    table_outputs = []
    for name, col_type in program.outputs.items():
        owner = next((t for t in rs.tables for o in t.outputs if o.name == name), None)
        if owner is not None:
            value = f"t{table_index[owner.id]}_{name}"
            is_list = col_type.kind == "list"
            converted = value if is_list else conversion(value, owner.output(name).type, col_type)
            table_outputs.append((name, converted, f"{value}_has", is_list))
    view = RuleSetView(index, rs.name, f"RuleSet{index}", javatext.comment(
        f"rule set {rs.name} ({_where(Pos(rs.path, 1, 1), program)})"), rs.mode, tables, rules,
        table_outputs)
    view.constants = consts.lines()
    return view


def _table_view(program: Program, index: int, t: Table, gen: JavaExpr) -> TableView:
    outputs = []
    for o in t.outputs:
        item = o.type.item
        outputs.append(TableOutputView(o.name, f"t{index}_{o.name}", jtype(item),
                                       literal(_zero(item), item), o.type == ACTION,
                                       o.type.kind == "list", len(t.rows)))
    rows = []
    for n, row in enumerate(t.rows, start=1):
        tests = [gen.expr(e.node) for e in row.tests if not _always_true(e)]
        rows.append(RowView(javatext.comment(f"row {n} ({_where(row.pos, program)})"), n,
                            " && ".join(tests) or "true",
                            [_value(gen, e, o.type) for e, o in zip(row.values, t.outputs,
                                                                   strict=True)]))
    default = [_value(gen, e, o.type) for e, o in zip(t.default or [None] * len(t.outputs),
                                                       t.outputs, strict=True)]
    return TableView(
        index, index, t.id,
        javatext.comment(f"{_origin('table', t, program)}, hit policy {t.hit}"
                         + (f", aggregate {t.aggregate}" if t.aggregate else "")),
        t.hit, t.aggregate,
        [(jtype(e.type), gen.expr(e.node)) for e in t.inputs], outputs, rows, default,
        any(o.type == ACTION for o in t.outputs),
    )


def _value(gen: JavaExpr, e: Expr | None, t: Type) -> str | None:
    if e is None or e.type == NULL:
        return None
    if t.kind == "list" and t.elem is not None:
        t = t.elem
    if t == ACTION:
        return literal(e.node.value, ACTION)  # type: ignore[attr-defined]
    return gen.expr(e.node, t)


def _always_true(e: Expr) -> bool:
    return e.text.strip() == "-"


def _rule_view(program: Program, bit: int, r: Rule, gen: JavaExpr) -> RuleView:
    sets = []
    for name, e in r.sets:
        col = program.outputs[name]
        value = None if e is None or e.type == NULL else gen.expr(e.node, col)
        sets.append((name, jtype(col), value))
    return RuleView(
        bit, r.id, f"rule_{r.id}",
        javatext.comment(f"{_origin('rule', r, program)}, priority {r.priority}"
                         + (", hot" if r.hot else "")),
        javatext.comment(r.reason or ""),
        gen.expr(r.when.node), f"Actions.{r.action.upper()}", sets,
    )


__all__ = ["ACTIONS", "generate", "method_origin", "render"]
