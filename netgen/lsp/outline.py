"""Where each key and value of a spec is written, from YAML's events, even while the text is broken.

The compiler's spans say where a problem starts; the editor needs ranges, and needs to know what
is under the cursor (a layer's name, an op, a `from:` target) in text that may not parse at all
while the user types. The outline is built from the YAML parser's events: each scalar with the
path of keys and list indices that leads to it, and the extent of every value. A line the parser
refuses is blanked (its characters made spaces, so every offset stays put) and the text scanned
again, so one broken line costs the outline that line only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

Path = tuple[str | int, ...]
MAX_RESCANS = 8

_Parser = yaml.cyaml.CParser if yaml.__with_libyaml__ else None


@dataclass(frozen=True)
class Entry:
    """A scalar: a mapping's key (its path ends with the key) or a value (its path ends with the
    key or index it is the value of)."""

    path: Path
    key: bool
    text: str
    start: int
    end: int
    quoted: bool = False

    @property
    def name(self) -> str | int:
        return self.path[-1]


@dataclass
class _Frame:
    kind: str  # "map" or "seq"
    path: Path
    flow: bool
    start: int
    key: str | None = None
    index: int = -1
    expecting: str = "key"  # in a mapping: "key" or "value"


@dataclass
class Outline:
    entries: list[Entry] = field(default_factory=list)  # in the order written
    extents: dict[Path, tuple[int, int]] = field(default_factory=dict)  # each value's first and last offset
    keys: dict[Path, Entry] = field(default_factory=dict)
    blanked: tuple[int, ...] = ()  # offsets of the lines left out because they did not scan

    def at(self, offset: int) -> Entry | None:
        """The entry under the cursor; a cursor just after a word is on it."""
        found = None
        for entry in self.entries:
            if entry.start <= offset <= entry.end:
                found = entry
                if offset < entry.end:
                    break
            elif entry.start > offset:
                break
        return found

    def value(self, path: Path) -> Entry | None:
        return next((entry for entry in self.entries if not entry.key and entry.path == path), None)

    def children(self, path: Path) -> list[Entry]:
        """The keys of the mapping at `path`."""
        depth = len(path) + 1
        return [entry for entry in self.entries if entry.key and len(entry.path) == depth and entry.path[:-1] == path]

    def inside(self, path: Path) -> list[Entry]:
        """Every entry below `path`."""
        depth = len(path)
        return [entry for entry in self.entries if len(entry.path) > depth and entry.path[:depth] == path]

    def extent(self, path: Path) -> tuple[int, int]:
        """From the key at `path` (or its value, in a list) to the end of its value."""
        key = self.keys.get(path)
        start, end = self.extents.get(path, (key.start, key.end) if key else (0, 0))
        if key is not None:
            start, end = key.start, max(end, key.end)
        return start, end


def outline(text: str) -> Outline:
    scanned = text
    blanked: list[int] = []
    for _ in range(MAX_RESCANS):
        builder = _Builder()
        error = builder.scan(scanned)
        if error is None:
            break
        line = _line_of(scanned, error)
        if line is None or line in blanked:
            break
        blanked.append(line)
        scanned = _blank(scanned, line)
    result = builder.result
    result.blanked = tuple(sorted(blanked))
    return result


def _line_of(text: str, error: yaml.YAMLError) -> int | None:
    """The start of the line to leave out: where an unclosed bracket opened, else where the parser stopped."""
    context = getattr(error, "context", None) or ""
    mark = getattr(error, "context_mark", None) if "flow" in context else None
    mark = mark or getattr(error, "problem_mark", None)
    if mark is None or mark.index is None:
        return None
    index = min(mark.index, len(text))
    breaks = [match.end() for match in _BREAK.finditer(text, 0, index)]
    return breaks[-1] if breaks else 0


_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def _blank(text: str, start: int) -> str:
    found = _BREAK.search(text, start)
    end = found.start() if found else len(text)
    return text[:start] + " " * (end - start) + text[end:]


class _Builder:
    def __init__(self):
        self.result = Outline()
        self.stack: list[_Frame] = []
        self.last_end = 0

    def scan(self, text: str) -> yaml.YAMLError | None:
        parser = _Parser(text) if _Parser is not None else yaml.SafeLoader(text)
        try:
            while True:
                event = parser.get_event()
                if event is None:
                    break
                self.event(event)
        except yaml.YAMLError as exc:
            return exc
        finally:
            parser.dispose()
        return None

    def _place(self) -> tuple[Path, bool]:
        """The path of the next node, and whether it is a mapping's key."""
        if not self.stack:
            return (), False
        top = self.stack[-1]
        if top.kind == "seq":
            top.index += 1
            return top.path + (top.index,), False
        if top.expecting == "key":
            return top.path, True
        return top.path + (top.key,), False

    def _placed(self) -> None:
        if self.stack and self.stack[-1].kind == "map":
            top = self.stack[-1]
            top.expecting = "value" if top.expecting == "key" else "key"

    def event(self, event: yaml.Event) -> None:
        start, end = event.start_mark.index, event.end_mark.index
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            path, is_key = self._place()
            if is_key:  # a collection as a key: nothing a spec writes
                path = path + ("?",)
                if self.stack:
                    self.stack[-1].key = "?"
            kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
            self.stack.append(_Frame(kind, path, bool(event.flow_style), start))
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = self.stack.pop()
            close = end if frame.flow else self.last_end
            self.result.extents[frame.path] = (frame.start, max(close, frame.start))
            self.last_end = max(self.last_end, close)
            self._placed()
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            path, is_key = self._place()
            text = event.value if isinstance(event, yaml.ScalarEvent) else ""
            quoted = isinstance(event, yaml.ScalarEvent) and bool(event.style) and event.style in "'\""
            if is_key:
                self.stack[-1].key = text
                path = path + (text,)
            if text or quoted or is_key:
                entry = Entry(path, is_key, text, start, end, quoted)
                self.result.entries.append(entry)
                if is_key:
                    self.result.keys.setdefault(path, entry)
                else:
                    self.result.extents.setdefault(path, (start, end))
                self.last_end = max(self.last_end, end)
            self._placed()
