"""pyengine: declarative transaction rules compiled to Java and run from Python."""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from pyengine.errors import (
    BuildError,
    EvaluationError,
    JvmError,
    PyEngineError,
    RecordError,
    SchemaViolation,
    SpecError,
    UnknownClient,
)

if TYPE_CHECKING:
    from pyengine.engine import Engine

__version__ = "0.1.0"


def load(rules: str | PathLike[str], builder: str = "gradle") -> Engine:
    """Build (cached) and load rules: a rules directory or a build-rules output."""
    from pyengine.engine import load as _load

    return _load(Path(rules), builder)


__all__ = [
    "BuildError",
    "EvaluationError",
    "JvmError",
    "PyEngineError",
    "RecordError",
    "SchemaViolation",
    "SpecError",
    "UnknownClient",
    "__version__",
    "load",
]
