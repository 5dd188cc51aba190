"""pyengine: declarative transaction rules compiled to Java and run from Python."""

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

__version__ = "0.1.0"

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
]
