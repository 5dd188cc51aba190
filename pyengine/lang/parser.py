"""Recursive-descent parser for expressions (CEL precedence) and table cells.

Precedence, lowest first: ``?:``, ``||``, ``&&``, ``== != < <= > >= in``,
``+ -``, ``* / %``, unary ``! -``, member access and calls.

Table cells are DMN unary tests; the parser desugars them into ordinary boolean
expressions over :class:`~pyengine.lang.ast.InputRef` (``> 5`` becomes
``? > 5``), so the checker, the evaluator and the code generator need nothing
special for tables.
"""

from __future__ import annotations

from collections.abc import Iterator

from pyengine.errors import Pos
from pyengine.lang import ast
from pyengine.lang.lexer import LangError, Locator, Token, tokenize

MAX_DEPTH = 64  # deeper nesting is almost surely generated garbage; it also bounds recursion
# Chains nest too: ``a + b + c`` is ``(a + b) + c``, a level per operator, without the
# parser recursing. Every later pass (checker, code generators, evaluators, javac) walks
# the tree recursively, so its height is bounded as well: Python's passes failed from
# about 350 levels, javac on a chain of int additions from about 150. Chains of && and
# || are built balanced (_balanced), so long lists of alternatives stay shallow.
MAX_HEIGHT = 100
# javac refuses a method of more than 64 KB of bytecode ("code too large"): a rule's
# condition of 5,000 alternatives (20,000 nodes); it crashed on 20,000 of them.
MAX_NODES = 10_000

_RELATIONS = ("==", "!=", "<", "<=", ">", ">=", "in")


class Parser:
    """Parses one expression or one cell; construct per text."""

    def __init__(self, text: str, locate: Locator):
        self.text = text
        self.locate = locate
        self.tokens = tokenize(text, locate)
        self.i = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def pos(self, tok: Token | None = None) -> Pos:
        return self.locate((tok or self.tok).offset)

    def advance(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def accept(self, *kinds: str) -> Token | None:
        if self.tok.kind in kinds:
            return self.advance()
        return None

    def expect(self, kind: str, what: str | None = None) -> Token:
        if self.tok.kind != kind:
            raise self.error(f"expected {what or repr(kind)}")
        return self.advance()

    def error(self, message: str) -> LangError:
        found = "end of expression" if self.tok.kind == "EOF" else repr(self.tok.text)
        return LangError(self.pos(), f"{message}, found {found}")

    def done(self) -> None:
        if self.tok.kind != "EOF":
            raise self.error("expected end of expression")

    # -- expressions ---------------------------------------------------
    def parse_expression(self) -> ast.Node:
        """Parse the whole text as one expression."""
        if self.tok.kind == "EOF":
            raise LangError(self.pos(), "empty expression")
        node = self.expr()
        self.done()
        _check_size(node)
        return node

    def expr(self) -> ast.Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LangError(self.pos(), f"expression nested deeper than {MAX_DEPTH} levels")
        try:
            return self.conditional()
        finally:
            self.depth -= 1

    def conditional(self) -> ast.Node:
        cond = self.logical("||")
        if not self.accept("?"):
            return cond
        then = self.logical("||")
        self.expect(":", "':' of the conditional")
        otherwise = self.expr()
        return ast.Ternary(cond.pos, cond=cond, then=then, otherwise=otherwise)

    def logical(self, op: str) -> ast.Node:
        sub = self.relation if op == "&&" else lambda: self.logical("&&")
        terms = [sub()]
        ops: list[Pos] = []
        while tok := self.accept(op):
            ops.append(self.pos(tok))
            terms.append(sub())
        return _balanced(op, terms, ops)

    def relation(self) -> ast.Node:
        left = self.additive()
        while tok := self.accept(*_RELATIONS):
            right = self.list_literal() if tok.kind == "in" else self.additive()
            left = ast.Binary(self.pos(tok), op=tok.kind, left=left, right=right)
        return left

    def additive(self) -> ast.Node:
        left = self.multiplicative()
        while tok := self.accept("+", "-"):
            left = ast.Binary(self.pos(tok), op=tok.kind, left=left, right=self.multiplicative())
        return left

    def multiplicative(self) -> ast.Node:
        left = self.unary()
        while tok := self.accept("*", "/", "%"):
            left = ast.Binary(self.pos(tok), op=tok.kind, left=left, right=self.unary())
        return left

    def unary(self) -> ast.Node:
        tok = self.accept("!", "-")
        if tok is None:
            return self.member()
        if tok.kind == "-" and self.tok.kind in ("INT", "FLOAT"):
            # Fold "-9223372036854775808" so the most negative int is writable.
            lit = self.advance()
            value = -lit.value  # type: ignore[operator]
            node = ast.Literal(self.pos(tok), value=value, text="-" + lit.text)
            return self.postfix(node)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LangError(self.pos(tok), f"expression nested deeper than {MAX_DEPTH} levels")
        try:
            return ast.Unary(self.pos(tok), op=tok.kind, operand=self.unary())
        finally:
            self.depth -= 1

    def member(self) -> ast.Node:
        return self.postfix(self.primary())

    def postfix(self, node: ast.Node) -> ast.Node:
        while self.accept("."):
            name = self.expect("IDENT", "a name after '.'")
            if self.accept("("):
                node = ast.Call(self.pos(name), func=name.text, target=node, args=self.arguments())
            elif isinstance(node, ast.Name):
                node = ast.Select(node.pos, table=node.name, output=name.text)
            else:
                raise LangError(self.pos(name), "only a table id can be followed by '.output'")
        return node

    def arguments(self) -> list[ast.Node]:
        args: list[ast.Node] = []
        if self.accept(")"):
            return args
        while True:
            args.append(self.expr())
            if self.accept(")"):
                return args
            self.expect(",", "',' or ')'")

    def primary(self) -> ast.Node:
        tok = self.tok
        pos = self.pos()
        if tok.kind in ("INT", "FLOAT", "STRING"):
            self.advance()
            return ast.Literal(pos, value=tok.value, text=tok.text)
        if tok.kind in ("true", "false"):
            self.advance()
            return ast.Literal(pos, value=tok.kind == "true", text=tok.kind)
        if tok.kind == "null":
            self.advance()
            return ast.Literal(pos, value=None, text="null")
        if tok.kind == "IDENT":
            self.advance()
            if self.accept("("):
                return ast.Call(pos, func=tok.text, args=self.arguments())
            return ast.Name(pos, name=tok.text)
        if tok.kind == "(":
            self.advance()
            node = self.expr()
            self.expect(")", "')'")
            return node
        if tok.kind == "[":
            raise LangError(pos, "a list literal is allowed only on the right of 'in'")
        raise self.error("expected an expression")

    def list_literal(self) -> ast.ListLit:
        start = self.expect("[", "a list literal '[...]' after 'in'")
        items: list[ast.Node] = []
        if not self.accept("]"):
            while True:
                items.append(self.expr())
                if self.accept("]"):
                    break
                self.expect(",", "',' or ']'")
        return ast.ListLit(self.pos(start), items=items)

    # -- unary tests (table cells) -------------------------------------
    def parse_unary_tests(self, index: int) -> ast.Node:
        """Parse a table cell testing input ``index``; returns a boolean expression."""
        if self.tok.kind == "-" and self.tokens[self.i + 1].kind == "EOF":
            return ast.Literal(self.pos(), value=True, text="-")
        if self.tok.kind == "EOF":
            raise LangError(self.pos(), "empty cell (write '-' to match anything)")
        node = self.test_list(index)
        self.done()
        _check_size(node)
        return node

    def test_list(self, index: int) -> ast.Node:
        tests = [self.test(index)]
        commas: list[Pos] = []
        while tok := self.accept(","):
            commas.append(self.pos(tok))
            tests.append(self.test(index))
        return _balanced("||", tests, commas)

    def test(self, index: int) -> ast.Node:
        tok = self.tok
        pos = self.pos()
        subject = ast.InputRef(pos, index=index)
        if tok.kind == "IDENT" and tok.text == "not" and self.tokens[self.i + 1].kind == "(":
            self.i += 2
            inner = self.test_list(index)
            self.expect(")", "')' closing not(")
            return ast.Unary(pos, op="!", operand=inner)
        if tok.kind in ("<", "<=", ">", ">="):
            self.advance()
            return ast.Binary(pos, op=tok.kind, left=subject, right=self.additive())
        if tok.kind in ("[", "("):
            return self.range_or_group(index)
        return ast.Binary(pos, op="==", left=subject, right=self.expr())

    def range_or_group(self, index: int) -> ast.Node:
        open_tok = self.advance()
        pos = self.pos(open_tok)
        low = self.expr()
        if not self.accept(".."):
            if open_tok.kind == "[":
                raise self.error("expected '..' in range")
            self.expect(")", "')'")
            group = self.postfix(low)
            return ast.Binary(pos, op="==", left=ast.InputRef(pos, index=index), right=group)
        high = self.expr()
        close = self.accept("]", ")")
        if close is None:
            raise self.error("expected ']' or ')' closing the range")
        lo = ast.Binary(pos, op=">=" if open_tok.kind == "[" else ">",
                        left=ast.InputRef(pos, index=index), right=low)
        hi = ast.Binary(self.pos(close), op="<=" if close.kind == "]" else "<",
                        left=ast.InputRef(pos, index=index), right=high)
        return ast.Binary(pos, op="&&", left=lo, right=hi)


def _balanced(op: str, terms: list[ast.Node], ops: list[Pos]) -> ast.Node:
    """``terms`` joined by ``op`` (&& or ||; ``ops[k]`` is where the operator before
    ``terms[k + 1]`` is) as a tree log2(n) tall rather than n: both operators are
    associative and are still evaluated left to right, so a cell listing 500 values is
    no deeper than one listing 10. Up to three terms the tree is the usual left-deep
    one: ``a && b && c`` is ``(a && b) && c``."""
    if len(terms) == 1:
        return terms[0]
    mid = (len(terms) + 1) // 2
    return ast.Binary(ops[mid - 1], op=op, left=_balanced(op, terms[:mid], ops[:mid - 1]),
                      right=_balanced(op, terms[mid:], ops[mid:]))


def _check_size(root: ast.Node) -> None:
    """Refuse a tree more than MAX_HEIGHT nodes tall, pointing at the operator from
    which it is too tall (for a chain, the one that made it so), or of more than
    MAX_NODES nodes, pointing at its start."""
    heights: dict[int, int] = {}
    start = root.pos
    stack: list[tuple[ast.Node, bool]] = [(root, False)]
    while stack:  # post-order without recursion: the tree may be thousands of levels tall
        node, visited = stack.pop()
        if visited:
            heights[id(node)] = 1 + max((heights.get(id(c), 1) for c in node.iter_children()),
                                        default=0)
        else:
            start = min(start, node.pos)
            stack.append((node, True))
            stack.extend((child, False) for child in _counted(node))
    if heights[id(root)] > MAX_HEIGHT:
        node = root
        while tall := [c for c in node.iter_children() if heights[id(c)] > MAX_HEIGHT]:
            node = tall[0]
        raise LangError(node.pos, f"expression nested deeper than {MAX_HEIGHT} levels (each "
                        "operator of a chain such as a + b + c is one): split it into "
                        "several rules")
    if len(heights) > MAX_NODES:
        raise LangError(start, f"expression of more than {MAX_NODES:,} operators and "
                        "operands (the Java method of a rule may hold 64 KB of bytecode): "
                        "split it into several rules")


def _counted(node: ast.Node) -> Iterator[ast.Node]:
    """The children of ``node`` that count towards MAX_NODES: not the constants of an
    'in' list, which the generated Java reads from text (codegen.expr.LONG_LIST)."""
    for child in node.iter_children():
        if not (isinstance(node, ast.ListLit) and isinstance(child, ast.Literal)):
            yield child


def parse_expression(text: str, locate: Locator) -> ast.Node:
    """Parse ``text`` as an expression; raises LangError with a position."""
    return Parser(text, locate).parse_expression()


def parse_cell(text: str, index: int, locate: Locator) -> ast.Node:
    """Parse a table input cell (unary tests) for input ``index``."""
    return Parser(text, locate).parse_unary_tests(index)
