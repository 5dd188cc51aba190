"""Other engines the same rules are translated to, so ``bench compare`` can race them.

``to_polars`` turns a resolved :class:`~pyengine.spec.program.Program` into polars
expressions; ``to_zen`` into a GoRules ZEN decision (JDM). Both read the typed AST
the Java generator reads, and both are held to the reference evaluator's decisions.
"""
