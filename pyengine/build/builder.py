"""``build-rules``: rules directory -> ``rules.jar`` + ``manifest.json``, cached by content.

Three levels of "no work":

1. ``OUT`` already holds a build of byte-identical rule files with the same
   pyengine and builder: nothing is read beyond the files' bytes.
2. The content-addressed cache (``$PYENGINE_CACHE_DIR`` or
   ``~/.cache/pyengine``) holds a jar for the same normalized rules: it is copied.
3. Otherwise Java is generated and compiled, and the jar enters the cache.

A build output directory is self-contained: it also keeps a copy of the rule
files under ``rules/``, so ``run --rules OUT`` can load the program again. Builds
into one ``OUT`` publish one at a time (a lock file, ``OUT/.build.lock``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyengine import __version__, resources
from pyengine.build.compiler import BUILDERS, CodeTooLarge, compile_jar
from pyengine.codegen.generator import generate, method_origin
from pyengine.errors import BuildError, ConfigError, Diagnostic, PyEngineError, SpecError
from pyengine.spec.program import Program
from pyengine.spec.resolver import load_rules

MANIFEST = "manifest.json"
JAR = "rules.jar"
RULES_COPY = "rules"
LOCK = ".build.lock"


@dataclass(frozen=True)
class BuildResult:
    """What ``build_rules`` produced and how much work it took."""

    out_dir: Path
    jar: Path
    manifest: dict[str, Any]
    work: str  # "none" (OUT was current), "cache" (copied) or "compiled"
    program: Program | None = None  # None when OUT was current (the rules were not read)


def cache_root() -> Path:
    """The content-addressed build cache directory."""
    env = os.environ.get("PYENGINE_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pyengine"


# The Python that turns rules into Java: a change there changes the jar as surely as a
# template's does, and must not find the jar of the code before it in the cache.
_GENERATING = ("codegen", "lang", "spec")


def toolchain_files() -> list[Path]:
    """The files a jar depends on besides the rules: templates, Java runtime, build
    script, and the Python of _GENERATING."""
    package = Path(__file__).resolve().parent.parent
    return (sorted(resources.templates_dir().rglob("*.j2"))
            + sorted(resources.java_runtime_dir().rglob("*.java")) + [resources.build_gradle()]
            + sorted(path for name in _GENERATING for path in (package / name).rglob("*.py")))


def toolchain_fingerprint() -> str:
    """Changes whenever one of toolchain_files() or pyengine's version changes."""
    h = hashlib.sha256(__version__.encode())
    for path in toolchain_files():
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def source_digest(rules_dir: Path, builder: str) -> str:
    """sha256 of the rule files' names and bytes, the toolchain and the builder."""
    h = hashlib.sha256(f"{builder}\n{toolchain_fingerprint()}\n".encode())
    for path in _rule_files(rules_dir):
        h.update(f"{path.name}\n{len(path.read_bytes())}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _rule_files(rules_dir: Path) -> list[Path]:
    return sorted(p for p in rules_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def build_rules(rules_dir: str | Path, out_dir: str | Path,
                builder: str = "gradle") -> BuildResult:
    """Validate, generate and compile ``rules_dir`` into ``out_dir``.

    Raises SpecError for problems in the rules and BuildError when compiling fails.
    """
    rules_dir, out_dir = Path(rules_dir), Path(out_dir)
    if builder not in BUILDERS:
        raise BuildError(f"unknown builder '{builder}' (choose {' or '.join(BUILDERS)})")
    _check_out(rules_dir, out_dir)
    digest = source_digest(rules_dir, builder) if rules_dir.is_dir() else ""
    current = _current_build(out_dir, digest)
    if current is not None:
        return BuildResult(out_dir, out_dir / JAR, current, "none")
    program = load_rules(rules_dir)
    key = hashlib.sha256(f"{program.version}\n{toolchain_fingerprint()}\n{builder}".encode())
    cached = cache_root() / "builds" / key.hexdigest()
    work = "cache"
    if not (cached / JAR).exists():
        _compile_into_cache(program, cached, builder)
        work = "compiled"
    manifest = make_manifest(program, builder, digest, cached / JAR)
    with _publishing(out_dir):
        # Another process (a Kafka member started with this one) may have published
        # these rules while this one compiled: then OUT is current and stays as it is.
        current = _current_build(out_dir, digest)
        if current is not None:
            return BuildResult(out_dir, out_dir / JAR, current, "none", program)
        _publish(out_dir, cached / JAR, rules_dir, manifest)
    return BuildResult(out_dir, out_dir / JAR, manifest, work, program)


def _check_out(rules_dir: Path, out_dir: Path) -> None:
    """Refuse an OUT whose copy of the rules (``OUT/rules``, replaced by each build) is
    or holds the rules directory: ``build-rules rules --out .`` deleted the user's rules.
    Nor may OUT be the rules directory: loading it then reads the copy, not later edits."""
    rules, out = rules_dir.resolve(), out_dir.resolve()
    copy = out / RULES_COPY
    if rules == out:
        raise ConfigError(f"--out {out_dir}: the rules directory itself; loading it would "
                          "then read the build's copy of the rules, not later edits: "
                          "choose another --out")
    if rules == copy or copy in rules.parents:
        raise ConfigError(f"--out {out_dir}: each build replaces {copy} with its copy of the "
                          f"rules, which would delete the rules directory {rules_dir}: "
                          "choose another --out")


@contextmanager
def _publishing(out_dir: Path) -> Iterator[None]:
    """Hold OUT's lock (``OUT/.build.lock``): builds publish into one OUT one at a time,
    from any process or thread. Two publishing at once replaced each other's temporary
    files, and one failed (two Kafka members starting together on new rules). An OUT
    that cannot be written, here or while publishing, is a BuildError."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(out_dir / LOCK, "ab") as fh:  # (closing it releases the lock)
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield
    except OSError as exc:
        raise BuildError(f"cannot write the build into {out_dir}: {exc}") from exc


def is_current(out_dir: Path) -> bool:
    """Whether the build in ``out_dir`` is what this pyengine builds from its copy of the
    rules: the same rule files, toolchain (pyengine's version, templates, Java runtime,
    generator) and builder, and the jar it wrote. A jar of another pyengine may bind its
    chunks differently from this one's Python."""
    try:
        builder = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))["builder"]
        digest = source_digest(out_dir / RULES_COPY, str(builder))
    except (OSError, ValueError, KeyError, TypeError):  # no (readable) build there
        return False
    return _current_build(out_dir, digest) is not None


def _current_build(out_dir: Path, digest: str) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    jar = out_dir / JAR
    if manifest.get("source_digest") != digest or not jar.exists():
        return None
    if manifest.get("jar_sha256") != _sha256(jar):
        return None
    return manifest


def _compile_into_cache(program: Program, cached: Path, builder: str) -> None:
    try:
        _compile_entry(program, cached, builder)
    except OSError as exc:  # (the compilers' own failures are BuildErrors already)
        raise BuildError(f"cannot write the build cache {cached.parent.parent}: {exc}; set "
                         "PYENGINE_CACHE_DIR to a writable directory") from exc


def _compile_entry(program: Program, cached: Path, builder: str) -> None:
    """Compile ``program`` into the cache entry ``cached``, which appears whole or not."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pyengine-build-", dir=cached.parent) as tmp:
        work = Path(tmp)
        generated = work / "src"
        generate(program, generated)
        try:
            jar = compile_jar(generated, work, builder)
        except CodeTooLarge as exc:
            raise _too_large(program, exc) from exc
        staging = work / "entry"
        staging.mkdir()
        shutil.copyfile(jar, staging / JAR)
        shutil.copytree(generated, staging / "src")  # kept for reading the generated Java
        try:
            os.rename(staging, cached)  # atomic: a concurrent build of the same key may win
        except OSError:
            if not (cached / JAR).exists():
                raise


def _too_large(program: Program, exc: CodeTooLarge) -> PyEngineError:
    """A rule or table too large for one Java method is a problem of the rules: a
    SpecError at its position (exit 2), not a failed build."""
    found = method_origin(program, exc.origin)
    if found is None:
        return exc
    kind, pos = found
    advice = "split its condition into several rules" if kind == "rule" else \
        "split its rows into several tables"
    return SpecError([Diagnostic(pos, f"this {kind} compiles to a Java method larger than "
                                      f"the JVM allows (64 KB of bytecode): {advice}")])


def make_manifest(program: Program, builder: str, digest: str, jar: Path) -> dict[str, Any]:
    """The manifest.json content of a build (see CLI.md)."""
    root = Path(program.root)
    return {
        "pyengine_version": __version__,
        "ruleset_version": program.version,
        "builder": builder,
        "source_digest": digest,
        "jar": JAR,
        "jar_sha256": _sha256(jar),
        "schema": {n: {"type": str(f.type), "optional": f.optional}
                   for n, f in program.schema.fields.items()},
        "rulesets": {
            rs.name: {
                "file": Path(rs.path).relative_to(root).as_posix(),
                "clients": rs.clients,
                "default": rs.default,
                "mode": rs.mode,
                "tables": [t.id for t in rs.tables],
                "rules": [r.id for r in rs.rules],
                "ids": rs.ids,
                "outputs": {n: str(t) for n, t in rs.outputs.items()},
            }
            for rs in program.rulesets
        },
        "clients": dict(sorted(program.routes.items())),
        "default_ruleset": program.default_set,
        "outputs": {n: str(t) for n, t in program.outputs.items()},
    }


def _publish(out_dir: Path, jar: Path, rules_dir: Path, manifest: dict[str, Any]) -> None:
    """Write OUT's jar, rules copy, then manifest last (its presence means complete)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    tmp_jar = out_dir / (JAR + ".tmp")
    shutil.copyfile(jar, tmp_jar)
    os.replace(tmp_jar, out_dir / JAR)
    copy = out_dir / RULES_COPY
    if copy.exists():
        shutil.rmtree(copy)
    copy.mkdir()
    for path in _rule_files(rules_dir):
        shutil.copyfile(path, copy / path.name)
    tmp_manifest = out_dir / (MANIFEST + ".tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n",
                            encoding="utf-8")
    os.replace(tmp_manifest, out_dir / MANIFEST)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
