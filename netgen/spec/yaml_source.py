"""YAML text to plain values that remember where they were written.

pyyaml's safe composer gives nodes with positions; we build the values ourselves so that
duplicate keys, object-constructing tags and alias bombs become located diagnostics instead
of silent last-one-wins, code execution or exhausted memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from netgen.diagnostics import Span, SpecError, error

# Values built from one document, aliases expanded; GoogLeNet's spec has about 900.
MAX_VALUES = 200_000
MAX_DEPTH = 64
MAX_BYTES = 4 * 1024 * 1024

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class YMap(dict):
    """A mapping with the span of itself, of each key and of each value."""

    span: Span
    key_spans: dict[str, Span]
    value_spans: dict[str, Span]


class YList(list):
    span: Span
    item_spans: list[Span]


@dataclass(frozen=True)
class Source:
    path: str
    text: str


def span_of(mark: yaml.Mark, path: str) -> Span:
    return Span(path, mark.line + 1, mark.column + 1)


def read_source(path: str, data: bytes) -> Source:
    if len(data) > MAX_BYTES:
        raise SpecError(
            error("file-too-large", f"spec is {len(data)} bytes; the limit is {MAX_BYTES}", Span(path, 1, 1))
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError(
            error(
                "not-utf8",
                f"byte {data[exc.start]:#04x} is not valid UTF-8; specs are UTF-8 text",
                Span(path, line, col),
            )
        ) from None
    return Source(path, text.removeprefix("\ufeff"))


def load_yaml(source: Source) -> YMap:
    """Parse one YAML document whose top level is a mapping."""
    path = source.path
    if not source.text.strip():
        raise SpecError(error("empty-spec", "spec is empty; expected a mapping with 'name' and 'layers'", Span(path, 1, 1)))
    try:
        loader = yaml.SafeLoader(source.text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = span_of(mark, path) if mark else Span(path, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(error("yaml-syntax", f"YAML syntax: {problem}", span)) from None
    except yaml.YAMLError as exc:
        raise SpecError(error("yaml-syntax", f"YAML syntax: {exc}", Span(path, 1, 1))) from None
    except RecursionError:
        raise SpecError(error("too-deep", f"spec nests deeper than YAML can read (limit {MAX_DEPTH})", Span(path, 1, 1))) from None
    if node is None:
        raise SpecError(error("empty-spec", "spec is empty; expected a mapping with 'name' and 'layers'", Span(path, 1, 1)))
    value = _Builder(path).build(node, depth=0)
    if not isinstance(value, YMap):
        raise SpecError(error("wrong-type", "the spec's top level must be a mapping", span_of(node.start_mark, path)))
    return value


class _Builder:
    def __init__(self, path: str):
        self.path = path
        self.count = 0
        self.constructor = yaml.SafeLoader.__new__(yaml.SafeLoader)
        yaml.constructor.SafeConstructor.__init__(self.constructor)

    def build(self, node: yaml.Node, depth: int):
        span = span_of(node.start_mark, self.path)
        self.count += 1
        if self.count > MAX_VALUES:
            raise SpecError(
                error(
                    "too-large",
                    f"spec expands to more than {MAX_VALUES} values (aliases are expanded); is an anchor repeated recursively?",
                    span,
                )
            )
        if depth > MAX_DEPTH:
            raise SpecError(error("too-deep", f"spec nests deeper than {MAX_DEPTH} levels", span))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, span, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                raise SpecError(_bad_tag(node.tag, span))
            out = YList()
            out.span = span
            out.item_spans = []
            for item in node.value:
                out.append(self.build(item, depth + 1))
                out.item_spans.append(span_of(item.start_mark, self.path))
            return out
        if node.tag not in _PLAIN_TAGS:
            raise SpecError(_bad_tag(node.tag, span))
        return self.constructor.construct_object(node)

    def _mapping(self, node: yaml.MappingNode, span: Span, depth: int) -> YMap:
        if node.tag != _MAP_TAG:
            raise SpecError(_bad_tag(node.tag, span))
        out = YMap()
        out.span = span
        out.key_spans = {}
        out.value_spans = {}
        for key_node, value_node in node.value:
            key_span = span_of(key_node.start_mark, self.path)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecError(error("yaml-merge", "merge keys ('<<') are not supported; write the keys out", key_span))
            key = self.build(key_node, depth + 1)
            if not isinstance(key, str):
                raise SpecError(error("wrong-type", f"keys must be names, got {key!r}", key_span))
            if key in out:
                first = out.key_spans[key]
                raise SpecError(
                    error(
                        "duplicate-key",
                        f"duplicate key {key!r}; the first is at line {first.line}",
                        key_span,
                    )
                )
            out.key_spans[key] = key_span
            out.value_spans[key] = span_of(value_node.start_mark, self.path)
            out[key] = self.build(value_node, depth + 1)
        return out


def _bad_tag(tag: str, span: Span):
    return error("yaml-tag", f"YAML tag {tag!r} is not allowed; specs hold plain data only", span)


def value_span(container, key_or_index, default: Span) -> Span:
    """Where a value inside a YMap / YList was written, falling back to `default`."""
    if isinstance(container, YMap) and isinstance(key_or_index, str):
        return container.value_spans.get(key_or_index, default)
    if isinstance(container, YList) and isinstance(key_or_index, int) and 0 <= key_or_index < len(container):
        return container.item_spans[key_or_index]
    return getattr(container, "span", default)
