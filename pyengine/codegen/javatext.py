"""Safe Java text from arbitrary user text.

Rule ids, reasons, strings, regexes and file names can hold anything. Java
translates ``\\uXXXX`` escapes *before* lexing, everywhere, comments included, so
``\\u0022`` would end a string literal and ``\\u000a`` a line comment. Everything
user-written reaches Java only through these two functions.
"""

from __future__ import annotations

_NAMED = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string_literal(text: str) -> str:
    """A Java string literal with the value ``text``, in plain ASCII.

    Quotes, backslashes and line breaks get named escapes; every other character
    outside printable ASCII becomes a \\uXXXX escape of its UTF-16 units, which is
    safe because none of those units is a quote, a backslash or a line break.
    """
    out = ['"']
    for ch in text:
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            for unit in _utf16_units(ch):
                out.append(f"\\u{unit:04x}")
    out.append('"')
    return "".join(out)


# Characters of text in one literal: a Java constant holds 65,535 bytes of modified
# UTF-8, 6 for a character outside the BMP.
PART = 8192


def text_literals(text: str) -> str:
    """``text`` as Java string literals apart by commas, each of at most PART
    characters: the arguments of a runtime method that joins them (Ops.words...)."""
    return ", ".join(string_literal(text[k:k + PART]) for k in range(0, len(text), PART)) \
        or '""'


def length_prefixed(values: list[str]) -> str:
    """``values`` as one text Ops.strings reads: each as its length in UTF-16 units,
    ':', then itself (any character may be in a value, so no separator would do)."""
    return "".join(f"{len(v.encode('utf-16-le')) // 2}:{v}" for v in values)


def words(values: list[str]) -> str:
    """Java for the String[] of ``values`` (none holding a space), read by Ops.words."""
    assert not any(" " in v for v in values)
    return f"Ops.words({text_literals(' '.join(values))})"


def ints(values: list[int]) -> str:
    """Java for the int[] of ``values``, read by Ops.ints."""
    return f"Ops.ints({text_literals(' '.join(map(str, values)))})"


def word_lists(lists: list[list[str]]) -> str:
    """Java for the String[][] of ``lists`` (no value holding a space or '|'), read by
    Ops.wordLists."""
    assert not any("|" in v for values in lists for v in values)
    return f"Ops.wordLists({text_literals('|'.join(' '.join(v) for v in lists))})"


def int_lists(lists: list[list[int]]) -> str:
    """Java for the int[][] of ``lists``, read by Ops.intLists."""
    return f"Ops.intLists({text_literals('|'.join(' '.join(map(str, v)) for v in lists))})"


def strings(values: list[str]) -> str:
    """Java for the String[] of any ``values``, read by Ops.strings."""
    return f"Ops.strings({text_literals(length_prefixed(values))})"


def comment(text: str, limit: int = 120) -> str:
    """Text safe inside a ``//`` or ``/* */`` comment: printable ASCII, no backslash."""
    safe = "".join(ch if " " <= ch <= "~" and ch != "\\" else "?" for ch in text)
    safe = safe.replace("*/", "* /")
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def _utf16_units(ch: str) -> list[int]:
    code = ord(ch)
    if code < 0x10000:
        return [code]
    code -= 0x10000
    return [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]
