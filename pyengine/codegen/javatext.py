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
