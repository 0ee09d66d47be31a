"""YAML text to plain values that remember where they were written.

pyyaml's safe composer gives nodes with positions; we build the values ourselves so that
duplicate keys, object-constructing tags and alias bombs become located diagnostics instead
of silent last-one-wins, code execution or exhausted memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from netgen.diagnostics import Diagnostic, Span, SpecError, error, note
from netgen.spec.yaml_errors import syntax_error
from netgen.spec.yaml_schema import CORE_RESOLVERS, core_value, yaml11_conflict

# Values in one document, aliases expanded: GoogLeNet's spec has about 400, its reference
# table about 900. The limit also bounds the time and memory pyyaml spends before it applies;
# `--max-layers` raises it with the layer limit, for specs that list tens of thousands of layers.
MAX_VALUES = 50_000
MAX_DEPTH = 64
MAX_BYTES = 4 * 1024 * 1024
# YAML's limit on a key written without '?': pyyaml stops looking for its ':' after this many characters.
MAX_KEY_LENGTH = 1024

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
SPEC_TOP = "a mapping with 'name', 'input' and 'layers'"


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


# What YAML counts as a line break, and so what its marks count lines by.
LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def position_in(text: str, index: int, path: str) -> Span:
    """The span of `text[index]`, counted as YAML counts lines."""
    breaks = list(LINE_BREAK.finditer(text, 0, index))
    line_start = breaks[-1].end() if breaks else 0
    return Span(path, len(breaks) + 1, index - line_start + 1)


def read_source(path: str, data: bytes) -> Source:
    if len(data) > MAX_BYTES:
        raise SpecError(
            error("file-too-large", f"spec is {len(data):,} bytes; the limit is {MAX_BYTES:,}", Span(path, 1, 1))
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Everything before the first bad byte is valid UTF-8; a byte-order mark is no column.
        before = data[: exc.start].decode("utf-8").removeprefix("\ufeff")
        where = position_in(before, len(before), path)
        raise SpecError(
            error("not-utf8", f"byte {data[exc.start]:#04x} is not valid UTF-8; save the spec as UTF-8 text", where)
        ) from None
    return Source(path, text.removeprefix("\ufeff"))


def load_yaml(source: Source, document: str = "spec", top: str = SPEC_TOP, max_values: int | None = None) -> YMap:
    """Parse one YAML document whose top level is a mapping (`top` says which, `document` what the file
    is) and holds at most `max_values` values (default MAX_VALUES)."""
    path = source.path
    max_values = MAX_VALUES if max_values is None else max_values
    if not source.text.strip():
        raise SpecError(error("empty-spec", f"{document} is empty; expected {top}", Span(path, 1, 1)))
    try:
        node, aliased = _compose(source.text, path, max_values)
        if node is None:
            raise SpecError(error("empty-spec", f"{document} has only comments; expected {top}", Span(path, 1, 1)))
        if aliased:  # without aliases, the composer's own count and depth are the document's
            _check_expansion(node, path, max_values)
        value = _Builder(path).build(node, depth=0)
    except yaml.MarkedYAMLError as exc:
        raise SpecError(syntax_error(exc, path, source.text)) from None
    except yaml.reader.ReaderError as exc:
        where = position_in(source.text, exc.position, path)
        message = (
            f"character U+{exc.character:04X} is not allowed in YAML text; remove it"
            if isinstance(exc.character, int)
            else f"YAML syntax: {exc.reason}"
        )
        raise SpecError(error("yaml-syntax", message, where)) from None
    except yaml.YAMLError as exc:
        raise SpecError(error("yaml-syntax", f"YAML syntax: {exc}".splitlines()[0], Span(path, 1, 1))) from None
    except (RecursionError, MemoryError):
        # Both are guarded against above; this keeps a traceback from ever reaching the user.
        raise SpecError(error("too-large", "spec is too large or nests too deeply to read", Span(path, 1, 1))) from None
    if not isinstance(value, YMap):
        # The kind only, not the value: a file that is no YAML mapping may be anything, a secret too.
        raise SpecError(
            error(
                "wrong-type",
                f"the {document}'s top level must be {top}, got {_kind_only(value)}",
                span_of(node.start_mark, path),
            )
        )
    return value


def _compose(text: str, path: str, max_values: int) -> tuple[yaml.Node | None, bool]:
    """The document's nodes. With libyaml's parser, GoogLeNet's spec and reference table read in
    0.07 s instead of pyyaml's 0.24 s; anything it refuses is read again by pyyaml's, whose errors
    netgen locates and words. Both count lines and columns in characters, by the same line breaks. Also says whether
    the document holds an alias."""
    if _FastLoader is not None:
        loader = _FastLoader(text, path, max_values)
        try:
            return loader.get_single_node(), loader.aliased
        except (yaml.YAMLError, SpecError, ValueError):
            pass
        finally:
            loader.dispose()
    loader = _Loader(text, path, max_values)
    try:
        return loader.get_single_node(), loader.aliased
    finally:
        loader.dispose()


class _Limits:
    """What both loaders share: deep nesting is refused before pyyaml's recursive composer can
    overflow and huge documents before they fill memory; plain values resolve by YAML 1.2's core
    schema (netgen.spec.yaml_schema), where a date such as `2014-09-17` is text."""

    yaml_implicit_resolvers = CORE_RESOLVERS
    path: str
    max_values: int
    depth = 0
    nodes = 0
    aliased = False
    _resolved: dict

    def resolve(self, kind, value, implicit):
        # A spec repeats its words and numbers (conv, out, 64): each is resolved by regex once.
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = self._resolved[key] = super().resolve(kind, value, implicit)
        return tag

    def compose_scalar_node(self, anchor):
        event = self.peek_event()
        node = super().compose_scalar_node(anchor)
        # pyyaml's parser gives a plain scalar the style None, libyaml's the style ''.
        node.tagged, node.plain = event.tag not in (None, "!"), not event.style
        return node

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                where = span_of(self.peek_event().start_mark, self.path)
                raise SpecError(error("too-deep", f"spec nests deeper than {MAX_DEPTH} levels", where))
            self.nodes += 1
            if self.check_event(yaml.AliasEvent):
                self.aliased = True
            if self.nodes > self.max_values:
                where = span_of(self.peek_event().start_mark, self.path)
                raise SpecError(
                    error(
                        "too-large",
                        f"the spec holds more than {self.max_values:,} values by here; a spec may hold at most "
                        f"{self.max_values:,}, unless --max-layers raises the limit",
                        where,
                    )
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


if yaml.__with_libyaml__:

    class _FastLoader(
        _Limits, yaml.composer.Composer, yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        """libyaml's parser under pyyaml's composer, so nodes and limits are the same as _Loader's."""

        def __init__(self, text: str, path: str, max_values: int):
            yaml.cyaml.CParser.__init__(self, text)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self.path, self.text, self.max_values, self._resolved = path, text, max_values, {}

        def compose_scalar_node(self, anchor):
            node = super().compose_scalar_node(anchor)
            if node.value == "" and node.plain and not node.tagged:
                node.start_mark = node.end_mark = self._empty_value_mark(node.start_mark)
            return node

        def _empty_value_mark(self, mark: yaml.Mark) -> yaml.Mark:
            # An empty value is placed after its ':' by pyyaml, but in a flow mapping (`{flatten: }`)
            # at the next token by libyaml. Anything else is read again by pyyaml.
            index = mark.index
            while index > 0 and self.text[index - 1] in " \t":
                index -= 1
            if index == 0 or self.text[index - 1] not in ":-":
                raise _Disagree
            return yaml.Mark(mark.name, index, mark.line, mark.column - (mark.index - index), None, None)

    class _Disagree(yaml.YAMLError):
        """A document whose positions libyaml and pyyaml might give differently."""

else:
    _FastLoader = None


class _Loader(_Limits, yaml.SafeLoader):
    """pyyaml's own parser, with the scanner's limits located and worded."""

    def __init__(self, text: str, path: str, max_values: int):
        super().__init__(text)
        self.path, self.max_values, self._resolved = path, max_values, {}

    def fetch_flow_collection_start(self, token_class):
        # The scanner reads ahead over every open '[' or '{' (each may start a key), in time
        # quadratic in their number; stop it here, before the composer would.
        if self.flow_level >= MAX_DEPTH:
            raise SpecError(
                error("too-deep", f"spec nests deeper than {MAX_DEPTH} levels", span_of(self.get_mark(), self.path))
            )
        super().fetch_flow_collection_start(token_class)

    def stale_possible_simple_keys(self):
        # pyyaml forgets a key candidate more than 1,024 characters long, then reports its ':' as
        # out of place; say what is wrong instead.
        key = self.possible_simple_keys.get(self.flow_level)
        if key is not None and key.line == self.line and self.index - key.index > MAX_KEY_LENGTH:
            ahead = 0
            while self.peek(ahead) == " ":
                ahead += 1
            if self.peek(ahead) == ":":
                raise SpecError(
                    error(
                        "yaml-syntax",
                        f"YAML syntax: this key is {self.index - key.index:,} characters long; "
                        f"YAML keys are at most {MAX_KEY_LENGTH:,}",
                        span_of(key.mark, self.path),
                    )
                )
        super().stale_possible_simple_keys()


def _check_expansion(root: yaml.Node, path: str, max_values: int) -> None:
    """Count the values each node expands to, each shared (aliased) node once, so a
    "billion laughs" document is refused before a single value of it is built."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        span = span_of(node.start_mark, path)
        if key in open_nodes:
            raise SpecError(
                error("recursive-alias", "this anchor contains an alias of itself; its value would be infinite", span)
            )
        if depth > MAX_DEPTH:
            raise SpecError(
                error("too-deep", f"spec nests deeper than {MAX_DEPTH} levels once its aliases are expanded", span)
            )
        open_nodes.add(key)
        total = 1 + sum(size(child, depth + 1) for child in _children(node))
        open_nodes.discard(key)
        if total > max_values:
            raise SpecError(
                error(
                    "too-large",
                    f"this {_node_kind(node)} expands to {total:,} values once its aliases are expanded; "
                    f"a spec may hold at most {max_values:,}",
                    span,
                )
            )
        sizes[key] = total
        return total

    size(root, 0)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return node.value if isinstance(node, yaml.SequenceNode) else []


_UNREAD = object()


class _Builder:
    def __init__(self, path: str):
        self.path = path
        self.constructor = yaml.SafeLoader.__new__(yaml.SafeLoader)
        yaml.constructor.SafeConstructor.__init__(self.constructor)
        # A spec repeats its words and numbers: each spelling is read (and checked against YAML 1.1) once.
        self._scalars: dict[tuple[str, str, bool, bool], object] = {}

    def build(self, node: yaml.Node, depth: int):
        if depth > MAX_DEPTH:
            raise SpecError(error("too-deep", f"spec nests deeper than {MAX_DEPTH} levels", span_of(node.start_mark, self.path)))
        if isinstance(node, yaml.ScalarNode):
            key = (node.tag, node.value, node.tagged, node.plain)
            known = self._scalars.get(key, _UNREAD)
            if known is _UNREAD:
                known = self._scalars[key] = self._scalar(node, span_of(node.start_mark, self.path))
            return known
        span = span_of(node.start_mark, self.path)
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
        raise TypeError(f"unexpected YAML node {type(node).__name__}")

    def _scalar(self, node: yaml.ScalarNode, span: Span):
        """A scalar's value, or the error that refuses it (which does not depend on where it is)."""
        if node.tag not in _PLAIN_TAGS:
            raise SpecError(_bad_tag(node.tag, span))
        try:
            value = core_value(node.tag, node.value)
        except ValueError:
            # An explicit tag on text it cannot read (`!!int x`, `!!bool maybe`), or an integer too
            # long for Python to parse.
            kind = node.tag.rsplit(":", 1)[-1]
            if len(node.value) > 40:
                message = f"a {len(node.value)}-character {kind} is far too long to be a value of a spec"
            else:
                message = f"{node.value!r} is not a valid {kind}"
            raise SpecError(error("bad-value", message, span)) from None
        conflict = yaml11_conflict(node, value, self.constructor)
        if conflict is not None:
            raise SpecError(error("yaml-ambiguous", conflict, span))
        if isinstance(value, str):
            _check_text(value, span)
        return value

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
                raise SpecError(
                    error("yaml-merge", "merge keys ('<<') are not supported; write the keys out", key_span)
                )
            key = self.build(key_node, depth + 1)
            if not isinstance(key, str):
                raise SpecError(error("wrong-type", f"keys must be names, got {_kind(key)}", key_span))
            if key in out:
                raise SpecError(
                    error(
                        "duplicate-key",
                        f"duplicate key {key!r}; give each key once",
                        key_span,
                        note(f"{key!r} is first given here", out.key_spans[key]),
                    )
                )
            out.key_spans[key] = key_span
            out.value_spans[key] = span_of(value_node.start_mark, self.path)
            out[key] = self.build(value_node, depth + 1)
        return out


# YAML escapes ("\0", "\uD800") can write characters no output can carry: UTF-8 has no half of a
# surrogate pair, and ONNX text ends a string at NUL.
_UNWRITABLE = re.compile("[\x00\ud800-\udfff]")


def _check_text(value: str, span: Span) -> None:
    found = _UNWRITABLE.search(value)
    if found is not None:
        raise SpecError(
            error(
                "bad-character",
                f"this text holds U+{ord(found.group()):04X}, which no generated file can carry; remove it",
                span,
            )
        )


def _bad_tag(tag: str, span: Span) -> Diagnostic:
    shown = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag
    return error(
        "yaml-tag",
        f"YAML tag {shown!r} is not allowed; specs hold plain data only (text, numbers, true/false, null, lists and mappings)",
        span,
    )


def _node_kind(node: yaml.Node) -> str:
    return (
        "mapping" if isinstance(node, yaml.MappingNode) else "list" if isinstance(node, yaml.SequenceNode) else "value"
    )


def _kind(value) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _kind_only(value) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return "a number" if isinstance(value, (int, float)) and not isinstance(value, bool) else _kind(value)


def value_span(container, key_or_index, default: Span) -> Span:
    """Where a value inside a YMap / YList was written, falling back to `default`."""
    if isinstance(container, YMap) and isinstance(key_or_index, str):
        return container.value_spans.get(key_or_index, default)
    if isinstance(container, YList) and isinstance(key_or_index, int) and 0 <= key_or_index < len(container):
        return container.item_spans[key_or_index]
    return getattr(container, "span", default)
