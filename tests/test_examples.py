"""examples/rules is realistic and uses the whole language, and its tests pass."""

from __future__ import annotations

from typing import Any

import pytest

from pyengine.lang import ast
from pyengine.lang.checker import STRING_PREDICATES, STRING_TRANSFORMS, TIMESTAMP_METHODS
from pyengine.ruletests import run_cases

FUNCTIONS = {"size", "int", "double", "abs", "min", "max", "has", *TIMESTAMP_METHODS,
             *STRING_PREDICATES, *STRING_TRANSFORMS}


def test_examples_are_realistic(examples_program: Any) -> None:
    sets = examples_program.rulesets
    own_rules = {r.id for rs in sets for r in rs.rules if r.origin == rs.name}
    assert len(own_rules) >= 30
    assert len([rs for rs in sets if rs.clients]) >= 3
    assert examples_program.default_set is not None
    hits = {t.hit for rs in sets for t in rs.tables}
    assert len(hits) >= 3
    assert all(rs.tests for rs in sets), "every file has tests"


def test_examples_use_every_function(examples_program: Any) -> None:
    used = set()
    for rs in examples_program.rulesets:
        exprs = [r.when for r in rs.rules] + [e for r in rs.rules for _, e in r.sets if e]
        exprs += [e for t in rs.tables for e in t.inputs]
        for e in exprs:
            used |= {n.func for n in e.node.walk() if isinstance(n, ast.Call)}
    assert FUNCTIONS - used == set()


@pytest.mark.jvm
def test_example_rule_tests_pass_on_both_engines(examples_compiled: Any) -> None:
    from pyengine.reference.evaluator import evaluate

    program = examples_compiled.program
    results = run_cases(program, {"java": examples_compiled.evaluate,
                                  "chunk": lambda t: examples_compiled.evaluate_records([t])[0],
                                  "reference": lambda t: evaluate(program, t)})
    assert len(results) == 17
    assert [r.problems for r in results if not r.passed] == []
