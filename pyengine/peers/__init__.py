"""Other engines the same rules are translated to, so ``bench compare`` can race them.

``to_polars`` turns a resolved :class:`~pyengine.spec.program.Program` into polars
expressions; ``to_zen`` into a GoRules ZEN decision (JDM). Both read the typed AST
the Java generator reads, and both are held to the reference evaluator's decisions.
"""

from __future__ import annotations

from typing import Any

from pyengine.reference.evaluator import Outcome

#: What the engines are compared on, per transaction: (rule set, decision, fired ids),
#: or FAILED when the transaction was not evaluated (a dead letter in pyengine).
Key = tuple[Any, ...]
FAILED: Key = ("failed",)


def outcome_key(outcome: Outcome) -> Key:
    """The comparison key of a reference (or compiled) outcome."""
    return FAILED if outcome.error else (outcome.ruleset, outcome.decision, tuple(outcome.fired))
