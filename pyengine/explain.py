"""``explain``: why a transaction got its decision."""

from __future__ import annotations

from typing import Any

from pyengine.jvm.rules import CompiledRules
from pyengine.reference.evaluator import evaluate


def explain(compiled: CompiledRules, txn: Any) -> tuple[str, bool]:
    """The explanation text, and whether the transaction was evaluated."""
    program = compiled.program
    outcome = evaluate(program, txn)
    java = compiled.evaluate(txn)
    lines = []
    if outcome.error is not None:
        err = outcome.error
        where = f" in {err.rule}" if err.rule else ""
        lines.append(f"not evaluated: {err.code} error{where}: {err.message}")
        lines.append("(this transaction would go to the dead-letter queue)")
        return "\n".join(lines), False
    rs = program.ruleset(outcome.ruleset or "")
    lines.append(f"decision: {outcome.decision}    rule set: {rs.name} ({rs.mode} mode)")
    fired = set(outcome.fired)
    lines.append("tables:")
    for t in rs.tables:
        mark = "matched " if t.id in fired else "no match"
        lines.append(f"  [{mark}] {t.id} (hit {t.hit})")
    lines.append("rules, in evaluation order:")
    for r in rs.rules:
        if r.id in fired:
            lines.append(f"  [fired   ] {r.id} -> {r.action}: {r.when.text.strip()}")
        else:
            lines.append(f"  [        ] {r.id}")
    lines.append("outputs:")
    for name, value in outcome.outputs.items():
        if value is not None:
            lines.append(f"  {name} = {value!r}")
    if (java.decision, java.fired) != (outcome.decision, outcome.fired):
        lines.append(f"WARNING: the compiled rules decided {java.decision} {java.fired}; "
                     "please report this as a pyengine bug")
    return "\n".join(lines), True
