"""The regular-expression subset accepted by ``matches()``.

CEL specifies RE2; pyengine runs patterns with ``java.util.regex`` in the
compiled rules and with Python's ``re`` in the reference evaluator. This module
admits only the syntax on which those two agree (ASCII classes, no
backreferences, lookaround, possessive or atomic groups, no nested classes), so
a rule means the same thing everywhere. Matching is a search, as in CEL.
"""

from __future__ import annotations

import re
from typing import Any

# Escapes with the same meaning in Java (with UNIX_LINES) and Python (with re.ASCII).
_CLASS_ESCAPES = set("dDwWsS")
_LITERAL_ESCAPES = set(".\\*+?()[]{}|^$-/ntrf") | {'"', "'"}
_FORBIDDEN_GROUPS = {
    "(?=": "lookahead", "(?!": "negative lookahead", "(?<": "lookbehind or named group",
    "(?>": "atomic group", "(?P": "named group",
}
_FLAGS = re.ASCII


def check(pattern: str) -> str | None:
    """Return why ``pattern`` is not accepted, or None when it is."""
    problem = _scan(pattern)
    if problem:
        return problem
    try:
        re.compile(pattern, _FLAGS)
    except re.error as exc:
        return str(exc)
    nested = _nested_repeat(re._parser.parse(pattern, _FLAGS), inside=False)  # type: ignore[attr-defined]
    if nested:
        return (f"nested repeats ({nested}) can make matching take exponential time; repeat "
                "a character class instead (e.g. [ab]+ rather than (a+b?)+)")
    return None


def _nested_repeat(items: Any, inside: bool) -> str | None:
    """The first variable repeat inside a repeat (star height > 1), as text, or None."""
    for op, av in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, body = av
            variable = high != low
            if inside and variable:
                return _show(low, high)
            found = _nested_repeat(body, inside or high > 1)
            if found:
                return found if inside else f"'{found}' inside '(...){_show(low, high)}'"
        elif name == "SUBPATTERN":
            found = _nested_repeat(av[3], inside)
            if found:
                return found
        elif name == "BRANCH":
            for branch in av[1]:
                found = _nested_repeat(branch, inside)
                if found:
                    return found
    return None


def _show(low: int, high: int) -> str:
    if high == re._constants.MAXREPEAT:  # type: ignore[attr-defined]
        return {0: "*", 1: "+"}.get(low, f"{{{low},}}")
    if low == high:
        return f"{{{low}}}"
    return "?" if (low, high) == (0, 1) else f"{{{low},{high}}}"


def compile(pattern: str) -> re.Pattern[str]:
    """Compile an accepted pattern for the reference evaluator."""
    return re.compile(pattern, _FLAGS)


def _scan(p: str) -> str | None:
    i, n = 0, len(p)
    in_class = False
    while i < n:
        c = p[i]
        if c == "\\":
            esc = p[i + 1] if i + 1 < n else ""
            if esc not in _CLASS_ESCAPES and esc not in _LITERAL_ESCAPES:
                return f"escape '\\{esc}' is not supported (supported: \\d \\w \\s, their " \
                       "negations, and escaped punctuation)"
            i += 2
            continue
        if in_class:
            if c == "[":
                return "'[' inside a character class must be escaped as '\\['"
            if p.startswith("&&", i):
                return "class intersection '&&' is not supported"
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            # A ']' right after '[' or '[^' is a literal in Python but ends the class in Java.
            j = i + 1 + (1 if p.startswith("^", i + 1) else 0)
            if p.startswith("]", j):
                return "']' at the start of a class must be escaped as '\\]'"
            i = j
            continue
        elif c == "(":
            for prefix, what in _FORBIDDEN_GROUPS.items():
                if p.startswith(prefix, i):
                    return f"{what} is not supported"
            flags = re.match(r"\(\?([a-zA-Z-]+)[:)]", p[i:])
            if flags and not set(flags.group(1)) <= set("ism-"):
                return "only the inline flags i, s and m are supported"
        elif c in "*+?}" and p.startswith("+", i + 1):
            return "possessive quantifiers are not supported"
        i += 1
    return "unterminated character class" if in_class else None
