"""Differential tests: the reference evaluator against the compiled Java.

Three evaluators must agree on every transaction, errors included: the Python
reference, the single-transaction Java entry point and the columnar Java entry
point (one call for a whole chunk over direct buffers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pyengine.errors import SpecError
from pyengine.pipeline import compile_rules
from pyengine.reference.evaluator import Outcome, evaluate
from pyengine.reliability.differential import Tally, check_rules, difference, run
from pyengine.reliability.randrules import yaml_string
from pyengine.spec.resolver import load_rules
from tests import strategies as S
from tests.helpers import SCHEMA, TXN, write_rules

pytestmark = pytest.mark.jvm


def check_all(compiled: Any, txns: list[dict[str, Any]]) -> None:
    tally = Tally()
    check_rules(compiled, txns, tally, "")
    assert not tally.mismatches, "\n".join(tally.mismatches)
    assert tally.comparisons == 3 * len(txns)  # columnar, single and public lanes


CLIENTS = ["acme", "acme-eu", "globex", "initech", "initrode", "somebody-else"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(S.transactions(CLIENTS), min_size=1, max_size=40))
def test_examples_agree_on_random_transactions(examples_compiled: Any,
                                               txns: list[dict[str, Any]]) -> None:
    check_all(examples_compiled, txns)


def test_examples_agree_on_bad_records(examples_compiled: Any) -> None:
    good = {"id": "x", "client_id": "acme", "amount": "1.00", "currency": "USD",
            "country": "US", "mcc": 1, "channel": "web", "ts": "2026-01-01T00:00:00Z",
            "account_age_days": 1, "txn_count_24h": 1, "vip": False, "score": 0.5}
    bad = [
        {**good, "amount": "1.001"}, {**good, "amount": None}, {**good, "mcc": "12x"},
        {**good, "mcc": 2**63}, {**good, "vip": "yes"}, {**good, "ts": "yesterday"},
        {**good, "score": "NaN"}, {**good, "client_id": 7}, [1, 2], None, "text",
        {k: v for k, v in good.items() if k != "currency"},
    ]
    check_all(examples_compiled, [good, *bad])
    outcomes = examples_compiled.evaluate_records(bad)
    assert all(o.error is not None and o.error.kind == "schema" for o in outcomes)


def rules_for(expressions: list[tuple[str, str]]) -> dict[str, str]:
    """One rule set per expression: bool ones as a condition, others as an output."""
    files = {}
    for i, (kind, text) in enumerate(expressions):
        if kind == "bool":
            body = f"    when: {yaml_string(text)}\n    action: flag\n"
        else:
            body = (f"    when: 'true'\n    action: review\n    set:\n"
                    f"      v{i}: {yaml_string(text)}\n")
        files[f"s{i}.yaml"] = f"ruleset: s{i}\nclients: [c{i}]\nrules:\n  - id: r{i}\n{body}"
    return files


# Each example compiles a rules directory, so shrinking would take minutes: a failure
# reports the whole example (the expressions and the transaction) instead.
@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_expressions_agree(tmp_path_factory: pytest.TempPathFactory,
                                  data: st.DataObject) -> None:
    expressions = data.draw(st.lists(S.typed_exprs, min_size=40, max_size=40), label="exprs")
    root = write_rules(tmp_path_factory.mktemp("exprs"), rules_for(expressions))
    try:
        load_rules(root)
    except SpecError as exc:  # the generator only writes well-typed expressions
        pytest.fail(f"generated expressions did not type-check:\n{exc.render()}")
    compiled = compile_rules(root, builder="javac")
    txns = data.draw(st.lists(S.transactions(["c0"]), min_size=10, max_size=10), label="txns")
    routed = [{**txn, "client_id": f"c{i}"} for txn in txns for i in range(len(expressions))]
    check_all(compiled, routed)


@pytest.mark.parametrize(("expr", "error"), [
    ("mcc * 9223372036854775807 > 0", "overflow"),
    ("(-9223372036854775808) / (-1) > 0", "overflow"),
    ("mcc / (mcc - mcc) > 0", "division_by_zero"),
    ("mcc % 0 == 0", "division_by_zero"),
    ("amount / 0 > 1", "division_by_zero"),
    ("amount * 92233720368547758 > 0", "overflow"),
    ("note == 'x'", "missing_value"),
    ("int('12a') > 0", "conversion"),
    ("int(double(mcc) * 1e300) > 0", "conversion"),
    ("abs(-9223372036854775807 - 1) > 0", "overflow"),
])
def test_evaluation_errors_agree(tmp_path: Path, expr: str, error: str) -> None:
    root = write_rules(tmp_path / "r", {"c.yaml": f"ruleset: c\nrules:\n  - id: r\n"
                                                  f"    when: {yaml_string(expr)}\n"
                                                  "    action: flag\n"})
    compiled = compile_rules(root, builder="javac")
    txn = {"id": "t", "client_id": "c", "amount": "12.00", "currency": "USD", "country": "US",
           "mcc": 3, "channel": "web", "ts": "2026-01-01T00:00:00Z", "account_age_days": 1,
           "txn_count_24h": 1, "vip": False, "score": 0.5}
    reference = evaluate(compiled.program, txn)
    assert reference.error is not None and reference.error.code == error
    assert reference.error.rule == "r"
    check_all(compiled, [txn])


def rule(rule_id: str, when: str) -> str:
    return f"  - id: {rule_id}\n    when: {yaml_string(when)}\n    action: flag\n"


def quoted(value: str) -> str:
    """``value`` as a string literal of the rules language."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_long_lists_and_literals_compile_and_agree(tmp_path: Path) -> None:
    # Lists of more than 64 constants are read from text when their class loads and
    # searched by bisection; 20,000 longs as Java literals would not fit the class
    # initializer. Strings hold the separators of that text, quotes, backslashes,
    # characters of 2, 3 and 6 bytes (a surrogate pair), and the empty string.
    odd = ["", ":", "1:", "12:3", 'q"\\', "\u00e9\u20ac\U0001F600", "USD"]
    strings = [*odd, *(f"{k}:{odd[k % len(odd)]}" for k in range(5_000))]
    longest = "\u20ac" * 21_845  # 65,535 bytes: the most a Java constant holds
    rules = "".join([
        rule("ints", f"mcc in [{', '.join(str(k * 7 - 70_000) for k in range(20_000))}]"),
        rule("decimals", f"amount in [{', '.join(f'{k}.{k % 100:02d}' for k in range(3_000))}]"),
        rule("strings", f"currency in [{', '.join(map(quoted, strings))}]"),
        rule("short", "mcc in [1, 2, 3]"),
        rule("longest", f"note == {quoted(longest)}"),
    ])
    root = write_rules(tmp_path / "r", {"c.yaml": f"ruleset: c\nrules:\n{rules}"})
    compiled = compile_rules(root, builder="javac")
    base = {"id": "t", "client_id": "c", "amount": "12.00", "currency": "USD", "country": "US",
            "mcc": 3, "channel": "web", "ts": "2026-01-01T00:00:00Z", "account_age_days": 1,
            "txn_count_24h": 1, "vip": False, "score": 0.5}
    currencies = ["EUR", *odd, "4999:" + odd[4999 % len(odd)], "5000:", "12:"]
    mccs = [-70_000, 0, 2, 7, 8, 69_993, 69_994, -70_007]
    amounts = ["15.15", "15.16", "2999.99", "0.00", "0.01"]
    txns = [{**base, "mcc": mccs[k % len(mccs)], "amount": amounts[k % len(amounts)],
             "currency": currency, "note": (longest, longest[1:])[k % 2]}
            for k, currency in enumerate(currencies * 4)]
    fired = {name for txn in txns for name in evaluate(compiled.program, txn).fired}
    assert fired == {"ints", "decimals", "strings", "short", "longest"}
    check_all(compiled, txns)


def test_thousands_of_rules_and_clients_compile_and_agree(tmp_path: Path) -> None:
    # Rules.java's ids, fired codes and routes grow with the rules; as array literals
    # they overflowed its class initializer (64 KB of bytecode) from about 3,000 ids.
    rules = "".join(rule(f"r{k}", f"mcc == {k}") for k in range(2_000))
    more = "".join(rule(f"e{k}", f"mcc == {k}") for k in range(2_000))
    clients = ", ".join(f"c{k}" for k in range(5_000))
    root = write_rules(tmp_path / "r", {
        "c.yaml": f"ruleset: c\nclients: [{clients}]\nrules:\n{rules}",
        "d.yaml": "ruleset: d\nclients: ['d', 'with space', 'a|b', '7:x']\nrules: []\n",
        "e.yaml": f"ruleset: e\nrules:\n{more}",
    })
    compiled = compile_rules(root, builder="javac")
    txns = [{**TXN, "client_id": client, "mcc": mcc}
            for client in ("c0", "c4999", "d", "with space", "a|b", "7:x", "e", "c5000")
            for mcc in (0, 1_999, 2_000)]
    assert evaluate(compiled.program, txns[4]).fired == ["r1999"]
    assert evaluate(compiled.program, txns[19]).fired == ["e1999"]
    check_all(compiled, txns)


def test_optional_fields_beyond_the_64th_agree(tmp_path: Path) -> None:
    # One transaction's fields travel to Java with a presence bit each; a 64-bit mask
    # made Engine.evaluate fail from the 64th field on.
    extra = [f"x{k}" for k in range(60)]  # fields 13 to 72
    schema = SCHEMA + "".join(f"  {name}: int?\n" for name in extra)
    picked = ["x49", "x50", "x51", "x59"]  # fields 62, 63, 64 and 72
    rules = "".join(rule(f"r_{name}", f"has({name}) && {name} > 1") for name in picked)
    root = write_rules(tmp_path / "r", {"c.yaml": f"ruleset: c\nrules:\n{rules}"}, schema)
    compiled = compile_rules(root, builder="javac")
    txns = [{**TXN, "client_id": "c", **{name: k + 2 for name in picked[k:]}}
            for k in range(len(picked) + 1)]
    txns += [{**TXN, "client_id": "c", name: 1} for name in picked]
    assert [evaluate(compiled.program, t).fired for t in txns[:2]] == [
        [f"r_{name}" for name in picked], [f"r_{name}" for name in picked[1:]]]
    check_all(compiled, txns)


def test_count_tables_evaluate_no_output_cells(tmp_path: Path) -> None:
    """Found by the differential tool: the reference evaluated a count table's output
    cells (and failed on them) where Java only counted."""
    root = write_rules(tmp_path / "r", {"c.yaml": """\
        ruleset: c
        rules:
          - id: r
            when: lines.n > 1
            action: flag
        tables:
          - id: lines
            hit: collect
            aggregate: count
            inputs: [channel]
            outputs: {n: int}
            rows:
              - ['-', int(currency)]
              - ['"web"', 1 / 0]
        """})
    compiled = compile_rules(root, builder="javac")
    txn = {"id": "t", "client_id": "c", "amount": "12.00", "currency": "USD", "country": "US",
           "mcc": 3, "channel": "web", "ts": "2026-01-01T00:00:00Z", "account_age_days": 1,
           "txn_count_24h": 1, "vip": False, "score": 0.5}
    assert evaluate(compiled.program, txn).decision == "flag"
    check_all(compiled, [txn])


def test_differential_tool_on_random_rule_sets(tmp_path: Path) -> None:
    """The quick version of ``python -m pyengine.reliability.differential``."""
    tally = run(rulesets=4, transactions=400, seed=11, work=tmp_path)
    assert tally.mismatches == []
    assert (tally.rulesets, tally.transactions, tally.comparisons) == (4, 1600, 3 * 1600)
    assert 0 < tally.errors_compared < tally.transactions  # errors and decisions both


def test_difference_sees_every_field() -> None:
    base = Outcome("s", "flag", ["r"], {"x": 0.0})
    assert difference(base, Outcome("s", "flag", ["r"], {"x": 0.0})) is None
    for other in (Outcome("t", "flag", ["r"], {"x": 0.0}),
                  Outcome("s", "review", ["r"], {"x": 0.0}),
                  Outcome("s", "flag", [], {"x": 0.0}), Outcome("s", "flag", ["r"], {"x": -0.0}),
                  Outcome("s", "flag", ["r"], {"y": 0.0}), Outcome("s", "flag", ["r"], {"x": 0})):
        assert difference(base, other) is not None, other
    assert Tally().mismatches == []
