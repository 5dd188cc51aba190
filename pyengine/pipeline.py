"""The pipelines, one small public function each.

- :func:`load_program`: rules directory -> resolved, type-checked Program
- :func:`build`: rules directory -> rules.jar + manifest.json (cached)
- :func:`compile_rules`: rules directory or build output -> CompiledRules in the JVM
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pyengine.build.builder import (
    MANIFEST,
    RULES_COPY,
    BuildResult,
    build_rules,
    cache_root,
    is_current,
)
from pyengine.jvm.rules import CompiledRules
from pyengine.spec.program import Program
from pyengine.spec.resolver import load_rules


def load_program(rules_dir: str | Path) -> Program:
    """Load and check a rules directory (raises SpecError with every problem)."""
    return load_rules(rules_dir)


def build(rules_dir: str | Path, out_dir: str | Path, builder: str = "gradle") -> BuildResult:
    """Compile a rules directory into ``out_dir`` (no work when unchanged)."""
    return build_rules(rules_dir, out_dir, builder)


def rules_source(path: str | Path) -> Path:
    """The rules directory behind ``path``: itself, or a build-rules output's copy."""
    path = Path(path)
    if (path / MANIFEST).exists() and (path / RULES_COPY).is_dir():
        return path / RULES_COPY
    return path


def compile_rules(path: str | Path, builder: str = "gradle") -> CompiledRules:
    """Rules ready to evaluate: ``path`` is a rules directory or a build-rules output."""
    path = Path(path)
    source = rules_source(path)
    if source != path and is_current(path):  # a build-rules output of this pyengine
        return CompiledRules(load_rules(source), path / "rules.jar")
    # A rules directory; or a build output of another pyengine (or whose copy of the
    # rules was edited), whose jar is not loaded: its rules are built again, cached.
    key = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:24]
    result = build_rules(source, cache_root() / "dirs" / key, builder)
    return CompiledRules(result.program or load_rules(source), result.jar)
