"""Reading a spec again after an edit: each entry whose text and place are unchanged is taken from
the last read instead of being read again. The entries are the top-level ones (`name:`, `input:`)
and, under `blocks:`, `layers:`, `heads:` and `defaults:`, each block, layer, head and default.

An editor re-checks a spec at every keystroke, and reading the YAML is a large part of a check; an
edit changes one layer or one block. libyaml's parser finds where the entries are (it is written
in C); each entry is then read by `load_yaml` itself, as a document of its own that starts at the
same line and column, so its values and every span in them are the ones the whole document gives.
Anything this cannot read exactly the same way (an alias, an explicit document marker, a problem
of any kind, the value limit reached, nesting near the depth limit) is read whole by `load_yaml`,
which then reports it as it always does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import yaml

from netgen.diagnostics import Span, SpecError
from netgen.spec.yaml_source import MAX_DEPTH, MAX_VALUES, SPEC_TOP, Source, YMap, load_yaml

_Parser = yaml.cyaml.CParser if yaml.__with_libyaml__ else None
# Top-level entries whose mapping is read entry by entry. Their keys read as the same text in
# every YAML version, so the key itself needs no reading.
SPLIT = ("blocks", "layers", "heads", "defaults")
_OPENS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSES = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


@dataclass(frozen=True)
class _Entry:
    key: str
    value: object
    key_span: Span
    value_span: Span


@dataclass(frozen=True)
class _Chunk:
    """An entry as written: its text from its key to the next key, and where it starts."""

    text: str
    line: int  # 0-based, as libyaml counts
    column: int
    values: int  # nodes in it: its key, its value and everything inside
    start: int = 0  # its offset in the document


@dataclass(frozen=True)
class _Split:
    """A top-level entry (`layers:`) whose mapping is read entry by entry."""

    key: str
    line: int
    column: int
    mapping_line: int  # where the mapping's first key is: the mapping's own span
    mapping_column: int
    children: tuple[_Chunk, ...]
    start: int = 0

    @property
    def values(self) -> int:
        return 2 + sum(child.values for child in self.children)


class ReusingReader:
    """`load_yaml` for the successive versions of one spec. Call it as load_yaml is called."""

    def __init__(self):
        self._entries: dict[tuple, _Entry] = {}
        self.reused = 0  # entries taken from the last read, in the last call (for tests and benchmarks)
        self.read = 0  # entries read in the last call

    def __call__(
        self, source: Source, document: str = "spec", top: str = SPEC_TOP, max_values: int | None = None
    ) -> YMap:
        max_values = MAX_VALUES if max_values is None else max_values
        self.reused = self.read = 0
        found = _sections(source.text) if _Parser is not None else None
        if found is None:
            return load_yaml(source, document, top, max_values)
        mapping_line, mapping_column, sections = found
        if not sections or 1 + sum(section.values for section in sections) > max_values:
            return load_yaml(source, document, top, max_values)
        self._kept: dict[tuple, _Entry] = {}
        out = _mapping(source.path, mapping_line, mapping_column)
        for section in sections:
            if isinstance(section, _Split):
                inner = _mapping(source.path, section.mapping_line, section.mapping_column)
                for child in section.children:
                    entry = self._entry(source.path, section.key, child, document, top, max_values)
                    if entry is None or not _add(inner, entry):
                        return load_yaml(source, document, top, max_values)
                entry = _Entry(section.key, inner, Span(source.path, section.line + 1, section.column + 1), inner.span)
            else:
                entry = self._entry(source.path, None, section, document, top, max_values)
            if entry is None or not _add(out, entry):
                return load_yaml(source, document, top, max_values)
        self._entries = self._kept
        return out

    def _entry(
        self, path: str, parent: str | None, chunk: _Chunk, document: str, top: str, max_values: int
    ) -> _Entry | None:
        cache_key = (path, parent, chunk.text, chunk.line, chunk.column)
        entry = self._entries.get(cache_key)
        if entry is None:
            entry = _read(path, chunk, document, top, max_values)
            self.read += 1
        else:
            self.reused += 1
        if entry is not None:
            self._kept[cache_key] = entry
        return entry


def _mapping(path: str, line: int, column: int) -> YMap:
    out = YMap()
    out.span = Span(path, line + 1, column + 1)
    out.key_spans, out.value_spans = {}, {}
    return out


def _add(mapping: YMap, entry: _Entry) -> bool:
    """Add an entry; False for a duplicate key, which the whole read reports."""
    if entry.key in mapping:
        return False
    mapping[entry.key] = entry.value
    mapping.key_spans[entry.key] = entry.key_span
    mapping.value_spans[entry.key] = entry.value_span
    return True


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


# -- where the entries are -----------------------------------------------------------------------


def _sections(text: str) -> tuple[int, int, list[_Chunk | _Split]] | None:
    """Where the top-level block mapping's entries are, or None when the document is anything else
    or holds anything a piecewise read might read differently."""
    parser = _Parser(text)
    try:
        return _Walk(parser, text).document()
    except (yaml.YAMLError, _Whole):
        return None
    finally:
        parser.dispose()


class _Whole(Exception):
    """The document is to be read whole."""


class _Walk:
    def __init__(self, parser, text: str):
        self.parser, self.text = parser, text

    def document(self) -> tuple[int, int, list[_Chunk | _Split]]:
        parser = self.parser
        parser.get_event()  # stream start
        start = parser.get_event()
        if not isinstance(start, yaml.DocumentStartEvent) or start.explicit or start.version or start.tags:
            raise _Whole
        mapping = parser.get_event()
        if not _block_mapping(mapping):
            raise _Whole
        sections: list[_Chunk | _Split] = []
        while (key := self._key(mapping)) is not None:
            value = parser.get_event()
            if key.value in SPLIT and not key.style and _block_mapping(value):
                mark = key.start_mark
                children = self._entries(value)
                sections.append(
                    _Split(
                        key.value,
                        mark.line,
                        mark.column,
                        value.start_mark.line,
                        value.start_mark.column,
                        children,
                        mark.index,
                    )
                )
            else:
                sections.append(self._chunk(key, value))
        end = parser.get_event()
        if (
            not isinstance(end, yaml.DocumentEndEvent)
            or end.explicit
            or not isinstance(parser.get_event(), yaml.StreamEndEvent)
        ):
            raise _Whole
        return mapping.start_mark.line, mapping.start_mark.column, self._cut(sections)

    def _key(self, mapping: yaml.Event) -> yaml.ScalarEvent | None:
        """The next key of `mapping`, or None at its end."""
        key = self.parser.get_event()
        if isinstance(key, yaml.MappingEndEvent):
            return None
        if not isinstance(key, yaml.ScalarEvent) or key.anchor or key.tag:
            raise _Whole
        if key.start_mark.column != mapping.start_mark.column:  # a key written after `? `, say
            raise _Whole
        return key

    def _entries(self, mapping: yaml.Event) -> tuple[_Chunk, ...]:
        children = []
        while (key := self._key(mapping)) is not None:
            children.append(self._chunk(key, self.parser.get_event()))
        return tuple(children)

    def _chunk(self, key: yaml.ScalarEvent, value: yaml.Event) -> _Chunk:
        """An entry whose value starts with `value`; its text is cut once every key is known."""
        values, depth = self._skip(value)
        if depth >= MAX_DEPTH - 4:  # a piece read alone nests less deep than in the whole: too close to call
            raise _Whole
        mark = key.start_mark
        return _Chunk("", mark.line, mark.column, 1 + values, mark.index)

    def _skip(self, first: yaml.Event) -> tuple[int, int]:
        """Pass over one value's events: how many values it holds and how deep it nests."""
        depth = deepest = values = 0
        event = first
        while True:
            kind = type(event)
            if kind is yaml.ScalarEvent:
                values += 1
            elif kind in _OPENS:
                values += 1
                depth += 1
                deepest = max(deepest, depth)
            elif kind in _CLOSES:
                depth -= 1
            else:  # an alias: its value is elsewhere
                raise _Whole
            if depth == 0:
                return values, deepest
            event = self.parser.get_event()

    def _cut(self, sections: list[_Chunk | _Split]) -> list[_Chunk | _Split]:
        """Each chunk's text: from its key up to the next key at either level."""
        starts = sorted(
            {section.start for section in sections}
            | {child.start for section in sections if isinstance(section, _Split) for child in section.children}
        )
        following = dict(zip(starts, [*starts[1:], len(self.text)], strict=True))

        def cut(chunk: _Chunk) -> _Chunk:
            return replace(chunk, text=self.text[chunk.start : following[chunk.start]])

        return [
            replace(section, children=tuple(map(cut, section.children)))
            if isinstance(section, _Split)
            else cut(section)
            for section in sections
        ]


def _block_mapping(event: yaml.Event) -> bool:
    return isinstance(event, yaml.MappingStartEvent) and not event.flow_style and not event.anchor and event.implicit
