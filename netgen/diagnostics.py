"""Errors as values: every problem netgen finds carries the place in the spec it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, order=True, slots=True)
class Span:
    """A position in a spec file; line and column are 1-based, as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"  # the spec builds, but probably not into what its author meant
    NOTE = "note"


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None
    severity: Severity = Severity.ERROR
    notes: tuple[Diagnostic, ...] = field(default=())

    def render(self) -> str:
        where = f"{self.span}: " if self.span else ""
        code = f" [{self.code}]" if self.code else ""
        head = f"{where}{self.severity.value}: {self.message}{code}"
        return "\n".join([head, *(note.render() for note in self.notes)])

    @property
    def hint(self) -> str | None:
        """The advice a message ends with: by house style, what follows its first '; '."""
        _, sep, advice = self.message.partition("; ")
        return advice if sep else None

    def as_json(self) -> dict:
        """The one diagnostic object every command's --json prints (README: "JSON output")."""
        where = self.span
        return {
            "file": where.file if where else None,
            "line": where.line if where else None,
            "column": where.col if where else None,
            "severity": self.severity.value,
            "code": self.code or None,
            "message": self.message,
            "hint": self.hint,
            "notes": [note.as_json() for note in self.notes],
        }


def note(message: str, span: Span | None) -> Diagnostic:
    return Diagnostic(code="", message=message, span=span, severity=Severity.NOTE)


class SpecError(Exception):
    """Raised with every diagnostic found so far when a stage cannot go on."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


def error(code: str, message: str, span: Span | None, *notes: Diagnostic) -> Diagnostic:
    return Diagnostic(code=code, message=message, span=span, notes=tuple(notes))


def warning(code: str, message: str, span: Span | None, *notes: Diagnostic) -> Diagnostic:
    return Diagnostic(code=code, message=message, span=span, severity=Severity.WARNING, notes=tuple(notes))


def is_error(diagnostic: Diagnostic) -> bool:
    return diagnostic.severity is Severity.ERROR


def count(diagnostics: list[Diagnostic]) -> str:
    """'2 errors, 1 warning': the tally printed after a list of diagnostics."""
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
    parts = [f"{errors} error{'s' if errors != 1 else ''}"] if errors or not warnings else []
    parts += [f"{warnings} warning{'s' if warnings != 1 else ''}"] if warnings else []
    return ", ".join(parts)
