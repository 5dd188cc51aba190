"""The rules translated to other engines (pyengine.peers) agree with the reference.

``bench compare`` races pyengine against these translations; the race means
something only if each lane computes what the rules say, so each is held to the
reference evaluator, row by row, on the examples and on random rules directories.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pyengine.batch.chunk import json_safe
from pyengine.batch.generate import transactions
from pyengine.peers import outcome_key
from pyengine.peers.to_polars import rust_regex, translate
from pyengine.pipeline import load_program
from pyengine.reference.evaluator import evaluate
from pyengine.reliability.differential import Tally, check_polars, polars_difference
from pyengine.reliability.randrules import transaction, write_rules_dir
from pyengine.spec.program import Program
from tests.conftest import EXAMPLES, ROOT


def test_polars_agrees_with_the_reference_on_the_examples(examples_program: Program) -> None:
    table = transactions(4000, clients=7, seed=9)  # clients 6 and 7 go to the default set
    rows = translate(examples_program).evaluate(table)
    assert rows.height == 4000 and rows["position"].to_list() == list(range(4000))
    problems = [problem for raw, row in zip(table.to_pylist(), rows.iter_rows(named=True),
                                            strict=True)
                if (problem := polars_difference(evaluate(examples_program, json_safe(raw)),
                                                 row))]
    assert problems == []
    assert rows["ruleset"].n_unique() == len(examples_program.rulesets) - 1  # base serves none


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32))
@example(seed=12612)  # a missing value compared with a NaN: the failure must show
def test_polars_agrees_with_the_reference_on_random_rules(tmp_path_factory: pytest.TempPathFactory,
                                                          seed: int) -> None:
    rng = random.Random(seed)
    root = tmp_path_factory.mktemp("rules")
    clients = write_rules_dir(root, rng, sets=rng.randint(1, 3))
    tally = Tally()
    check_polars(load_program(root), [transaction(rng, clients) for _ in range(300)], tally,
                 f"seed {seed}")
    assert tally.mismatches == [] and tally.comparisons > 0


def test_polars_divides_by_a_constant_exactly(tmp_path: Path) -> None:
    """Regression: over many rows polars turned ``x / 1.5`` into ``x * (1 / 1.5)``,
    which rounds twice (-0.01 / 1.5 gave -0.006666666666666666)."""
    (tmp_path / "schema.yaml").write_text("fields: {id: string, client_id: string, x: float}\n")
    (tmp_path / "only.yaml").write_text(
        "ruleset: only\nclients: [c]\nrules:\n  - id: r\n    when: 'true'\n"
        "    action: approve\n    set: {ratio: 'x / 1.5'}\n")
    program = load_program(tmp_path)
    txns = [{"id": str(i), "client_id": "c", "x": -0.01 * (i + 1)} for i in range(1000)]
    tally = Tally()
    check_polars(program, txns, tally, "constant divisor")
    assert tally.mismatches == [] and tally.comparisons == 1000


def test_polars_difference_sees_a_wrong_decision(examples_program: Program) -> None:
    raw = json_safe(transactions(1, seed=2).to_pylist()[0])
    expected = evaluate(examples_program, raw)
    row = translate(examples_program).evaluate(transactions(1, seed=2)).row(0, named=True)
    assert polars_difference(expected, row) is None
    wrong = dict(row, decision="reject" if row["decision"] != "reject" else "approve")
    assert "expected" in (polars_difference(expected, wrong) or "")
    assert polars_difference(expected, dict(row, failed=True)) is not None


@pytest.mark.parametrize(("pattern", "text", "found"), [
    (r"^\d+$", "123", True), (r"^\d+$", "١٢٣", False),  # ASCII digits only, as in Java
    (r"[\w-]+@", "a-b@", True), (r"[^\s]x", "éx", True), (r"\S\s", "é\u2028", False),
    (r"ab$", "ab\n", True), (r"ab$", "ab\nc", False), (r"[]a]", "]", True),
])
def test_rust_regex_keeps_the_reference_meaning(pattern: str, text: str, found: bool) -> None:
    import polars as pl

    assert (re.search(pattern, text, re.ASCII) is not None) == found
    frame = pl.DataFrame({"s": [text]})
    assert frame.select(pl.col("s").str.contains(rust_regex(pattern))).item() == found


@pytest.mark.jvm
def test_bench_compare_writes_table_json_and_chart(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pyengine", "bench", "compare", "--rules",
                          str(EXAMPLES), "--records", "3000", "--sample", "300", "--runs", "1",
                          "--workers", "1,2", "--out", str(tmp_path), "--builder", "javac"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "goal: evaluate_batch >= 1.5x polars" in out
    result = json.loads((tmp_path / "compare.json").read_text())
    lanes = {(x["name"], x["workers"]): x for x in result["lanes"]}
    for name in ("evaluate_batch", "Engine.evaluate", "reference", "polars", "zen per record",
                 "zen batch API"):
        compared = [x for (n, _), x in lanes.items() if n == name]
        assert compared and all(x["checked"] > 0 and x["mismatches"] == 0 for x in compared)
    assert lanes[("java loop", 2)]["tps"] > 0
    assert (tmp_path / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.jvm
def test_bench_jmh_runs_through_gradle_and_compare_reads_it(tmp_path: Path) -> None:
    def bench(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "pyengine", "bench", *args, "--rules",
                               str(EXAMPLES), "--records", "2000", "--out", str(tmp_path),
                               "--builder", "javac"],
                              capture_output=True, text=True, check=True, cwd=ROOT).stdout

    assert "JMH RulesBenchmark.evaluateChunk" in bench("jmh", "--quick", "--threads", "1,2")
    entries = json.loads((tmp_path / "jmh.json").read_text())
    assert [e["threads"] for e in entries] == [1, 2]
    assert "Benchmark" in (tmp_path / "jmh-2.txt").read_text()
    assert all(e["params"]["rows"] == "2000" and e["primaryMetric"]["score"] > 0
               for e in entries)
    bench("compare", "--sample", "200", "--runs", "1", "--workers", "2", "--jmh",
          str(tmp_path / "jmh.json"))
    lanes = json.loads((tmp_path / "compare.json").read_text())["lanes"]
    java = [x for x in lanes if x["name"] == "java loop"]
    assert [x["note"] for x in java] == ["JMH"]
    assert java[0]["tps"] == entries[1]["primaryMetric"]["score"] * 2000


def test_zen_agrees_with_the_reference_on_the_examples(examples_program: Program) -> None:
    from pyengine.peers.to_zen import translate as to_zen

    rules = to_zen(examples_program)
    assert rules.untranslated == [] and rules.note.startswith("every rule translated, ")
    # What ZEN computes its own way is said per rule, with the reason.
    assert rules.approximate["globex.short_country_code"] == {"ZEN's len counts UTF-8 bytes"}
    assert rules.approximate["acme.risk_band"] == {"floats are decimals in ZEN"}
    assert "acme.sanctioned_country" not in rules.approximate
    assert "ZEN semantics: globex.fx_exposure: floats are decimals" in rules.detail
    rows = [json_safe(r) for r in transactions(1500, clients=7, seed=4).to_pylist()]
    expected = [outcome_key(evaluate(examples_program, row)) for row in rows]
    assert [rules.evaluate(r) for r in rows] == expected
    assert rules.evaluate_many(rows) == expected


def test_zen_reports_what_it_cannot_translate(tmp_path: Path) -> None:
    from pyengine.peers.to_zen import translate as to_zen

    (tmp_path / "schema.yaml").write_text("fields: {id: string, client_id: string, s: string}\n")
    (tmp_path / "only.yaml").write_text(
        "ruleset: only\nclients: [c]\nrules:\n"
        "  - id: ordered\n    when: s < \"m\"\n    action: flag\n"
        "  - id: quoted\n    when: s == \"it's \\\"quoted\\\"\"\n    action: flag\n"
        "  - id: plain\n    when: s == \"x\"\n    action: review\n")
    rules = to_zen(load_program(tmp_path))
    assert [u.split(" ")[0] for u in rules.untranslated] == ["only.ordered", "only.quoted"]
    assert "ordering strings" in rules.untranslated[0] and "only.yaml:5" in rules.untranslated[0]
    assert rules.note.startswith("2 rules not translated")
    # The rules that translate still decide.
    assert rules.evaluate({"id": "1", "client_id": "c", "s": "x"}) == ("only", "review",
                                                                     ("plain",))


@pytest.mark.jvm
def test_polars_script_writes_what_run_writes(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    def pyengine(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                              check=True, cwd=ROOT).stdout

    source = tmp_path / "in.parquet"
    pyengine("pyengine", "generate", "--count", "3000", "--out", str(source), "--seed", "5")
    pyengine("pyengine", "run", "--rules", str(EXAMPLES), "--input", str(source), "--output",
             str(tmp_path / "run"), "--quiet", "--builder", "javac")
    figures = json.loads(pyengine("pyengine.bench.polars_script", str(EXAMPLES), str(source),
                                  str(tmp_path / "polars.parquet")))
    assert figures["records"] == 3000 and figures["tps"] > 0
    script = pq.read_table(tmp_path / "polars.parquet").to_pylist()
    ran = pq.read_table(tmp_path / "run" / "results").to_pylist()
    columns = ("id", "client_id", "ruleset", "decision", "fired")
    assert [tuple(r[c] for c in columns) for r in script] == \
        [tuple(r[c] for c in columns) for r in ran]
