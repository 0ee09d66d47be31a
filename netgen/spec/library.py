"""Block libraries: YAML files of blocks that a spec brings in with `use:`.

A library holds `blocks:` (and may `use:` other libraries); its blocks join the spec's as if they
were written under the spec's own `blocks:`, so the spec's `defaults:` apply to them too. Paths
are relative to the file that names them and, as a spec's `reference:`, must stay in the spec's
folder or below it (symlinks followed). A library used twice (two libraries that use a third) is
read once; one that uses itself, directly or through others, is an error at the `use:` entry that
closes the cycle.

Diagnostics inside a library point into the library file; `with_use_notes` adds, as notes, the
`use:` entries that brought the file in, up to the spec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from netgen.diagnostics import Diagnostic, Span, SpecError, error, note
from netgen.files import read_regular
from netgen.spec.yaml_source import MAX_BYTES, YMap, load_yaml, read_source

LIBRARY_TOP = "a mapping with 'blocks'"


@dataclass(frozen=True)
class Import:
    """A library file as netgen opened it, and the `use:` entry (in the spec or another library) naming it."""

    path: str
    span: Span


class LibraryFiles:
    """Finds, confines and reads the libraries of one spec."""

    def __init__(self, spec_path: str, max_values: int | None = None):
        self.folder = os.path.dirname(spec_path)
        self.root = os.path.realpath(self.folder or os.curdir)
        self.spec = os.path.realpath(spec_path)
        self.max_values = max_values
        self.read: set[str] = set()  # real paths of the libraries read so far

    def path(self, importer: str, entry: str, span: Span, chain: tuple[str, ...]) -> str | None:
        """The file `entry` names, relative to the file `importer`; None when it was read already.
        `chain` holds the real paths of the files that led here, the spec first."""
        path = os.path.normpath(os.path.join(os.path.dirname(importer), entry))
        real = os.path.realpath(path)
        if os.path.commonpath([self.root, real]) != self.root:
            raise SpecError(
                error(
                    "library-outside",
                    f"use {entry!r} leads outside the spec's folder; a spec uses libraries in its folder or below it, "
                    "so copy the library there",
                    span,
                )
            )
        if real in chain:
            names = [self._shown(step) for step in (*chain[chain.index(real) :], real)]
            raise SpecError(
                error(
                    "import-cycle",
                    f"use {entry!r} makes a cycle ({' -> '.join(names)}); a library cannot use itself, directly or through others",
                    span,
                )
            )
        if not os.path.isfile(path):
            raise SpecError(
                error(
                    "no-library",
                    f"use {entry!r} is not a file (looked for {path}, relative to {importer}); fix the path",
                    span,
                )
            )
        if real in self.read:
            return None
        self.read.add(real)
        return path

    def load(self, path: str) -> YMap:
        data = read_regular(path, "block library", MAX_BYTES)
        return load_yaml(read_source(path, data), "block library", LIBRARY_TOP, max_values=self.max_values)

    def _shown(self, real: str) -> str:
        """A file of the cycle as a path relative to the spec's folder, as `use:` entries are written."""
        return os.path.relpath(real, self.root)


def with_use_notes(diagnostics: list[Diagnostic], imports: tuple[Import, ...] | list[Import]) -> list[Diagnostic]:
    """Each diagnostic located in a library gains notes at the `use:` entries that brought it in."""
    if not imports:
        return diagnostics
    by_file: dict[str, Import] = {}
    for used in imports:
        by_file.setdefault(used.path, used)
    out = []
    for diagnostic in diagnostics:
        notes, file = [], diagnostic.span.file if diagnostic.span is not None else None
        while file in by_file and len(notes) < len(by_file):
            used = by_file[file]
            added = note(f"in block library {file}, used here", used.span)
            if added not in diagnostic.notes:
                notes.append(added)
            file = used.span.file
        out.append(replace(diagnostic, notes=(*diagnostic.notes, *notes)) if notes else diagnostic)
    return out
