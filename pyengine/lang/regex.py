"""The regular-expression subset accepted by ``matches()``.

CEL specifies RE2; pyengine runs patterns with ``java.util.regex`` in the
compiled rules and with Python's ``re`` in the reference evaluator. This module
admits only the syntax on which those two agree (ASCII classes, no
backreferences, lookaround, possessive or atomic groups, no nested classes), so
a rule means the same thing everywhere. Matching is a search, as in CEL.
"""

from __future__ import annotations

import re

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
    return None


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
