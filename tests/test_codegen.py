"""Generated Java: golden files, determinism, and safety against hostile rule text."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from pyengine.codegen.generator import render
from pyengine.codegen.javatext import comment, string_literal
from pyengine.pipeline import compile_rules
from pyengine.reference.evaluator import evaluate
from pyengine.spec.resolver import load_rules
from tests.helpers import TXN, write_rules

GOLDEN = Path(__file__).parent / "golden"


def test_generated_java_matches_golden_files() -> None:
    files = render(load_rules(GOLDEN / "rules"))
    expected_dir = GOLDEN / "java"
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        expected_dir.mkdir()
        for name, text in files.items():
            (expected_dir / name).write_text(text, encoding="ascii")
    expected = {p.name: p.read_text(encoding="ascii") for p in expected_dir.glob("*.java")}
    assert sorted(files) == sorted(expected), "set UPDATE_GOLDEN=1 to accept new files"
    for name, text in files.items():
        assert text == expected[name], f"{name} differs (UPDATE_GOLDEN=1 to accept)"


def test_generation_is_deterministic_and_location_independent(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(GOLDEN / "rules", copy)
    assert render(load_rules(GOLDEN / "rules")) == render(load_rules(copy))


def test_generated_code_names_rule_and_spec_line() -> None:
    java = render(load_rules(GOLDEN / "rules"))["RuleSet0.java"]
    assert "/** rule pricey (shop.yaml:11), priority 0 */" in java
    assert "// row 2 (shop.yaml:29)" in java
    assert "/** table tier (shop.yaml:23), hit policy unique */" in java
    assert "Blocked * / country" in java  # a reason cannot close the comment


@pytest.mark.parametrize(("text", "java"), [
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("\\u0022", '"\\\\u0022"'),  # stays a backslash and 'u', never a quote
    ("line\nbreak\r", '"line\\nbreak\\r"'),
    ("\u2028\u00e9", '"\\u2028\\u00e9"'),
    ("\U0001F600", '"\\ud83d\\ude00"'),
    ("\x00", '"\\u0000"'),
])
def test_string_literals(text: str, java: str) -> None:
    assert string_literal(text) == java


def test_comments_are_inert() -> None:
    assert comment("a */ b \\u000a c\nd \u2028") == "a * / b ?u000a c?d ?"


HOSTILE = [
    '"); System.exit(1); //', "\\u0022 + \\u000a", "*/ /* */", "line\nbreak", "\u2028\u2029",
    "{{ 7*7 }}", "{% if true %}x{% endif %}", "${jndi:x}", "\\", "'", "é😀", "\t\x00\x07",
]


def hostile_rules(root: Path) -> Path:
    sets = []
    for i, text in enumerate(HOSTILE):
        cel = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        cel = cel.replace("\t", "\\t").replace("\x00", "\\u0000").replace("\x07", "\\u0007")
        yaml_value = (cel.replace("\\", "\\\\").replace('"', '\\"'))
        reason = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        reason = reason.replace("\t", "\\t").replace("\x00", "\\0").replace("\x07", "\\a")
        sets.append(
            f"  - id: r{i}\n"
            f"    when: \"note == \\\"{yaml_value}\\\"\"\n"
            f"    action: flag\n"
            f"    reason: \"{reason}\"\n"
            f"    set: {{echo: \"note + \\\"{yaml_value}\\\"\"}}\n"
        )
    client = 'we\\"ird \\\\u0022 client */'
    body = f'# {{{{ comment }}}} \\u000a */\nruleset: c\nclients: ["{client}"]\nrules:\n'
    return write_rules(root, {"c.yaml": body + "".join(sets),
                              'we"ird \\u000a *\\ name.yaml': "ruleset: other\n"})


@pytest.mark.jvm
def test_hostile_text_compiles_and_behaves_as_written(tmp_path: Path) -> None:
    root = hostile_rules(tmp_path / "r")
    compiled = compile_rules(root, builder="javac")
    program = compiled.program
    client = program.ruleset("c").clients[0]
    assert client == 'we"ird \\u0022 client */'
    for i, text in enumerate(HOSTILE):
        txn: dict[str, Any] = {**TXN, "client_id": client, "note": text}
        outcome = compiled.evaluate(txn)
        assert outcome == evaluate(program, txn)
        assert outcome.fired == [f"r{i}"], text
        assert outcome.outputs["echo"] == text + text
        assert compiled.evaluate_records([txn])[0] == outcome
    miss = compiled.evaluate({**TXN, "client_id": client, "note": "harmless"})
    assert miss.decision == "approve" and miss.fired == []


def test_long_in_lists_are_read_from_text_and_short_ones_written_out(tmp_path: Path) -> None:
    values = ", ".join(str(k) for k in range(3_000))
    root = write_rules(tmp_path / "r", {"c.yaml": f"""\
        ruleset: c
        rules:
          - id: few
            when: mcc in [1, 2, 3]
            action: flag
          - id: many
            when: 'mcc in [{values}]'
            action: flag
          - id: names
            when: 'currency in [{", ".join(f'"c{k}:"' for k in range(65))}]'
            action: flag
        """})
    java = render(load_rules(root))["RuleSet0.java"]
    assert "private static final long[] IN_0 = {1L, 2L, 3L};" in java
    assert "Ops.in(r.f_mcc, IN_0)" in java
    [many] = [line for line in java.splitlines() if "IN_1 =" in line]
    parts = many.split("Ops.sortedLongs(")[1].rstrip(");").split('", "')
    assert len(parts) == 2 and len(parts[0]) == 8192 + 1  # and its opening quote
    assert "Ops.inSorted(r.f_mcc, IN_1)" in java
    assert 'Ops.sortedStrings("3:c0:3:c1:' in java and "Ops.inSorted(r.f_currency, IN_2)" in java
