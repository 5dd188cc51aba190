"""Positions in rule files and the exception hierarchy.

Every error pyengine raises derives from :class:`PyEngineError`. Errors about a
rules directory carry :class:`Diagnostic` objects, each pointing at a path, line
and column, and render as ``path:line:col: error: message`` followed by the
source line and a caret, the way compilers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Pos:
    """A 1-based line and column in a source file."""

    path: str
    line: int
    col: int

    def shifted(self, lines: int = 0, cols: int = 0) -> Pos:
        """Return the position ``lines`` lines and ``cols`` columns further on."""
        return Pos(self.path, self.line + lines, self.col + cols)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


NOWHERE = Pos("<unknown>", 1, 1)


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a rules directory."""

    pos: Pos
    message: str

    def render(self, sources: dict[str, str] | None = None) -> str:
        """Format as ``path:line:col: error: message`` plus source line and caret."""
        head = f"{self.pos}: error: {self.message}"
        line = _source_line(self.pos, sources)
        if line is None:
            return head
        line, col = _around(line, self.pos.col)
        # Tabs are kept so the caret lines up under the same column in a terminal.
        pad = "".join(c if c == "\t" else " " for c in line[: col - 1])
        return f"{head}\n{line}\n{pad}^"


SHOWN = 120  # characters of a long source line shown around the caret


def _around(line: str, col: int) -> tuple[str, int]:
    """The part of ``line`` worth printing for column ``col``, and the column there: a
    long line (a generated expression may take a megabyte) is cut around the caret."""
    if len(line) <= SHOWN:
        return line, col
    start = min(max(0, col - 1 - SHOWN // 2), len(line) - SHOWN)
    end = start + SHOWN
    head = "..." if start > 0 else ""
    tail = "..." if end < len(line) else ""
    return head + line[start:end] + tail, col - start + len(head)


def _source_line(pos: Pos, sources: dict[str, str] | None) -> str | None:
    text = sources.get(pos.path) if sources else None
    if text is None:
        try:
            text = Path(pos.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    lines = text.splitlines()
    if not 1 <= pos.line <= len(lines):
        return None
    return lines[pos.line - 1]


class PyEngineError(Exception):
    """Root of every error pyengine raises on purpose.

    Catch this to handle any pyengine failure; foreign errors (Java exceptions,
    Gradle failures, pyarrow errors) are wrapped in a subclass with the original
    kept as ``__cause__``.
    """

    #: the CLI exit status for this kind of error (see CLI.md)
    exit_status = 2


class SpecError(PyEngineError):
    """A rules directory has one or more problems; ``diagnostics`` lists them all."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.pos, d.message))
        self.sources = sources or {}
        super().__init__(self.render())

    def render(self) -> str:
        """All diagnostics, each with its source line and caret."""
        return "\n".join(d.render(self.sources) for d in self.diagnostics)


class BuildError(PyEngineError):
    """Compiling the generated Java failed (Gradle or javac), or no JDK was usable."""


class ConfigError(PyEngineError, ValueError):
    """A setting no run can use, such as an SLA of no time or more workers than allowed
    (a ``ValueError`` too, as for any argument out of its range)."""


class JvmError(PyEngineError):
    """The JVM could not be started or a Java call failed unexpectedly."""


class RecordError(PyEngineError):
    """A transaction could not be evaluated; ``kind`` is the DLQ error kind."""

    kind = "evaluation"

    def __init__(self, message: str, rule: str | None = None):
        self.message = message
        self.rule = rule
        super().__init__(message if rule is None else f"{rule}: {message}")


class SchemaViolation(RecordError):
    """A required field is missing, null or not convertible to its type."""

    kind = "schema"


class UnknownClient(RecordError):
    """No rule set serves the transaction's client_id and there is no default set."""

    kind = "unknown_client"


class EvaluationError(RecordError):
    """A rule or table failed while evaluating (overflow, division by zero, ...)."""

    kind = "evaluation"


_RECORD_ERRORS: dict[str, type[RecordError]] = {
    cls.kind: cls for cls in (SchemaViolation, UnknownClient, EvaluationError)}


def record_error(kind: str, message: str, rule: str | None = None) -> RecordError:
    """The RecordError subclass of a DLQ error ``kind`` (schema, unknown_client, evaluation)."""
    return _RECORD_ERRORS[kind](message, rule)
