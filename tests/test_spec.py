"""Loading rules directories: every kind of problem, reported at once with a position."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyengine.errors import SHOWN, SpecError
from pyengine.spec.models import ruleset_json_schema
from pyengine.spec.resolver import load_rules
from tests.helpers import SCHEMA, one_rule, write_rules


def errors(root: Path) -> list[str]:
    """``file:line:col: message`` of every diagnostic, file names relative to root."""
    with pytest.raises(SpecError) as info:
        load_rules(root)
    return [f"{Path(d.pos.path).name}:{d.pos.line}:{d.pos.col}: {d.message}"
            for d in info.value.diagnostics]


def test_rendering_has_path_line_col_source_and_caret(tmp_path: Path) -> None:
    root = write_rules(tmp_path / "r", {"c.yaml": one_rule("amount > > 1")})
    with pytest.raises(SpecError) as info:
        load_rules(root)
    assert info.value.render() == (
        f"{root}/c.yaml:4:20: error: expected an expression, found '>'\n"
        "    when: amount > > 1\n"
        "                   ^"
    )


def test_a_long_source_line_is_cut_around_the_caret(tmp_path: Path) -> None:
    when = " + ".join(["mcc", *map(str, range(1, 2_000))]) + " > 0"
    root = write_rules(tmp_path / "r", {"c.yaml": one_rule(when)})
    with pytest.raises(SpecError) as info:
        load_rules(root)
    head, line, caret = info.value.render().splitlines()
    assert head.endswith("nested deeper than 100 levels (each operator of a chain such as "
                         "a + b + c is one): split it into several rules")
    assert line.startswith("...") and line.endswith("...")
    assert len(line) == SHOWN + 6
    assert line[len(caret) - 1] == "+"  # the caret is under the operator
    assert line[:len(caret) - 1].rstrip().endswith(" 99")


def test_names_are_bounded(tmp_path: Path) -> None:
    # Names become Java identifiers and constants: 70,000 characters broke javac.
    long, longer = "r" * 128, "r" * 129
    root = write_rules(tmp_path / "ok", {"c.yaml": one_rule("vip").replace("id: r", f"id: {long}")})
    assert load_rules(root).rulesets[0].rules[0].id == long
    root = write_rules(tmp_path / "r", {
        "c.yaml": one_rule("vip").replace("id: r", f"id: {longer}"),
        "d.yaml": f"ruleset: d\nclients: [{'x' * 129}]\nrules: []\n",
    })
    assert errors(root) == ["c.yaml:3:9: rules[0].id: String should have at most 128 characters",
                            "d.yaml:2:11: clients[0]: String should have at most 128 characters"]


def test_yaml_aliases_are_refused_before_they_are_expanded(tmp_path: Path) -> None:
    # Six levels of nine aliases each would be built as 9**6 values (twelve never ended);
    # six keep a regression a failure rather than a hang.
    levels = "".join(f"l{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]\n" for k in range(1, 7))
    root = write_rules(tmp_path / "r", {"c.yaml": f"ruleset: c\nl0: &a0 [lol]\n{levels}"})
    assert errors(root) == ["c.yaml:3:10: invalid YAML: aliases (*a0) are not supported in "
                            "rule files: write the value out"]


def test_rule_sets_are_bounded_in_size(tmp_path: Path) -> None:
    rules = "".join(f"  - id: r{k}\n    when: mcc == {k}\n    action: flag\n"
                    for k in range(2_001))
    root = write_rules(tmp_path / "r", {"c.yaml": f"ruleset: c\nrules:\n{rules}"})
    assert errors(root) == ["c.yaml:1:10: rule set 'c' has 2,001 rules and tables (with those "
                            "of the sets it extends); at most 2,000 fit in the Java class it "
                            "compiles to: split it"]


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    root = write_rules(tmp_path / "r", {
        "a.yaml": one_rule("amount > score").replace("ruleset: c", "ruleset: a"),
        "b.yaml": "ruleset: b\nrules:\n  - id: r\n    when: mcc >\n    action: maybe\n",
        "c.yaml": "ruleset: c\nrules: [{id: x, when: 'nope', action: flag}]\n",
    })
    assert errors(root) == [
        "a.yaml:4:18: cannot compare decimal(2) > float; a decimal never mixes with a float: "
        "convert with double(x)",
        "b.yaml:5:13: rules[0].action: Input should be 'approve', 'flag', 'review' or 'reject'",
        "c.yaml:2:24: unknown name 'nope' (did you mean 'note'?)",
    ]


def test_positions_inside_quoted_and_block_scalars(tmp_path: Path) -> None:
    root = write_rules(tmp_path / "r", {"c.yaml": """\
        ruleset: c
        rules:
          - id: quoted
            when: 'mcc > "x"'
            action: flag
          - id: block
            when: |
              mcc > 1 &&
                vip && nope
            action: flag
        """})
    assert errors(root) == [
        "c.yaml:4:16: cannot compare int > string",
        "c.yaml:9:16: unknown name 'nope' (did you mean 'note'?)",
    ]


@pytest.mark.parametrize(("files", "expected"), [
    ({"c.yaml": "ruleset: c\nrules: [\n"}, "c.yaml:3:1: invalid YAML"),
    ({"c.yaml": "- just\n- a list\n"}, "c.yaml:1:1: expected a YAML mapping"),
    ({"c.yaml": "ruleset: c\nrulez: []\n"}, "c.yaml:2:1: unknown key 'rulez'"),
    ({"c.yaml": "rules: []\n"}, "c.yaml:1:1: missing required key 'ruleset'"),
    ({"c.yaml": "ruleset: C!\n"}, "c.yaml:1:10: ruleset: String should match pattern"),
    ({"c.yaml": "ruleset: c\nruleset: d\n"}, "c.yaml:2:1: duplicate key 'ruleset'"),
    ({"c.yaml": one_rule("true").replace("id: r", "id: Bad-Id")},
     "c.yaml:3:9: rules[0].id: String should match pattern"),
    ({"c.yaml": one_rule("true"), "d.yaml": "ruleset: c\n"},
     "d.yaml:1:10: rule set 'c' is already defined in"),
    ({"c.yaml": one_rule("true") + "  - id: r\n    when: false\n    action: flag\n"},
     "c.yaml:6:9: duplicate rule or table id 'r'"),
    ({"c.yaml": "ruleset: c\nextends: [nobody]\n"},
     "c.yaml:2:11: unknown rule set 'nobody' in extends"),
    ({"a.yaml": "ruleset: a\nextends: [b]\n", "b.yaml": "ruleset: b\nextends: [a]\n"},
     "a.yaml:2:10: extends cycle: a -> b -> a"),
    ({"a.yaml": "ruleset: a\nclients: [x]\n", "b.yaml": "ruleset: b\nclients: [x]\n"},
     "b.yaml:2:11: client 'x' is already served by rule set 'a'"),
    ({"a.yaml": "ruleset: a\ndefault: true\n", "b.yaml": "ruleset: b\ndefault: true\n"},
     "b.yaml:2:10: only one rule set may be the default; 'a' already is"),
    ({"c.yaml": one_rule("mcc", extra="")}, "c.yaml:4:11: this expression must be bool, not int"),
    ({"c.yaml": one_rule("true", extra="    set: {fee: 'mcc +'}\n")},
     "c.yaml:6:22: expected an expression, found end of expression"),
    ({"c.yaml": one_rule("true", extra="    set: {decision: 1}\n")},
     "c.yaml:6:11: 'decision' is reserved for a result column"),
    ({"c.yaml": one_rule("true", extra="    set: {fee: 1}\n") +
      "  - id: s\n    when: true\n    action: flag\n    set: {fee: '\"x\"'}\n"},
     "c.yaml:10:16: output 'fee' is string here but int at"),
    ({"c.yaml": "ruleset: c\ntables:\n  - id: t\n    inputs: [mcc]\n    outputs: {x: int}\n"
                "    rows:\n      - ['1']\n"}, "c.yaml:7:9: row has 1 cells, expected 1 inputs"),
    ({"c.yaml": "ruleset: c\ntables:\n  - id: t\n    inputs: [mcc]\n    outputs: {x: money}\n"},
     "c.yaml:5:18: unknown type 'money'"),
    ({"c.yaml": "ruleset: c\ntables:\n  - id: t\n    inputs: [mcc]\n    outputs: {x: int}\n"
                "    rows:\n      - ['> \"a\"', 1]\n"}, "c.yaml:7:11: cannot compare int > string"),
    ({"c.yaml": "ruleset: c\ntables:\n  - id: t\n    inputs: [mcc]\n    outputs: {x: int}\n"
                "    rows:\n      - ['1', '\"one\"']\n"}, "c.yaml:7:16: expected int, got string"),
    ({"c.yaml": "ruleset: c\ntables:\n  - id: t\n    inputs: [mcc]\n    outputs: {x: int}\n"
                "    default: {y: 1}\n"}, "c.yaml:6:15: 'y' is not an output of table 't'"),
    ({"c.yaml": "ruleset: c\ntables:\n  - id: t\n    hit: first\n    aggregate: sum\n"
                "    inputs: [mcc]\n    outputs: {x: int}\n"},
     "c.yaml:5:16: aggregate applies to hit: collect only"),
    ({"c.yaml": "ruleset: c\ntables:\n  - id: t\n    hit: collect\n    aggregate: sum\n"
                "    inputs: [mcc]\n    outputs: {x: string}\n"},
     "c.yaml:7:18: aggregate 'sum' needs a numeric output, not string"),
    ({"c.yaml": "ruleset: c\ntables:\n  - id: t\n    hit: collect\n    inputs: [mcc]\n"
                "    outputs: {x: int}\n    default: {x: 1}\n"},
     "c.yaml:6:18: a collect table without aggregate outputs lists and takes no default"),
    ({"c.yaml": "ruleset: c\ntables:\n  - id: t\n    inputs: [mcc]\n    outputs: {action: int}\n"},
     "c.yaml:5:23: the output 'action' must have type 'action'"),
    ({"c.yaml": "ruleset: c\ntables:\n  - id: t\n    inputs: [mcc]\n"
                "    outputs: {action: action}\n    rows:\n      - ['1', '\"maybe\"']\n"},
     "c.yaml:7:15: an action cell must be one of"),
    ({"c.yaml": "ruleset: c\nrules:\n  - id: r\n    when: t.x > 1\n    action: flag\n"
                "tables:\n  - id: t\n    inputs: [mcc]\n    outputs: {x: int}\n"
                "  - id: u\n    inputs: [v.y]\n    outputs: {y: int}\n"
                "  - id: v\n    inputs: [mcc]\n    outputs: {z: int}\n"},
     "c.yaml:11:14: table 'v' is evaluated after this one"),
    ({"c.yaml": one_rule("true") + "tests:\n  - name: n\n    txn: {}\n"
                "    expect: {fired: [nope]}\n"},
     "c.yaml:9:22: no rule or table 'nope' in rule set 'c'"),
    ({"c.yaml": one_rule("true") + "tests:\n  - name: n\n    txn: {}\n"
                "    expect: {error: oops}\n"}, "c.yaml:9:21: unknown error kind 'oops'"),
    # A YAML \ud800 escape gives a lone surrogate, which Java decoded into a string no
    # Python str() could take back: evaluation crashed on the rule's output.
    ({"c.yaml": "ruleset: c\nrules:\n  - id: r\n    when: 'true'\n    action: flag\n"
                "    set: {risk_tag: \"\\\"\\ud800\\\"\"}\n"},
     "c.yaml:6:21: U+D800 is a lone surrogate"),
    ({"c.yaml": one_rule("true") + "    reason: \"bad \\udfff\"\n"},
     "c.yaml:6:13: U+DFFF is a lone surrogate"),
])
def test_each_kind_of_problem(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    root = write_rules(tmp_path / "r", files)
    found = errors(root)
    assert any(e.startswith(expected) for e in found), found


@pytest.mark.parametrize(("schema", "expected"), [
    ("fields:\n  id: string\n  client_id: string\n  x: decimal(12)\n",
     "schema.yaml:4:6: decimal scale must be between 0 and 9, got 12"),
    ("fields:\n  id: string\n", "schema.yaml:2:3: the schema must declare 'client_id: string'"),
    ("fields:\n  id: int\n  client_id: string\n", "schema.yaml:2:7: 'id' must be a required "
                                                     "string field"),
    ("fields:\n  id: string\n  client_id: string\n  in: int\n",
     "schema.yaml:4:3: 'in' is a reserved word"),
    ("fields:\n  id: string\n  client_id: string\n  x-y: int\n",
     "schema.yaml:4:3: key 'x-y': String should match pattern"),
])
def test_schema_problems(tmp_path: Path, schema: str, expected: str) -> None:
    root = write_rules(tmp_path / "r", {"c.yaml": "ruleset: c\n"}, schema=schema)
    found = errors(root)
    assert any(e.startswith(expected) for e in found), found


def test_missing_directory_and_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="rules directory not found"):
        load_rules(tmp_path / "nowhere")
    root = write_rules(tmp_path / "r", {})
    assert errors(root) == ["r:1:1: no rule set files (*.yaml) in the directory"]
    (root / "schema.yaml").unlink()
    write_rules(root, {"c.yaml": "ruleset: c\n"}, schema=None)
    assert errors(root) == ["schema.yaml:1:1: file not found"]


def test_extends_order_priority_and_routing(tmp_path: Path) -> None:
    root = write_rules(tmp_path / "r", {
        "base.yaml": "ruleset: base\nclients: []\nrules:\n"
                     "  - {id: b1, when: 'true', action: flag}\n"
                     "  - {id: b2, when: 'true', action: flag, priority: 5}\n",
        "mid.yaml": "ruleset: mid\nclients: []\nextends: [base]\nrules:\n"
                    "  - {id: m1, when: 'true', action: flag, hot: true}\n",
        "top.yaml": "ruleset: top\nclients: [t1, t2]\nextends: [mid, base]\nrules:\n"
                    "  - {id: t1, when: 'true', action: flag}\n"
                    "  - {id: t2, when: 'true', action: flag, priority: 5, hot: true}\n",
        "zz.yaml": "ruleset: zz\ndefault: true\n",
    })
    program = load_rules(root)
    top = program.ruleset("top")
    # priority first, then hot, then file order with extended sets first (base once)
    assert [r.id for r in top.rules] == ["t2", "b2", "m1", "b1", "t1"]
    assert program.routes == {"t1": "top", "t2": "top", "zz": "zz"}
    assert program.route("t2") is top
    assert program.route("other") is program.ruleset("zz")


def test_version_ignores_layout_but_not_literals(tmp_path: Path) -> None:
    a = load_rules(write_rules(tmp_path / "a", {"c.yaml": one_rule("amount > 1.50")}))
    b = load_rules(write_rules(tmp_path / "b", {
        "c.yaml": "# a comment\nruleset: c\nrules:\n- {id: r, when: amount > 1.50, action: flag}\n"
    }))
    c = load_rules(write_rules(tmp_path / "c", {"c.yaml": one_rule("amount > 1.5")}))
    assert a.version == b.version
    assert a.version != c.version
    assert len(a.version) == 64


def test_json_schema_describes_rule_files() -> None:
    schema = ruleset_json_schema()
    assert schema["title"] == "pyengine rule set"
    assert set(schema["required"]) == {"ruleset"}
    assert "rules" in schema["properties"] and "tables" in schema["properties"]
    rule = schema["$defs"]["RuleModel"]
    assert rule["properties"]["action"]["enum"] == ["approve", "flag", "review", "reject"]
    assert rule["additionalProperties"] is False


def test_schema_yaml_is_required_string_fields(tmp_path: Path) -> None:
    program = load_rules(write_rules(tmp_path / "r", {"c.yaml": "ruleset: c\n"}, schema=SCHEMA))
    assert program.schema.fields["note"].optional
    assert str(program.schema.fields["amount"].type) == "decimal(2)"
