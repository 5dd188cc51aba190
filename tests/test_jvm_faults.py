"""JVM faults: a rule that throws, a regex that exhausts the stack, Java out of memory.

A fault confined to one record makes that record a dead letter with a reason;
a fault of the JVM itself stops the job with a clear message (exit 1), the
report says what happened, and the run resumes once the cause is removed.
Nothing is lost either way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyengine.batch.job import JobConfig, run_job
from pyengine.build.compiler import compile_jar
from pyengine.codegen.generator import generate
from pyengine.engine import Engine
from pyengine.errors import SpecError
from pyengine.jvm.rules import CompiledRules
from pyengine.pipeline import compile_rules, load_program
from tests.conftest import EXAMPLES, ROOT
from tests.helpers import TXN, write_rules

pytestmark = pytest.mark.jvm


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def outcome(out: Path) -> tuple[dict[int, str], list[dict[str, Any]]]:
    """(decision by position, dead letters) of a finished run."""
    import pyarrow.parquet as pq

    table = pq.read_table(out / "results")
    decisions = dict(zip(table.column("position").to_pylist(),
                         table.column("decision").to_pylist(), strict=True))
    letters = [json.loads(line) for line in (out / "dlq.jsonl").read_text().splitlines()]
    return decisions, letters


def test_a_rule_that_throws_makes_a_dead_letter(tmp_path: Path) -> None:
    program = load_program(EXAMPLES)
    sources = tmp_path / "generated"
    generate(program, sources)
    # Break one rule the way a runtime bug would: it throws for one merchant code.
    ruleset = sources / "pyengine" / "generated" / "RuleSet0.java"
    text = ruleset.read_text()
    head = "    private boolean rule_sanctioned_country(Record r, Result out) {\n"
    assert head in text
    ruleset.write_text(text.replace(head, head + "        if (r.f_mcc == 13) "
                                    "throw new IllegalStateException(\"injected\");\n"))
    engine = Engine(CompiledRules(program, compile_jar(sources, tmp_path / "build", "javac")))
    good = {**TXN, "client_id": "acme"}
    rows = [{**good, "id": f"t{i}", "mcc": 13 if i % 3 == 0 else 5411} for i in range(30)]
    out = tmp_path / "out"
    report = run_job(engine, JobConfig(write_jsonl(tmp_path / "in.jsonl", rows), out, 2, 10, 5))
    decisions, letters = outcome(out)
    assert sorted([*decisions, *(d["position"] for d in letters)]) == list(range(30))
    assert [d["position"] for d in letters] == list(range(0, 30, 3))
    for letter in letters:
        assert letter["error"] == {"kind": "evaluation", "rule": "sanctioned_country",
                                   "message": "internal error: java.lang.IllegalStateException:"
                                              " injected"}
    assert report["dead_letter_kinds"] == {"evaluation": 10}


@pytest.mark.parametrize(("pattern", "hit", "note", "why"), [
    # java.util.regex recurses once per repetition of a group
    ("^(a|b)*!$", "ab!", "ab" * 500_000 + "!", "1000001 characters ran out of stack; repeat a "
                                        "character class ([ab]*) rather than a group ((a|b)*)"),
    # repeats that can match the same characters backtrack polynomially: a 3 KB note
    # took this pattern minutes, stalling a worker and the run's deadline
    (".*test.*order.*urgent", "a test order, urgent", "test order " * 300,
     "3300 characters read its characters more than 100000000 times; a pattern whose repeats "
     "can match the same characters (.*a.*b) backtracks: anchor it, or repeat a narrower "
     "class ([^a]*a)"),
])
def test_a_regex_too_costly_for_its_input_makes_a_dead_letter(
        tmp_path: Path, pattern: str, hit: str, note: str, why: str) -> None:
    rules = write_rules(tmp_path / "rules", {"c.yaml": f"""\
        ruleset: c
        rules:
          - id: noted
            when: has(note) && note.matches("{pattern}")
            action: flag
        """})
    engine = Engine(compile_rules(rules, builder="javac"))
    notes = [hit, note, "x", None]
    rows = [{**TXN, "id": f"t{i}", "note": note} for i, note in enumerate(notes)]
    out = tmp_path / "out"
    run_job(engine, JobConfig(write_jsonl(tmp_path / "in.jsonl", rows), out, 2))
    decisions, letters = outcome(out)
    assert decisions == {0: "flag", 2: "approve", 3: "approve"}
    [letter] = letters
    assert letter["position"] == 1 and letter["error"]["rule"] == "noted"
    assert letter["error"]["message"] == (
        f'regular expression too costly for the input: matches("{pattern}") on a string of {why}')


def test_a_catastrophic_regex_is_refused_at_build(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules", {"c.yaml": """\
        ruleset: c
        rules:
          - id: words
            when: note.matches("^(\\\\w+\\\\s?)*$")
            action: flag
        """})
    with pytest.raises(SpecError) as info:
        load_program(rules)
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.pos.line, diagnostic.pos.col) == (4, 24)  # the pattern
    assert "nested repeats ('+' inside '(...)*') can make matching take exponential time" \
        in diagnostic.message


def test_java_out_of_memory_stops_the_job_clearly_and_resumes(tmp_path: Path) -> None:
    huge = "x" * (48 << 20)  # the note a rule reads: far more than a 16 MiB heap holds
    rows = [{**TXN, "id": f"t{i}", "client_id": "acme", "note": huge if i == 700 else "n"}
            for i in range(1000)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out"

    def run(heap: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYENGINE_JVM_OPTIONS": f"-Xmx{heap}"}
        return subprocess.run([sys.executable, "-m", "pyengine", "run", "--rules", str(EXAMPLES),
                               "--input", str(source), "--output", str(out), "--quiet",
                               "--builder", "javac", "--checkpoint-every", "200",
                               "--chunk-size", "100"],
                              cwd=ROOT, env=env, capture_output=True, text=True)

    failed = run("16m")
    assert failed.returncode == 1, failed.stderr
    [line] = failed.stderr.strip().splitlines()
    assert "records 700..799 not evaluated: Java ran out of memory" in line
    assert "PYENGINE_JVM_OPTIONS=-Xmx" in line
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] is False and "out of memory" in report["error"]["message"]
    # The counts of the checkpoints before the failure (how many, depends on timing).
    assert report["input_records"] % 200 == 0 and report["input_records"] <= 600
    resumed = run("1g")
    assert resumed.returncode == 0, resumed.stderr
    decisions, letters = outcome(out)
    assert sorted(decisions) == list(range(1000)) and letters == []
