"""Running the ``tests:`` cases of rule set files (``pyengine test-rules``).

A case passes when the named parts of ``expect`` match. ``fired`` is the exact
set of fired *rules*; a table id listed there must also have matched, and
tables not listed are not compared (RULES-FORMAT.md lists fired rule ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyengine.records import _Bad, convert_value
from pyengine.reference.evaluator import Outcome
from pyengine.spec.program import Program, RuleTest

Evaluate = Callable[[dict[str, Any]], Outcome]


@dataclass(frozen=True)
class CaseResult:
    """One test case, with what went wrong on each evaluator (nothing when it passed)."""

    ruleset: str
    test: RuleTest
    problems: dict[str, list[str]]

    @property
    def passed(self) -> bool:
        """True when every expectation held on every evaluator."""
        return not any(self.problems.values())


def check_case(program: Program, test: RuleTest, outcome: Outcome) -> list[str]:
    """What differs between ``test.expect`` and ``outcome`` (empty when it passes)."""
    expect = test.expect
    problems: list[str] = []
    if "error" in expect:
        err = outcome.error
        if err is None or expect["error"] not in (err.kind, err.code):
            got = "no error" if err is None else f"{err.code}: {err.message}"
            problems.append(f"expected error {expect['error']}, got {got}")
        return problems
    if outcome.error is not None:
        return [f"unexpected {outcome.error.code} error in {outcome.error.rule or 'input'}: "
                f"{outcome.error.message}"]
    if "decision" in expect and outcome.decision != expect["decision"]:
        problems.append(f"decision: expected {expect['decision']}, got {outcome.decision}")
    if "ruleset" in expect and outcome.ruleset != expect["ruleset"]:
        problems.append(f"ruleset: expected {expect['ruleset']}, got {outcome.ruleset}")
    if "fired" in expect:
        problems += _check_fired(program, expect["fired"], outcome.fired)
    for name, want in expect.get("outputs", {}).items():
        problems += _check_output(program, name, want, outcome.outputs.get(name))
    return problems


def _check_fired(program: Program, expected: list[str], fired: list[str]) -> list[str]:
    tables = {t.id for rs in program.rulesets for t in rs.tables}
    actual = {i for i in fired if i not in tables or i in expected}
    if actual == set(expected):
        return []
    return [f"fired: expected {sorted(expected)}, got {sorted(actual)}"]


def _check_output(program: Program, name: str, want: Any, got: Any) -> list[str]:
    type_ = program.outputs[name]
    try:
        if want is None:
            expected = None
        elif type_.kind == "list":
            assert type_.elem is not None
            expected = [convert_value(v, type_.elem) for v in want]
        else:
            expected = convert_value(want, type_)
    except _Bad as exc:
        return [f"outputs.{name}: expected value does not convert to {type_}: {exc}"]
    if expected != got:
        return [f"outputs.{name}: expected {want!r}, got {got!r}"]
    return []


def run_cases(program: Program, engines: dict[str, Evaluate]) -> list[CaseResult]:
    """Run every test case of every rule set on each named evaluator."""
    return [
        CaseResult(rs.name, test, {engine: check_case(program, test, evaluate(test.txn))
                                   for engine, evaluate in engines.items()})
        for rs in program.rulesets
        for test in rs.tests
    ]
