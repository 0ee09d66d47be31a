"""Reading a spec again after an edit: each top-level entry (`blocks:`, `layers:`, ...) whose text
and place are unchanged is taken from the last read instead of being read again.

An editor re-checks a spec at every keystroke, and reading the YAML is most of a check; an edit
changes one entry. libyaml's parser finds where the top-level entries are (it is written in C and
takes a twentieth of a full read); each entry is then read by `load_yaml` itself, as a document of
its own that starts at the same line and column, so its values and every span in them are the
ones the whole document gives. Anything this cannot read exactly the same way (an alias, an
explicit document marker, a problem of any kind, the value limit reached) is read whole by
`load_yaml`, which then reports it as it always does.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from netgen.diagnostics import Span, SpecError
from netgen.spec.yaml_source import MAX_VALUES, SPEC_TOP, Source, YMap, load_yaml

_Parser = yaml.cyaml.CParser if yaml.__with_libyaml__ else None


@dataclass(frozen=True)
class _Entry:
    key: str
    value: object
    key_span: Span
    value_span: Span


@dataclass(frozen=True)
class _Chunk:
    """A top-level entry as written: its text from its key to the next key, and where it starts."""

    text: str
    line: int  # 0-based, as libyaml counts
    column: int
    values: int  # nodes in it: its key, its value and everything inside


class ReusingReader:
    """`load_yaml` for the successive versions of one spec. Call it as load_yaml is called."""

    def __init__(self):
        self._entries: dict[tuple[str, str, int, int], _Entry] = {}
        self.reused = 0  # entries taken from the last read, in the last call (for tests and benchmarks)

    def __call__(
        self, source: Source, document: str = "spec", top: str = SPEC_TOP, max_values: int | None = None
    ) -> YMap:
        max_values = MAX_VALUES if max_values is None else max_values
        self.reused = 0
        found = _chunks(source.text) if _Parser is not None else None
        if found is None:
            return load_yaml(source, document, top, max_values)
        mapping_line, mapping_column, chunks = found
        if not chunks or 1 + sum(chunk.values for chunk in chunks) > max_values:
            return load_yaml(source, document, top, max_values)
        out = YMap()
        out.span = Span(source.path, mapping_line + 1, mapping_column + 1)
        out.key_spans, out.value_spans = {}, {}
        entries = {}
        for chunk in chunks:
            cache_key = (source.path, chunk.text, chunk.line, chunk.column)
            entry = self._entries.get(cache_key)
            if entry is None:
                entry = _read(source.path, chunk, document, top, max_values)
                if entry is None:
                    return load_yaml(source, document, top, max_values)
            else:
                self.reused += 1
            if entry.key in out:  # a duplicate key: reported by the whole read
                return load_yaml(source, document, top, max_values)
            entries[cache_key] = entry
            out[entry.key] = entry.value
            out.key_spans[entry.key] = entry.key_span
            out.value_spans[entry.key] = entry.value_span
        self._entries = entries
        return out


def _read(path: str, chunk: _Chunk, document: str, top: str, max_values: int) -> _Entry | None:
    """One entry, read by load_yaml from a document that puts it where it is in the spec."""
    text = "\n" * chunk.line + " " * chunk.column + chunk.text
    try:
        mapping = load_yaml(Source(path, text), document, top, max_values)
    except SpecError:
        return None
    if len(mapping) != 1:
        return None
    (key,) = mapping
    return _Entry(key, mapping[key], mapping.key_spans[key], mapping.value_spans[key])


def _chunks(text: str) -> tuple[int, int, list[_Chunk]] | None:
    """Where the top-level block mapping's entries are, or None when the document is anything else
    or holds anything a piecewise read might read differently."""
    parser = _Parser(text)
    try:
        return _walk(parser, text)
    except yaml.YAMLError:
        return None
    finally:
        parser.dispose()


def _walk(parser, text: str) -> tuple[int, int, list[_Chunk]] | None:
    event = parser.get_event()  # stream start
    event = parser.get_event()
    if not isinstance(event, yaml.DocumentStartEvent) or event.explicit or event.version or event.tags:
        return None
    start = parser.get_event()
    if not isinstance(start, yaml.MappingStartEvent) or start.flow_style or start.anchor or not start.implicit:
        return None
    starts: list[tuple[int, int, int, int]] = []  # index, line, column, values
    while True:
        key = parser.get_event()
        if isinstance(key, yaml.MappingEndEvent):
            break
        if not isinstance(key, yaml.ScalarEvent) or key.anchor or key.tag:
            return None
        values = _skip(parser)
        if values is None:
            return None
        mark = key.start_mark
        if mark.column != start.start_mark.column:  # a key written after `? `, say
            return None
        starts.append((mark.index, mark.line, mark.column, 1 + values))
    end = parser.get_event()
    if not isinstance(end, yaml.DocumentEndEvent) or end.explicit:
        return None
    if not isinstance(parser.get_event(), yaml.StreamEndEvent):
        return None
    chunks = []
    for number, (index, line, column, values) in enumerate(starts):
        stop = starts[number + 1][0] if number + 1 < len(starts) else len(text)
        chunks.append(_Chunk(text[index:stop], line, column, values))
    return start.start_mark.line, start.start_mark.column, chunks


def _skip(parser) -> int | None:
    """Pass over one value's events; the number of values in it, or None if it holds an alias."""
    depth, values = 0, 0
    while True:
        event = parser.get_event()
        if isinstance(event, yaml.AliasEvent):
            return None
        if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            values += 1
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        if depth == 0:
            return values
