"""Where pyengine's non-Python files live: templates, Java runtime, build.gradle.

In a source checkout they sit at the top of the repository; an installed
wheel carries them inside the package under ``pyengine/_data``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(relative: str) -> Path:
    for base in (_PACKAGE / "_data", _PACKAGE.parent):
        candidate = base / relative
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"pyengine resource '{relative}' is missing from the installation")


def templates_dir() -> Path:
    """The Jinja2 templates of the generated Java classes."""
    return _find("templates")


def java_runtime_dir() -> Path:
    """The hand-written Java runtime sources (``pyengine.runtime``)."""
    return _find("java/src/main/java")


def build_gradle() -> Path:
    """The Gradle build script that compiles runtime and generated sources."""
    return _find("build.gradle")


def jmh_dir() -> Path:
    """The JMH benchmark sources over generated rules (``pyengine bench jmh``)."""
    return _find("java/src/jmh/java")
