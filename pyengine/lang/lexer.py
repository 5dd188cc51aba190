"""Tokens of the expression language (a CEL subset) and of table cells.

The lexer turns one expression's text into tokens that know their offset in
that text; a :class:`Locator` turns offsets into file positions, so an error in
``when: amount > > 1`` points at the second ``>`` inside the YAML file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyengine.errors import Diagnostic, Pos

Locator = Callable[[int], Pos]

KEYWORDS = {"true", "false", "null", "in"}
# CEL reserves these; using one as a field or id would confuse readers and some targets.
RESERVED = KEYWORDS | {
    "as", "break", "const", "continue", "else", "for", "function", "if", "import",
    "let", "loop", "package", "namespace", "return", "var", "void", "while",
}

_OPERATORS = [
    "..", "||", "&&", "==", "!=", "<=", ">=",
    "<", ">", "+", "-", "*", "/", "%", "!", "?", ":", "(", ")", "[", "]", ",", ".",
]
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "r": "\r"}


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is INT, FLOAT, STRING, IDENT, a keyword, an operator or EOF."""

    kind: str
    text: str
    offset: int
    value: object = None


class LangError(Exception):
    """A positioned problem in one expression (collected into a SpecError)."""

    def __init__(self, pos: Pos, message: str):
        self.diagnostic = Diagnostic(pos, message)
        super().__init__(message)


def tokenize(text: str, locate: Locator) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c.isdigit():
            tok = _number(text, i, locate)
            tokens.append(tok)
            i += len(tok.text)
        elif c.isascii() and (c.isalpha() or c == "_"):
            j = i + 1
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            tokens.append(Token(word if word in KEYWORDS else "IDENT", word, i))
            i = j
        elif c in "\"'":
            tok = _string(text, i, locate)
            tokens.append(tok)
            i += len(tok.text)
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise LangError(locate(i), f"unexpected character {c!r}")
            tokens.append(Token(op, op, i))
            i += len(op)
    tokens.append(Token("EOF", "", n))
    return tokens


def _number(text: str, start: int, locate: Locator) -> Token:
    i, n = start, len(text)
    if text.startswith(("0x", "0X"), i):
        j = i + 2
        while j < n and text[j] in "0123456789abcdefABCDEF":
            j += 1
        if j == i + 2:
            raise LangError(locate(i), "hexadecimal literal has no digits")
        return Token("INT", text[i:j], i, int(text[i + 2 : j], 16))
    while i < n and text[i].isdigit():
        i += 1
    is_float = False
    # "1..5" is a range in a table cell: a point starts a fraction only before a digit.
    if i + 1 < n and text[i] == "." and text[i + 1].isdigit():
        is_float = True
        i += 1
        while i < n and text[i].isdigit():
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and text[j].isdigit():
            is_float = True
            i = j
            while i < n and text[i].isdigit():
                i += 1
    if i < n and (text[i].isalpha() or text[i] == "_"):
        raise LangError(locate(i), f"invalid character {text[i]!r} in number")
    lexeme = text[start:i]
    if is_float:
        return Token("FLOAT", lexeme, start, float(lexeme))
    return Token("INT", lexeme, start, int(lexeme))


# A Java string constant holds at most 65,535 bytes of its modified UTF-8: a character
# takes 1 to 3 bytes, one outside the BMP 6 (a surrogate pair), and NUL 2.
JAVA_CONSTANT_BYTES = 65_535


def _java_bytes(value: str) -> int:
    return sum(1 if 0 < ord(c) < 0x80 else 2 if ord(c) < 0x800 else 3 if ord(c) < 0x10000
               else 6 for c in value)


def _string(text: str, start: int, locate: Locator) -> Token:
    quote = text[start]
    out: list[str] = []
    i, n = start + 1, len(text)
    while True:
        if i >= n or text[i] in "\r\n":
            raise LangError(locate(start), "unterminated string literal")
        c = text[i]
        if c == quote:
            value = "".join(out)
            if len(value) > JAVA_CONSTANT_BYTES // 6 and _java_bytes(value) > JAVA_CONSTANT_BYTES:
                raise LangError(locate(start), f"string literal of more than "
                                f"{JAVA_CONSTANT_BYTES:,} bytes of UTF-8: longer than a Java "
                                "constant may be")
            return Token("STRING", text[start : i + 1], start, value)
        if c != "\\":
            out.append(c)
            i += 1
            continue
        esc = text[i + 1] if i + 1 < n else ""
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise LangError(locate(i), "\\u must be followed by 4 hexadecimal digits")
            code = int(digits, 16)
            if 0xD800 <= code <= 0xDFFF:
                raise LangError(locate(i), "\\u escape of a lone surrogate is not a character")
            out.append(chr(code))
            i += 6
        else:
            raise LangError(locate(i), f"unknown escape sequence '\\{esc}'")
