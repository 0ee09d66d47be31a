"""Errors as values: every problem netgen finds carries the place in the spec it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, order=True)
class Span:
    """A position in a spec file; line and column are 1-based, as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Severity(StrEnum):
    ERROR = "error"
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
