"""Random, well-typed rules directories and transactions, for differential testing.

Deterministic for a ``random.Random``: the same seed writes the same directory.
The generator covers the whole language: every field type (decimals of three
scales, optional fields), every operator and function, string escapes and
regexes, tables of every hit policy and aggregate with every kind of unary
test, table outputs read by later tables and rules, ``mode: first``,
``extends``, priorities, ``hot`` and outputs set by several rules.
Expressions may fail at evaluation time (overflow, division by zero, a missing
optional value, a failed ``unique``/``any`` table): those errors are compared too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyengine.records import format_decimal, format_timestamp

FIELDS = {
    "id": "string", "client_id": "string", "n": "int", "m": "int", "x": "float",
    "amt": "decimal(2)", "rate": "decimal(4)", "whole": "decimal(0)", "flag": "bool",
    "s": "string", "cc": "string", "ts": "timestamp", "opt_n": "int?", "opt_s": "string?",
    "opt_amt": "decimal(2)?",
}
INTS = [0, 1, -1, 2, 3, 7, 10, 100, 2**31, 2**62, 2**63 - 1, -(2**63), 3037000500]
FLOATS = [0.0, -0.0, 0.5, 1.0, -1.5, 0.1, 1e300, 5e-324, 2.0**53, 0.95]
WORDS = ["USD", "EUR", "", "atm", "web", "PO-123456", "po-1", "TEST", "é", "😀", "a\nb",
         "\u2028", 'x"y', "\\u0022", "Ab", "*/", "{{ x }}", "${x}"]
REGEXES = ["^[A-Z]{3}$", "a.b", "(?i)test", "\\d+", "^$", "[^a-z]", "x|y", "^PO-[0-9]{6}$",
           "(ab)+c", "[\\w.]+@"]
# Leaves that can fail at evaluation: conversions of text and unguarded optional fields.
RISKY = {"int": ["int(s)", "int(x)", "opt_n"], "float": ["double(s)"], "dec": ["opt_amt"],
         "str": ["opt_s"]}
OUTPUT_TYPES = {"o_int": "int", "o_str": "str", "o_dec": "dec", "o_float": "float"}
Gen = Callable[[int], str]


def cel_string(text: str) -> str:
    """A CEL string literal for ``text``."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def yaml_string(text: str) -> str:
    """A YAML double-quoted scalar (JSON, with every non-printable character escaped;
    beyond the BMP as ``\\UXXXXXXXX``, since ``\\u`` takes exactly four digits)."""
    def escape(ch: str) -> str:
        if ord(ch) < 0x7F or ch.isprintable():
            return ch
        return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"

    return "".join(map(escape, json.dumps(text, ensure_ascii=False)))


def _num(v: float | int) -> str:
    text = repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, float) and "e" not in text and "." not in text:
        text += ".0"
    return f"({text})" if text.startswith("-") else text


class Exprs:
    """Well-typed expression texts of a kind: int, float, dec, str, bool."""

    def __init__(self, rng: random.Random, refs: dict[str, list[str]]):
        self.rng = rng
        self.refs = refs  # table outputs readable here, by kind

    def __call__(self, kind: str, depth: int = 3) -> str:
        """An expression of ``kind``, at most ``depth`` operators deep."""
        if depth <= 0 or self.rng.random() < 0.3:
            return self.leaf(kind)
        return self.rng.choice(self._ops(kind))(depth - 1)

    def leaf(self, kind: str) -> str:
        """A field, a literal, a table output or a small function call of ``kind``; one
        that may fail (an unguarded optional, a string to a number) now and then only, so
        that most transactions reach a decision."""
        rng = self.rng
        if kind in RISKY and rng.random() < 0.1:
            return rng.choice(RISKY[kind])
        leaves = {
            "int": ["n", "m", "size(s)", "s.size()", "ts.getHours()", "ts.getDayOfWeek()",
                    "ts.getDayOfMonth()", "ts.getMonth()", "ts.getFullYear()", "int(amt)",
                    "(has(opt_n) ? opt_n : 0)",
                    # Edge values overflow most arithmetic: some, not all the time.
                    _num(rng.choice(INTS) if rng.random() < 0.2 else rng.randint(-100, 100))],
            "float": ["x", "double(n)", "double(amt)", "double(rate)", _num(rng.choice(FLOATS))],
            "dec": ["amt", "rate", "whole", "(has(opt_amt) ? opt_amt : 0.00)", "(amt * 2)",
                    "(rate + 0.0005)", "abs(amt)"],
            "str": ["s", "cc", "id", "client_id", "(has(opt_s) ? opt_s : \"none\")",
                    cel_string(rng.choice(WORDS))],
            "bool": ["flag", "has(opt_n)", "has(opt_s)", "(opt_s == null)", "(opt_amt != null)",
                     "true", "false"],
        }[kind] + self.refs.get(kind, [])
        return rng.choice(leaves)

    def _compare(self, kind: str, cmp: list[str]) -> Gen:
        return lambda d: f"({self(kind, d)} {self.rng.choice(cmp)} {self(kind, d)})"

    def _ops(self, kind: str) -> list[Gen]:
        rng, sub = self.rng, self
        pick = rng.choice
        if kind in ("int", "float", "dec"):
            ops = ["+", "-", "*", "/"] + (["%"] if kind == "int" else [])
            gens: list[Gen] = [
                lambda d: f"({sub(kind, d)} {pick(ops)} {sub(kind, d)})",
                lambda d: f"(-{sub(kind, d)})",
                lambda d: f"abs({sub(kind, d)})",
                lambda d: f"{pick(['min', 'max'])}({sub(kind, d)}, {sub(kind, d)})",
                lambda d: f"({sub('bool', d)} ? {sub(kind, d)} : {sub(kind, d)})",
            ]
            if kind != "int":  # an int mixes with a float (promoted) and a decimal (exact)
                gens.append(lambda d: f"({sub('int', d)} {pick(ops)} {sub(kind, d)})")
            return gens
        if kind == "str":
            return [
                lambda d: f"({sub('str', d)} + {sub('str', d)})",
                lambda d: f"{sub('str', d)}.{pick(['lowerAscii', 'upperAscii'])}()",
                lambda d: f"({sub('bool', d)} ? {sub('str', d)} : {sub('str', d)})",
            ]
        cmp = ["==", "!=", "<", "<=", ">", ">="]
        return [
            lambda d: f"({sub('bool', d)} {pick(['&&', '||'])} {sub('bool', d)})",
            lambda d: f"(!{sub('bool', d)})",
            *[self._compare(k, cmp) for k in ("int", "float", "dec", "str")],
            lambda d: f"({sub('dec', d)} {pick(cmp)} {sub('int', d)})",
            lambda d: f"({sub('int', d)} {pick(cmp)} {sub('float', d)})",
            lambda d: f"({sub('dec', d)} {pick(cmp)} {pick(['0.5', '1.25', '100.0', '2e3'])})",
            lambda d: f"(ts {pick(cmp)} ts)",
            lambda d: f"({sub('int', d)} in [{', '.join(sub('int', 0) for _ in range(3))}])",
            lambda d: f"({sub('str', d)} in [{', '.join(sub('str', 0) for _ in range(2))}])",
            lambda d: (f"{sub('str', d)}.{pick(['startsWith', 'endsWith', 'contains'])}"
                       f"({sub('str', d)})"),
            lambda d: f"{sub('str', d)}.matches({cel_string(pick(REGEXES))})",
        ]


# -- tables ----------------------------------------------------------------
def _cell(rng: random.Random, kind: str) -> str:
    """A unary test on an input of ``kind``."""
    if rng.random() < 0.25:
        return "-"
    if kind == "str":
        words = [cel_string(rng.choice(["USD", "EUR", "web", "atm", "", "é"])) for _ in range(2)]
        return rng.choice([words[0], ", ".join(words), f"not({words[0]})"])
    lo, hi = sorted(rng.sample(range(-50, 5000), 2))
    fmt = (lambda v: f"{v}.00") if kind == "dec" else str
    a, b = fmt(lo), fmt(hi)
    return rng.choice([a, f"{a}, {b}", f"< {a}", f"<= {a}", f"> {a}", f">= {b}",
                       f"[{a}..{b}]", f"({a}..{b})", f"[{a}..{b})", f"({a}..{b}]",
                       f"not({a})", f"not([{a}..{b}])"])


def _table(rng: random.Random, tid: str, exprs: Exprs) -> tuple[list[str], str, str, bool]:
    """A table's YAML lines, its output name and kind, and whether the output may be null."""
    hit = rng.choice(["first", "unique", "any", "collect"])
    aggregate = rng.choice([None, "sum", "min", "max", "count"]) if hit == "collect" else None
    out_kind = rng.choice(["int", "str", "dec", "action"] if hit != "collect"
                          else ["int", "str", "dec"] if aggregate is None else ["int", "dec"])
    if aggregate == "count":
        out_kind = "int"
    inputs = rng.sample([("n", "int"), ("s", "str"), ("amt", "dec"), ("cc", "str"),
                         ("m", "int")] + [(ref, "int") for ref in exprs.refs.get("int", [])], 2)
    type_name = {"int": "int", "str": "string", "dec": "decimal(4)", "action": "action"}[out_kind]
    out = "action" if out_kind == "action" else f"{tid}_v"  # one column per table
    lines = [f"  - id: {tid}", f"    hit: {hit}"]
    if aggregate:
        lines.append(f"    aggregate: {aggregate}")
    lines += [f"    inputs: [{', '.join(name for name, _ in inputs)}]",
              f"    outputs: {{{out}: {type_name}}}"]
    default = rng.random() < 0.5 and out_kind != "action" and hit != "collect"
    if default:
        lines.append(f"    default: {{{out}: {_output_literal(rng, out_kind)}}}")
    lines.append("    rows:")
    for _ in range(rng.randint(1, 4)):
        cells = [_cell(rng, kind) for _, kind in inputs]
        value = (cel_string(rng.choice(["approve", "flag", "review", "reject"]))
                 if out_kind == "action" else _typed(exprs, out_kind, 1))
        lines.append("      - [" + ", ".join(yaml_string(c) for c in [*cells, value]) + "]")
    kind = "list" if hit == "collect" and aggregate is None else out_kind
    return lines, out, kind, hit != "collect" and not default


def _typed(exprs: Exprs, kind: str, depth: int) -> str:
    """An expression for an output of ``kind``; decimals always at scale 4, so that every
    producer of an output gives it the same type."""
    if kind == "dec":  # products add scales: sums of scale <= 4 leaves stay within 4
        return f"({exprs.leaf('dec')} {exprs.rng.choice('+-')} {exprs.leaf('dec')} + 0.0000)"
    return exprs(kind, depth)


def _output_literal(rng: random.Random, kind: str) -> str:
    text = {"int": str(rng.choice([0, 5, -3])), "str": cel_string("dflt"),
            "dec": rng.choice(["0.00", "1.50"])}[kind]
    return yaml_string(text)


# -- rules directories -----------------------------------------------------
def write_rules_dir(root: Path, rng: random.Random, sets: int = 3) -> list[str]:
    """Write a random rules directory; returns the client ids its sets serve."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "schema.yaml").write_text("fields:\n" + "".join(
        f"  {name}: {t}\n" for name, t in FIELDS.items()), encoding="utf-8")
    clients = []
    for k in range(sets):
        lines = [f"ruleset: set{k}", f"clients: [c{k}, \"c{k}-b\"]",
                 f"mode: {rng.choice(['all', 'all', 'first'])}"]
        clients += [f"c{k}", f"c{k}-b"]
        if k > 0 and rng.random() < 0.4:
            lines.append(f"extends: [set{rng.randrange(k)}]")
        if k == sets - 1:
            lines.append("default: true")
        refs: dict[str, list[str]] = {}
        table_lines: list[str] = []
        for t in range(rng.randint(0, 3)):
            tid = f"s{k}t{t}"
            body, out, kind, optional = _table(rng, tid, Exprs(rng, refs))
            table_lines += body
            if kind in ("int", "str", "dec"):
                refs.setdefault(kind, []).append(f"{tid}.{out}")
                if optional:
                    refs.setdefault("bool", []).append(f"has({tid}.{out})")
        exprs = Exprs(rng, refs)
        lines.append("rules:")
        for r in range(rng.randint(2, 7)):
            lines += [f"  - id: s{k}r{r}", f"    when: {yaml_string(exprs('bool'))}",
                      f"    action: {rng.choice(['approve', 'flag', 'review', 'reject'])}",
                      f"    reason: {yaml_string(rng.choice(WORDS))}",
                      f"    priority: {rng.randint(-2, 3)}"]
            if rng.random() < 0.3:
                lines.append("    hot: true")
            if rng.random() < 0.6:
                name = rng.choice(list(OUTPUT_TYPES))
                value = _typed(exprs, OUTPUT_TYPES[name], 2)
                lines += ["    set:", f"      {name}: {yaml_string(value)}"]
        if table_lines:
            lines += ["tables:", *table_lines]
        (root / f"set{k}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return clients


def transaction(rng: random.Random, clients: list[str]) -> dict[str, Any]:
    """A valid transaction of the generator's schema, with edge values often."""
    def dec(scale: int) -> str:
        return format_decimal(rng.choice([rng.randint(-10**6, 10**6),
                                          rng.choice(INTS) // 10**(scale + 1),
                                          0, 1, -1, 10**scale]), scale)

    def text() -> str:
        if rng.random() < 0.7:
            return rng.choice([*WORDS, "42", "-7", "3.5", "PO-654321", "TEST@x.y", "zzz"])
        return "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0xA0, 0x2FFF)]))
                       for _ in range(rng.randint(0, 6)))

    txn: dict[str, Any] = {
        "id": text(), "client_id": rng.choice(clients) if rng.random() < 0.95 else "nobody",
        "n": rng.choice([rng.choice(INTS), rng.randint(-100, 100)]),
        "m": rng.choice([rng.choice(INTS), rng.randint(0, 50)]),
        "x": rng.choice([rng.choice(FLOATS), rng.uniform(-10, 10)]),
        "amt": dec(2), "rate": dec(4), "whole": dec(0), "flag": rng.random() < 0.5,
        "s": text(), "cc": rng.choice(["USD", "EUR", "web", "atm", "é", text()]),
        "ts": format_timestamp(rng.randint(-62135596800_000000, 253402300799_999999)),
    }
    if rng.random() < 0.6:
        txn["opt_n"] = rng.choice([None, rng.randint(-5, 5), rng.choice(INTS)])
    if rng.random() < 0.6:
        txn["opt_s"] = rng.choice([None, text()])
    if rng.random() < 0.6:
        txn["opt_amt"] = rng.choice([None, dec(2)])
    return txn
