"""Spec fuzzing: random and mutated rules directories never crash the compiler.

Whatever the text, ``load_rules`` either builds a program or raises SpecError
whose every diagnostic is positioned (a path in the directory, a line and a
column inside the file); and a directory that builds also compiles with javac.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyengine.errors import SpecError
from pyengine.reliability.randrules import write_rules_dir
from pyengine.spec.program import Program
from pyengine.spec.resolver import load_rules

# Text that breaks parsers: YAML syntax, CEL operators, quotes, escapes, Java and
# template syntax, odd Unicode.
TOKENS = [":", "- ", "[", "]", "{", "}", "'", '"', "\\", "\\u", "#", "&a", "*a", "!!python/object",
          "? ", "|", ">", "\t", "\n", "\r", "\x00", "\ufeff", "\u2028", "😀", "é", "&&", "||",
          "!", "==", "(", ")", "?", ".", "..", ",", "in", "has(", "matches(", "null", "true",
          "1e999", "-9223372036854775809", "0.0000000001", "*/", "/*", "{{", "}}", "${", "%",
          "extends: [set0]", "default: true", "mode: first", "hit: unique", "aggregate: sum",
          "ruleset: set0", "id: s0r0", "when:", "action: reject", "clients: [c0]"]


def mutate(text: str, rng: random.Random) -> str:
    """One random edit: delete, insert, duplicate or swap lines, or cut the file."""
    lines = text.split("\n")
    choice = rng.randrange(6)
    at = rng.randrange(len(text) + 1)
    if choice == 0:
        return text[:at] + text[at + rng.randint(1, 20):]
    if choice == 1:
        return text[:at] + rng.choice(TOKENS) + text[at:]
    if choice == 2:
        i = rng.randrange(len(lines))
        return "\n".join([*lines[:i], lines[i], *lines[i:]])
    if choice == 3:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines)
    if choice == 4:
        return text[:at]
    i = rng.randrange(len(lines))
    return "\n".join([*lines[:i], " " * rng.randint(0, 6) + rng.choice(TOKENS), *lines[i:]])


def check(root: Path) -> Program | None:
    """Load ``root``: a program, or None after checking the errors are all positioned."""
    try:
        return load_rules(root)
    except SpecError as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert Path(d.pos.path).parent == root or Path(d.pos.path) == root, d
            assert d.pos.line >= 1 and d.pos.col >= 1, d
            if Path(d.pos.path).is_file():
                lines = Path(d.pos.path).read_text(encoding="utf-8", errors="replace")
                assert d.pos.line <= max(1, len(lines.splitlines()) + 1), d
        exc.render()
        return None


def mutated_dir(root: Path, seed: int, edits: int) -> Path:
    """A random rules directory (pyengine.reliability.randrules) after ``edits`` mutations."""
    rng = random.Random(seed)
    write_rules_dir(root, rng, sets=rng.randint(1, 3))
    files = sorted(root.glob("*.yaml"))
    for _ in range(edits):
        victim = rng.choice(files)
        victim.write_text(mutate(victim.read_text(encoding="utf-8"), rng), encoding="utf-8")
    return root


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**9), edits=st.integers(1, 6))
def test_mutated_rules_build_or_give_positioned_errors(tmp_path_factory: pytest.TempPathFactory,
                                                       seed: int, edits: int) -> None:
    root = mutated_dir(tmp_path_factory.mktemp("fuzz"), seed, edits)
    check(root)
    shutil.rmtree(root)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schema=st.text(max_size=200), ruleset=st.text(max_size=300),
       raw=st.binary(max_size=200))
def test_random_text_gives_positioned_errors(tmp_path_factory: pytest.TempPathFactory,
                                             schema: str, ruleset: str, raw: bytes) -> None:
    root = tmp_path_factory.mktemp("text")
    (root / "schema.yaml").write_text(schema, encoding="utf-8", errors="surrogatepass")
    (root / "a.yaml").write_text(ruleset, encoding="utf-8", errors="surrogatepass")
    (root / "b.yaml").write_bytes(raw)
    check(root)
    shutil.rmtree(root)


@pytest.mark.jvm
def test_mutated_directories_that_build_compile(tmp_path: Path) -> None:
    """The first four mutated directories that build (by seed) compile with javac."""
    from pyengine.pipeline import compile_rules

    built = []
    for seed in range(200):
        root = mutated_dir(tmp_path / str(seed), seed, edits=1 + seed % 3)
        if check(root) is not None:
            built.append(root)
        if len(built) == 4:
            break
    assert len(built) == 4, "some mutations must still build"
    for root in built:
        compiled = compile_rules(root, builder="javac")
        assert compiled.program.rulesets  # javac compiled it and the jar loaded


def test_control_character_is_a_positioned_error(tmp_path: Path) -> None:
    """Found by the fuzzer: a NUL byte made PyYAML raise before any position was known."""
    from tests.helpers import write_rules

    root = write_rules(tmp_path / "r", {"c.yaml": "ruleset: c\nrules:\n\x00  - id: r\n"})
    with pytest.raises(SpecError) as info:
        load_rules(root)
    [d] = info.value.diagnostics
    assert (d.pos.line, d.pos.col) == (3, 1)
    assert d.message == "invalid YAML: character U+0000 is not allowed"
