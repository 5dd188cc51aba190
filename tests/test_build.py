"""build-rules: both builders, the content cache, the manifest, wrapped failures."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pyengine.build import builder as build_mod
from pyengine.build.builder import LOCK, build_rules
from pyengine.build.compiler import CodeTooLarge, compile_jar
from pyengine.errors import BuildError, SpecError
from pyengine.jvm.rules import CompiledRules
from pyengine.spec.resolver import load_rules
from tests.conftest import EXAMPLES
from tests.helpers import TXN, one_rule, write_rules


def test_manifest_describes_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYENGINE_CACHE_DIR", str(tmp_path / "empty-cache"))
    result = build_rules(EXAMPLES, tmp_path / "out", "javac")
    assert result.work == "compiled"
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    program = load_rules(EXAMPLES)
    assert manifest["ruleset_version"] == program.version
    assert manifest["clients"] == {"acme": "acme", "acme-eu": "acme",
                                   "globex": "globex", "initech": "initech",
                                   "initrode": "initech"}
    assert manifest["default_ruleset"] == "fallback"
    assert manifest["rulesets"]["acme"]["tables"] == ["fee_schedule", "risk_band"]
    assert manifest["rulesets"]["acme"]["rules"][0] == "vip_fast_track"  # priority 200
    assert manifest["outputs"]["max_amount"] == "decimal(2)"
    assert manifest["schema"]["note"] == {"type": "string", "optional": True}
    assert sorted(p.name for p in (tmp_path / "out" / "rules").iterdir()) == sorted(
        p.name for p in EXAMPLES.iterdir())
    with zipfile.ZipFile(tmp_path / "out" / "rules.jar") as jar:
        names = jar.namelist()
    assert "pyengine/generated/Evaluator.class" in names
    assert "pyengine/runtime/Dec.class" in names


def test_unchanged_rebuild_does_no_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYENGINE_CACHE_DIR", str(tmp_path / "cache"))  # the first build compiles
    rules = write_rules(tmp_path / "r", {"c.yaml": one_rule("mcc > 1")})
    first = build_rules(rules, tmp_path / "out", "javac")
    assert first.work == "compiled"

    def no_loading(*args: object) -> None:
        raise AssertionError("rules were read again")

    monkeypatch.setattr(build_mod, "load_rules", no_loading)
    again = build_rules(rules, tmp_path / "out", "javac")
    assert again.work == "none" and again.manifest == first.manifest


def test_builds_into_one_output_at_once_publish_it_once(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Two Kafka members starting together build the same new rules into the same cached
    # OUT: their publishing replaced each other's temporary files, and one failed.
    monkeypatch.setenv("PYENGINE_CACHE_DIR", str(tmp_path / "cache"))
    rules = write_rules(tmp_path / "r", {"c.yaml": one_rule("mcc > 1")})
    build_rules(rules, tmp_path / "first", "javac")  # the jar is in the content cache
    publish = build_mod._publish
    publishing: list[None] = []
    meet = threading.Barrier(2)

    def met(*args: Any) -> None:
        publishing.append(None)
        # a second build, if OUT's lock let it in, meets this one here (none came: broken)
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait(timeout=1)
        publish(*args)

    monkeypatch.setattr(build_mod, "_publish", met)
    start = threading.Barrier(4)

    def build(_: int) -> build_mod.BuildResult:
        start.wait()
        return build_rules(rules, tmp_path / "out", "javac")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(build, range(4)))
    assert len(publishing) == 1  # the others found OUT current once they had the lock
    assert sorted(r.work for r in results) == ["cache", "none", "none", "none"]
    assert all(r.manifest == results[0].manifest for r in results)
    assert not list((tmp_path / "out").glob("*.tmp"))
    digest = build_mod.source_digest(rules, "javac")
    assert build_mod._current_build(tmp_path / "out", digest) == results[0].manifest


def test_an_output_that_cannot_be_written_is_a_build_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(BuildError, match="cannot write the build into") as info:
        build_rules(EXAMPLES, tmp_path / "file" / "out", "javac")
    assert isinstance(info.value.__cause__, OSError)
    (tmp_path / "out" / LOCK).mkdir(parents=True)  # the lock is not a file
    with pytest.raises(BuildError, match="cannot write the build into") as info:
        build_rules(EXAMPLES, tmp_path / "out", "javac")
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize(("rules", "out", "message"), [
    # OUT/rules, replaced by each build, was the rules directory: they were deleted.
    ("proj/rules", "proj", "each build replaces .*proj/rules with its copy of the rules, "
                           "which would delete the rules directory"),
    ("proj/rules/client", "proj", "which would delete the rules directory"),
    # Loading OUT reads its copy: later edits of the rules would be ignored.
    ("proj/rules", "proj/rules/", "the rules directory itself"),
])
def test_an_output_whose_copy_would_replace_or_hide_the_rules_is_refused(
        tmp_path: Path, rules: str, out: str, message: str) -> None:
    import shutil

    from pyengine.errors import ConfigError

    shutil.copytree(EXAMPLES, tmp_path / rules)
    before = sorted(p.name for p in (tmp_path / rules).iterdir())
    with pytest.raises(ConfigError, match=message):
        build_rules(tmp_path / rules, tmp_path / out, "javac")
    assert sorted(p.name for p in (tmp_path / rules).iterdir()) == before


def test_a_cache_that_cannot_be_written_is_a_build_error(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # PYENGINE_CACHE_DIR naming a file (or a directory without write access) was a
    # traceback: FileNotFoundError, or NotADirectoryError.
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("PYENGINE_CACHE_DIR", str(tmp_path / "file"))
    with pytest.raises(BuildError, match=r"cannot write the build cache .*file: .*set "
                                         "PYENGINE_CACHE_DIR to a writable directory") as info:
        build_rules(EXAMPLES, tmp_path / "out", "javac")
    assert isinstance(info.value.__cause__, NotADirectoryError)


def test_a_build_output_of_another_pyengine_is_built_again_not_loaded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its jar was loaded whatever pyengine built it: one whose chunks bind another way
    # than this pyengine's Python would have been driven with the wrong calls.
    from pyengine.pipeline import compile_rules

    out = tmp_path / "out"
    build_rules(EXAMPLES, out, "javac")
    assert compile_rules(out, "javac").loader.jar == out / "rules.jar"
    monkeypatch.setattr(build_mod, "toolchain_fingerprint", lambda: "another pyengine")
    rebuilt = compile_rules(out, "javac")
    assert rebuilt.loader.jar != out / "rules.jar" and rebuilt.loader.jar.exists()
    monkeypatch.undo()
    # Its copy of the rules, edited: built again from the copy (it was "built from other
    # rules", refused).
    acme = out / "rules" / "acme.yaml"
    acme.write_text(acme.read_text().replace("High-value USD payment", "Big USD payment"))
    edited = compile_rules(out, "javac")
    assert edited.loader.jar != out / "rules.jar"
    assert "Big USD payment" in edited.program.sources[str(acme)]


def test_the_cache_key_covers_the_code_generator() -> None:
    # A change to the Python that writes the Java changes the jar as a template's does:
    # the cache must not hand back the jar of the generator before it.
    import pyengine.codegen.expr
    import pyengine.lang.parser
    import pyengine.spec.resolver

    files = build_mod.toolchain_files()
    for module in (pyengine.codegen.expr, pyengine.lang.parser, pyengine.spec.resolver):
        assert Path(str(module.__file__)).resolve() in files
    assert any(p.name == "Rules.java.j2" for p in files)
    assert any(p.name == "Ops.java" for p in files)


def test_cache_is_by_normalized_content(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "r", {"c.yaml": one_rule("mcc > 1")})
    first = build_rules(rules, tmp_path / "a", "javac")
    # Same rules with a comment and another YAML layout: the same program -> the cached jar.
    (rules / "c.yaml").write_text("# reformatted\nruleset: c\n"
                                  "rules: [{id: r, when: mcc > 1, action: flag}]\n")
    second = build_rules(rules, tmp_path / "a", "javac")
    assert second.work == "cache"
    assert second.manifest["ruleset_version"] == first.manifest["ruleset_version"]
    assert second.manifest["jar_sha256"] == first.manifest["jar_sha256"]
    # Another output directory of the same rules: also from the cache.
    assert build_rules(rules, tmp_path / "b", "javac").work == "cache"
    # A real change compiles again.
    (rules / "c.yaml").write_text(one_rule("mcc > 2"))
    third = build_rules(rules, tmp_path / "a", "javac")
    assert third.work == "compiled"
    assert third.manifest["ruleset_version"] != first.manifest["ruleset_version"]


def test_a_damaged_output_is_rebuilt(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "r", {"c.yaml": one_rule("mcc > 1")})
    build_rules(rules, tmp_path / "out", "javac")
    (tmp_path / "out" / "rules.jar").write_bytes(b"not a jar")
    assert build_rules(rules, tmp_path / "out", "javac").work == "cache"
    assert zipfile.is_zipfile(tmp_path / "out" / "rules.jar")


def test_spec_errors_stop_the_build(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "r", {"c.yaml": one_rule("mcc >")})
    with pytest.raises(SpecError):
        build_rules(rules, tmp_path / "out", "javac")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_compiler_failures_are_wrapped(tmp_path: Path) -> None:
    src = tmp_path / "src" / "pyengine" / "generated"
    src.mkdir(parents=True)
    (src / "Broken.java").write_text("package pyengine.generated; class Broken { int x = ; }")
    with pytest.raises(BuildError, match="javac failed") as info:
        compile_jar(tmp_path / "src", tmp_path / "work", "javac")
    assert isinstance(info.value.__cause__, subprocess.CalledProcessError)
    assert "Broken.java" in str(info.value)


def too_large_table(cells: int, values: int) -> str:
    cell = ", ".join(map(str, range(values)))
    rows = "".join(f"      - ['{cell}', {k}]\n" for k in range(cells))
    return ("ruleset: c\nrules:\n  - id: r\n    when: big.x == 1\n    action: flag\n"
            "tables:\n  - id: big\n    hit: first\n    inputs: [mcc]\n"
            f"    outputs: {{x: int}}\n    default: {{x: 0}}\n    rows:\n{rows}")


@pytest.mark.parametrize("builder", ["javac", pytest.param("gradle", marks=pytest.mark.gradle)])
def test_a_table_too_large_for_java_is_a_spec_error_at_the_table(tmp_path: Path,
                                                                 builder: str) -> None:
    # Each cell is within the bounds of an expression; together the 30 rows compile to
    # a method larger than the JVM allows, which javac calls "code too large".
    rules = write_rules(tmp_path / "r", {"c.yaml": too_large_table(30, 2_000)})
    with pytest.raises(SpecError) as info:
        build_rules(rules, tmp_path / "out", builder)
    assert isinstance(info.value.__cause__, CodeTooLarge)
    assert info.value.__cause__.origin == "table big (c.yaml:7)"
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.pos.line, diagnostic.pos.col) == (7, 9)
    assert diagnostic.message == ("this table compiles to a Java method larger than the JVM "
                                  "allows (64 KB of bytecode): split its rows into several "
                                  "tables")


def test_missing_tools_give_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(BuildError, match="has no bin/javac"):
        compile_jar(tmp_path, tmp_path / "w", "javac")
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(BuildError, match="Gradle is not installed"):
        compile_jar(tmp_path, tmp_path / "w", "gradle")
    with pytest.raises(BuildError, match="unknown builder"):
        build_rules(EXAMPLES, tmp_path / "o", "maven")


@pytest.mark.gradle
@pytest.mark.jvm
def test_gradle_builds_an_equivalent_jar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYENGINE_CACHE_DIR", str(tmp_path / "cache"))  # Gradle must compile
    gradle = build_rules(EXAMPLES, tmp_path / "g", "gradle")
    javac = build_rules(EXAMPLES, tmp_path / "j", "javac")
    assert gradle.work == "compiled"
    with zipfile.ZipFile(gradle.jar) as g, zipfile.ZipFile(javac.jar) as j:
        classes = lambda z: sorted(n for n in z.namelist() if n.endswith(".class"))  # noqa: E731
        assert classes(g) == classes(j)
    program = load_rules(EXAMPLES)
    from_gradle = CompiledRules(program, gradle.jar)
    from_javac = CompiledRules(program, javac.jar)
    for client in ("acme", "globex", "initech", "nobody"):
        txn = {**TXN, "client_id": client}
        assert from_gradle.evaluate(txn) == from_javac.evaluate(txn)


def test_benchmark_rules_generator_builds(tmp_path: Path) -> None:
    from pyengine.bench.rulesgen import write_rules_dir

    rules = write_rules_dir(tmp_path / "r", sets=3, rules=5)
    program = load_rules(rules)
    assert [len(rs.rules) for rs in program.rulesets] == [5, 5, 5]
    assert build_rules(rules, tmp_path / "o", "javac").work == "compiled"
