"""Lexer, parser (CEL precedence, table cells) and type checker."""

from __future__ import annotations

import pytest

from pyengine.errors import Pos
from pyengine.lang import ast
from pyengine.lang.checker import Scope, Slot, check
from pyengine.lang.lexer import LangError, tokenize
from pyengine.lang.parser import MAX_HEIGHT, parse_cell, parse_expression
from pyengine.lang.types import BOOL, FLOAT, INT, STRING, TIMESTAMP, Type, decimal


def locate(offset: int) -> Pos:
    return Pos("<expr>", 1, offset + 1)


FIELDS = {
    "amount": Slot(decimal(2)), "mcc": Slot(INT), "score": Slot(FLOAT), "vip": Slot(BOOL),
    "currency": Slot(STRING), "ts": Slot(TIMESTAMP), "note": Slot(STRING, nullable=True),
}
TABLES = {"fees": {"bps": Slot(INT, nullable=True), "action": Slot(Type("action"))}}


def sexpr(node: ast.Node) -> str:
    """A compact prefix form to assert tree shapes."""
    if isinstance(node, ast.Literal):
        return node.text
    if isinstance(node, ast.Name):
        return node.name
    if isinstance(node, ast.Select):
        return f"{node.table}.{node.output}"
    if isinstance(node, ast.InputRef):
        return "?"
    if isinstance(node, ast.Unary):
        return f"({node.op} {sexpr(node.operand)})"
    if isinstance(node, ast.Binary):
        return f"({node.op} {sexpr(node.left)} {sexpr(node.right)})"
    if isinstance(node, ast.Ternary):
        return f"(?: {sexpr(node.cond)} {sexpr(node.then)} {sexpr(node.otherwise)})"
    if isinstance(node, ast.ListLit):
        return "[" + " ".join(sexpr(i) for i in node.items) + "]"
    assert isinstance(node, ast.Call)
    target = f"{sexpr(node.target)}." if node.target else ""
    return f"({target}{node.func} {' '.join(sexpr(a) for a in node.args)})".replace(" )", ")")


def typed(text: str) -> Type | None:
    node = parse_expression(text, locate)
    t, problems = check(node, Scope(FIELDS, TABLES))
    assert not problems, problems
    return t


def type_error(text: str) -> str:
    node = parse_expression(text, locate)
    t, problems = check(node, Scope(FIELDS, TABLES))
    assert t is None and problems
    return f"{problems[0].pos.col}: {problems[0].message}"


@pytest.mark.parametrize(("text", "tree"), [
    ("1 + 2 * 3", "(+ 1 (* 2 3))"),
    ("a || b && c", "(|| a (&& b c))"),
    ("a && b || c", "(|| (&& a b) c)"),
    ("1 - 2 - 3", "(- (- 1 2) 3)"),
    ("-x * 2", "(* (- x) 2)"),
    ("!a == b", "(== (! a) b)"),
    ("a < b == c", "(== (< a b) c)"),
    ("x in [1, 2] && y", "(&& (in x [1 2]) y)"),
    ("c ? a : b ? d : e", "(?: c a (?: b d e))"),
    ("a || b ? 1 : 2", "(?: (|| a b) 1 2)"),
    ("s.lowerAscii().contains('x')", "((s.lowerAscii).contains 'x')"),
    ("fees.bps + 1", "(+ fees.bps 1)"),
    ("-9223372036854775808", "-9223372036854775808"),
    ("size(s) % 2", "(% (size s) 2)"),
])
def test_precedence_and_shapes(text: str, tree: str) -> None:
    assert sexpr(parse_expression(text, locate)) == tree


def test_literals() -> None:
    toks = tokenize(r'42 0x1F 1.50 2e3 "a\"b\u00e9" ' + r"'it\'s' true null", locate)
    values = [(t.kind, t.value) for t in toks[:-1]]
    assert values == [("INT", 42), ("INT", 31), ("FLOAT", 1.5), ("FLOAT", 2000.0),
                      ("STRING", 'a"b\u00e9'), ("STRING", "it's"), ("true", None),
                      ("null", None)]
    assert toks[2].text == "1.50"  # the lexeme is kept: decimals need the written scale


@pytest.mark.parametrize(("text", "col", "message"), [
    ("amount > > 1", 10, "expected an expression"),
    ('"abc', 1, "unterminated string literal"),
    (r'"\q"', 2, "unknown escape sequence"),
    (r'"\u12"', 2, "\\u must be followed by 4 hexadecimal digits"),
    ("a # b", 3, "unexpected character '#'"),
    ("f(1, 2", 7, "expected ',' or ')'"),
    ("(1 + 2", 7, "expected ')'"),
    ("12abc", 3, "invalid character 'a' in number"),
    ("[1, 2]", 1, "a list literal is allowed only on the right of 'in'"),
    ("", 1, "empty expression"),
    ("a b", 3, "expected end of expression"),
])
def test_syntax_errors_have_positions(text: str, col: int, message: str) -> None:
    with pytest.raises(LangError) as info:
        parse_expression(text, locate)
    assert info.value.diagnostic.pos.col == col
    assert message in info.value.diagnostic.message


def test_nesting_is_bounded() -> None:
    with pytest.raises(LangError, match="nested deeper"):
        parse_expression("(" * 500 + "1" + ")" * 500, locate)
    with pytest.raises(LangError, match="nested deeper"):
        parse_expression("!" * 500 + "true", locate)


def height(node: ast.Node) -> int:
    return 1 + max((height(c) for c in node.iter_children()), default=0)


def test_chains_of_and_or_are_balanced() -> None:
    # && and || are associative and still evaluated left to right; balanced, a list of
    # alternatives nests log2(n) deep, not n (20,000 terms used to end in RecursionError).
    assert sexpr(parse_expression("vip && vip && vip", locate)) == "(&& (&& vip vip) vip)"
    text = "a || b || c || d"
    node = parse_expression(text, locate)
    assert sexpr(node) == "(|| (|| a b) (|| c d))"
    assert node.pos.col == text.index("|| c") + 1  # each operator keeps its position
    many = parse_expression(" || ".join(f"mcc == {k}" for k in range(2_000)), locate)
    assert height(many) == 13  # 11 levels of || (2^11 > 2,000), then ==, then the leaves
    cell = parse_cell(", ".join(map(str, range(2_000))), 0, locate)
    assert height(cell) == 13


def test_expressions_are_bounded_in_size() -> None:
    # javac refuses a method of more than 64 KB of bytecode and crashed on 20,000
    # alternatives; an 'in' list's constants do not count (Java reads them from text).
    text = " || ".join(f"mcc == {k}" for k in range(2_501))  # 10,003 nodes
    with pytest.raises(LangError, match="more than 10,000 operators and operands") as info:
        parse_expression(text, locate)
    assert info.value.diagnostic.pos.col == 1  # where the expression starts
    assert parse_expression(f"mcc in [{', '.join(map(str, range(20_000)))}]", locate)
    with pytest.raises(LangError, match="more than 10,000"):
        parse_expression(f"mcc in [{', '.join(['mcc'] * 10_000)}]", locate)


def test_other_chains_are_bounded_where_they_get_too_tall() -> None:
    terms = ["mcc", *map(str, range(1, 20_000))]
    assert parse_expression(" + ".join(terms[:MAX_HEIGHT - 1]) + " > 0", locate)
    text = " + ".join(terms) + " > 0"
    with pytest.raises(LangError, match=f"nested deeper than {MAX_HEIGHT} levels") as info:
        parse_expression(text, locate)
    # The caret is on the operator that made the tree one level too tall: the tree of
    # terms 0..k is k + 1 tall, so the one that joins term MAX_HEIGHT.
    col = info.value.diagnostic.pos.col
    assert text[col - 1] == "+"
    assert text[:col - 1].rstrip().endswith(f" {MAX_HEIGHT - 1}")


@pytest.mark.parametrize("text", [
    "currency" + ".lowerAscii()" * 500 + " == 'x'",
    "-" + "(mcc * " * 60 + "1" + ")" * 60 + " - 1" * 60,
    "vip ? 1 : " * 300 + "0",
])
def test_every_kind_of_chain_is_bounded(text: str) -> None:
    with pytest.raises(LangError, match="nested deeper than"):
        parse_expression(text, locate)


@pytest.mark.parametrize(("value", "ok"), [
    ("x" * 65_535, True), ("x" * 65_536, False),
    ("\u00e9" * 32_767, True), ("\u00e9" * 32_768, False),  # 2 bytes each
    ("\u20ac" * 21_845, True), ("\u20ac" * 21_846, False),  # 3
    ("\U0001F600" * 10_922, True), ("\U0001F600" * 10_923, False),  # 6: a surrogate pair
])
def test_string_literals_are_bounded_as_java_constants(value: str, ok: bool) -> None:
    text = f'note == "{value}"'
    if ok:
        assert parse_expression(text, locate)
        return
    with pytest.raises(LangError, match="string literal of more than 65,535 bytes") as info:
        parse_expression(text, locate)
    assert info.value.diagnostic.pos.col == 9


@pytest.mark.parametrize(("cell", "tree"), [
    ("-", "-"),
    ('"atm"', '(== ? "atm")'),
    ('"atm", "pos"', '(|| (== ? "atm") (== ? "pos"))'),
    ("> 1000.00", "(> ? 1000.00)"),
    ("<= x", "(<= ? x)"),
    ("[1..5]", "(&& (>= ? 1) (<= ? 5))"),
    ("(1..5)", "(&& (> ? 1) (< ? 5))"),
    ("[0.00..100.00)", "(&& (>= ? 0.00) (< ? 100.00))"),
    ('not("USD")', '(! (== ? "USD"))'),
    ("not(< 5, > 10)", "(! (|| (< ? 5) (> ? 10)))"),
    ("(1 + 2)", "(== ? (+ 1 2))"),
])
def test_unary_test_cells(cell: str, tree: str) -> None:
    assert sexpr(parse_cell(cell, 0, locate)) == tree


def test_cell_errors() -> None:
    with pytest.raises(LangError, match=r"expected '\.\.' in range"):
        parse_cell("[1, 2]", 0, locate)
    with pytest.raises(LangError, match="expected '\\]' or '\\)' closing the range"):
        parse_cell("[1..2", 0, locate)
    with pytest.raises(LangError, match="empty cell"):
        parse_cell("", 0, locate)


@pytest.mark.parametrize(("text", "expected"), [
    ("amount > 10000.00 && currency == 'USD'", BOOL),
    ("amount + 1", decimal(2)),
    ("amount * amount", decimal(4)),
    ("amount / 3", decimal(2)),
    ("amount + 0.125", decimal(3)),
    ("mcc + score", FLOAT),
    ("mcc / 2", INT),
    ("double(amount) * score", FLOAT),
    ("int(amount)", INT),
    ("int('42')", INT),
    ("size(currency)", INT),
    ("currency.size()", INT),
    ("ts.getDayOfWeek()", INT),
    ("min(amount, 5)", decimal(2)),
    ("max(mcc, 2.5)", FLOAT),
    ("abs(amount)", decimal(2)),
    ("vip ? amount : 0", decimal(2)),
    ("has(note) && note.matches('^[a-z]+$')", BOOL),
    ("note == null", BOOL),
    ("fees.bps > 10", BOOL),
    ("fees.action == 'reject'", BOOL),
    ("amount in [1, 2.50, 3]", BOOL),
    ("currency + '-' + currency", STRING),
    ("ts < ts", BOOL),
])
def test_types(text: str, expected: Type) -> None:
    assert typed(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("amount + score", "8: '+' needs numbers, not decimal(2) and float; a decimal never "
                       "mixes with a float: convert with double(x)"),
    ("amout > 1", "1: unknown name 'amout' (did you mean 'amount'?)"),
    ("fees.bsp", "1: table 'fees' has no output 'bsp' (did you mean 'bps'?)"),
    ("fess.bps", "1: unknown table 'fess' (did you mean 'fees'?)"),
    ("fees > 1", "1: unknown name 'fees' ('fees' is a table: use fees.<output>)"),
    ("currency > 1", "10: cannot compare string > int"),
    ("vip < vip", "5: cannot compare bool < bool"),
    ("mcc % 2.0", "5: '%' needs two ints, not int and float"),
    ("!mcc", "2: operand of '!' must be bool, not int"),
    ("mcc && vip", "1: left of '&&' must be bool, not int"),
    ("has(mcc)", "5: has() needs an optional value; this field is always present"),
    ("has(1)", "5: has() takes a field name or table_id.output"),
    ("size(mcc)", "1: size() applies to string, not int"),
    ("mcc.startsWith('x')", "5: startsWith() applies to string, not int"),
    ("currency.matches(currency)", "18: matches() takes a string literal pattern"),
    ("currency.matches('(a')", "18: invalid pattern:"),
    ("currency.matches('(?=a)')", "18: invalid pattern: lookahead is not supported"),
    ("currency.matches('\\\\1')", "18: invalid pattern: escape '\\1' is not supported"),
    ("frobnicate(1)", "1: unknown function 'frobnicate'"),
    ("ts.getWeek()", "4: unknown method 'getWeek'"),
    ("min(1)", "1: min() takes 2 argument(s), got 1"),
    ("vip ? 1 : 'x'", "1: branches of '?:' have different types int and string"),
    ("mcc == null", "5: only an optional field or a table output can be compared with null"),
    ("99999999999999999999 > 1", "1: integer literal 99999999999999999999 is out of the"),
    ("amount * amount * amount * amount * amount * amount * amount * amount * amount * amount",
     "80: decimal product would need scale 20 > 18"),
    ("mcc in ['a']", "9: list item of type string cannot be compared with int"),
    ("amount > 0.0000000000000000001", "10: literal 0.0000000000000000001 does not fit a "
                                       "decimal"),
])
def test_type_errors(text: str, message: str) -> None:
    assert type_error(text).startswith(message)


def test_float_literal_becomes_exact_decimal() -> None:
    node = parse_expression("amount > 1.10", locate)
    check(node, Scope(FIELDS))
    assert isinstance(node, ast.Binary) and isinstance(node.right, ast.Literal)
    assert node.right.type == decimal(2) and node.right.value == 110
