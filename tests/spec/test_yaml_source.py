"""The located YAML reader: what the CLI cases in tests/specs/bad/ do not pin down."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netgen.diagnostics import Span, SpecError
from netgen.spec import yaml_source
from netgen.spec.yaml_source import MAX_DEPTH, Source, load_yaml, read_source


def load(text: str):
    return load_yaml(Source("s.yaml", text))


def refusal(text: str):
    with pytest.raises(SpecError) as caught:
        load(text)
    (diagnostic,) = caught.value.diagnostics
    return diagnostic


def test_values_remember_where_keys_values_and_items_were_written():
    top = load("name: Net\nlayers:\n  conv1: {conv: {out: 8}}\ninput: [3,\n  32, 32]\n")
    assert top.key_spans["layers"] == Span("s.yaml", 2, 1)
    assert top["layers"].key_spans["conv1"] == Span("s.yaml", 3, 3)
    assert top["layers"]["conv1"]["conv"].value_spans["out"] == Span("s.yaml", 3, 23)
    assert top["input"].item_spans == [Span("s.yaml", 4, 9), Span("s.yaml", 5, 3), Span("s.yaml", 5, 7)]


def test_a_date_is_text_but_an_explicit_timestamp_tag_is_refused():
    assert load("description: 2014-09-17\n")["description"] == "2014-09-17"
    assert refusal("description: !!timestamp 2014-09-17\n").code == "yaml-tag"


def test_an_anchor_that_contains_itself_is_refused():
    diagnostic = refusal("name: &loop [*loop]\n")
    assert (diagnostic.code, diagnostic.span) == ("recursive-alias", Span("s.yaml", 1, 7))


def test_an_alias_bomb_is_refused_before_any_value_is_built(monkeypatch):
    def build(*args, **kwargs):
        raise AssertionError("a value was built")

    monkeypatch.setattr(yaml_source._Builder, "build", build)
    lines = ["a0: &a0 x"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    assert refusal("\n".join(lines) + "\n").code == "too-large"


def test_a_huge_document_is_refused_while_it_is_read_not_after(monkeypatch):
    monkeypatch.setattr(yaml_source, "MAX_VALUES", 100)
    items = [f"v{i}" for i in range(1000)]
    text = "input: [" + ", ".join(items) + "]\n"
    diagnostic = refusal(text)
    assert diagnostic.code == "too-large"
    # Refused at the value that passed the limit: the rest of the file was never composed.
    assert diagnostic.span.col < text.index(items[200])


def test_aliases_chained_past_the_depth_limit_are_refused():
    lines = ["a0: &a0 x"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 2 * MAX_DEPTH)]
    assert refusal("\n".join(lines) + "\n").code == "too-deep"


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_deep_flow_nesting_is_refused_where_it_passes_the_limit(opener):
    prefix = "input: "
    diagnostic = refusal(prefix + opener * 100_000)
    assert diagnostic.code == "too-deep"
    assert diagnostic.span.line == 1
    assert len(prefix) + len(opener) * (MAX_DEPTH // 2) < diagnostic.span.col <= len(prefix) + len(opener) * (MAX_DEPTH + 1)


def test_deep_block_nesting_is_refused_without_a_recursion_error():
    text = "".join(" " * depth + "- \n" for depth in range(4 * MAX_DEPTH))
    assert refusal(text).code == "too-deep"


def test_merge_keys_and_non_text_keys_are_refused():
    assert refusal("base: &b {x: 1}\nlayer: {<<: *b}\n").code == "yaml-merge"
    diagnostic = refusal("name: a\n3: b\n")
    assert (diagnostic.code, diagnostic.span, diagnostic.message) == ("wrong-type", Span("s.yaml", 2, 1), "keys must be names, got 3")


def test_the_top_level_must_be_a_mapping():
    assert refusal("- a\n- b\n").code == "wrong-type"


@pytest.mark.parametrize(
    ("text", "span", "message"),
    [
        ("layer: {conv: {out: 8 kernel: 3}}\n", (1, 29), "YAML syntax: expected ',' or '}' before ':'; is a ',' missing?"),
        ("input: [3, 8, 8}\n", (1, 16), "YAML syntax: '}' closes a '['; expected ']'"),
        ("name: a\ninput: [3, 8\n", (2, 8), "YAML syntax: this '[' is not closed before the end of the file"),
        ("name: a\ninput: [3, 8,\n", (3, 1), "YAML syntax: the file ends where a value should be; is a bracket not closed?"),
        ("name: a\n\tinput: 1\n", (2, 1), "YAML syntax: a tab character; YAML is indented with spaces only"),
        ("name: 'a\ninput: 1\n", (1, 7), "YAML syntax: this quoted text is not closed before the end of the file"),
        ("name: *a\n", (1, 7), "YAML syntax: alias '*a' refers to no anchor '&a' written before it"),
        ("name: a\n---\ninput: 1\n", (2, 1), "YAML syntax: a spec is one YAML document, but a second one starts here"),
        ("name: a\nlayers\ninput: 1\n", (2, 1), "YAML syntax: this key has no ':' after it; write it as 'key: value'"),
    ],
)
def test_syntax_errors_name_the_mistake_where_it_is(text, span, message):
    diagnostic = refusal(text)
    assert (diagnostic.code, (diagnostic.span.line, diagnostic.span.col), diagnostic.message) == ("yaml-syntax", span, message)
    assert "<" not in diagnostic.render()


# Every line break YAML counts, so that a file saved with old Mac or Windows line ends, or with
# Unicode line separators, is located on the line the editor shows.
LINE_BREAKS = ["\n", "\r\n", "\r", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("newline", LINE_BREAKS, ids=ascii)
def test_a_control_character_is_located(newline):
    diagnostic = refusal(f"name: a{newline}input: b\x07{newline}")
    assert (diagnostic.code, diagnostic.span) == ("yaml-syntax", Span("s.yaml", 2, 9))
    assert "U+0007" in diagnostic.message


@pytest.mark.parametrize("newline", LINE_BREAKS, ids=ascii)
def test_a_bad_byte_is_located_by_character_not_by_byte(newline):
    with pytest.raises(SpecError) as caught:
        read_source("s.yaml", f"name: a{newline}input: ééé".encode() + b"\xff\n")
    assert caught.value.diagnostics[0].span == Span("s.yaml", 2, len("input: ééé") + 1)


def test_a_byte_order_mark_takes_no_column_before_a_bad_byte():
    with pytest.raises(SpecError) as caught:
        read_source("s.yaml", b"\xef\xbb\xbfname: \xff\n")
    assert caught.value.diagnostics[0].span == Span("s.yaml", 1, len("name: ") + 1)


def test_a_byte_order_mark_is_ignored():
    assert read_source("s.yaml", b"\xef\xbb\xbfname: a\n").text == "name: a\n"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-4", 1e-4),  # text to YAML 1.1, which wants a dot
        ("1e3", 1000.0),
        (".5", 0.5),
        ("-0", 0),
        ("08", 8),  # no octal digit: text to YAML 1.1
        ("0x20", 32),  # hexadecimal in both
        ("0o17", 15),
        ("True", True),
        ("NULL", None),
        ("2014-09-17", "2014-09-17"),
        ("'yes'", "yes"),
        ("!!str 064", "064"),
        ("!!float 3", 3.0),
    ],
)
def test_plain_values_are_read_as_yaml_1_2_reads_them(text, value):
    got = load(f"v: {text}\n")["v"]
    assert (type(got), got) == (type(value), value)


@pytest.mark.parametrize(
    ("text", "now", "then", "fix"),
    [
        ("064", "64", "52 (octal)", "write 64 (or 52) without the leading zero"),
        ("!!int 064", "64", "52 (octal)", "write 64 (or 52) without the leading zero"),
        ("1:04", "text", "64 (base 60)", "write 64, or quote it if it is text"),
        ("1_000", "text", "1000", "write 1000, or quote it if it is text"),
        ("0b101", "text", "5 (binary)", "write 5, or quote it if it is text"),
        ("yes", "text", "true", "write true, or quote it if it is text"),
        ("Off", "text", "false", "write false, or quote it if it is text"),
    ],
)
def test_values_yaml_1_1_reads_otherwise_are_refused_with_both_readings(text, now, then, fix):
    diagnostic = refusal(f"v: {text}\n")
    word = text.removeprefix("!!int ")
    assert (diagnostic.code, diagnostic.span) == ("yaml-ambiguous", Span("s.yaml", 1, 4))
    assert diagnostic.message == (
        f"{word!r} is {now} in YAML 1.2, which netgen reads, but {then} in YAML 1.1, which pyyaml and other tools read; {fix}"
    )


def test_a_key_yaml_1_1_reads_as_a_boolean_is_refused_too():
    assert refusal("layers:\n  on: {relu: }\n").span == Span("s.yaml", 2, 3)


@pytest.mark.parametrize("form", ["{key}: 1\n", "top: {{{key}: 1}}\n", '"{key}": 1\n'])
def test_a_key_over_yamls_length_limit_is_named_as_such(form):
    diagnostic = refusal("name: a\n" + form.format(key="k" * 1100))
    assert diagnostic.code == "yaml-syntax" and diagnostic.span.line == 2
    assert "characters long; YAML keys are at most 1,024" in diagnostic.message


def _composed(loader_class, text: str):
    """Every node of a document as (kind, tag, value, marks, plain, tagged), in document order; a
    node reached again through an alias is listed by the number of its first listing, so an
    alias bomb stays small."""
    loader = loader_class(text, "s.yaml", yaml_source.MAX_VALUES)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    rows, numbers, stack = [], {}, [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in numbers:
            rows.append(("alias", numbers[id(node)]))
            continue
        numbers[id(node)] = len(rows)
        value = node.value if isinstance(node.value, str) else None
        marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
        rows.append((type(node).__name__, node.tag, value, marks, getattr(node, "plain", None), getattr(node, "tagged", None)))
        children = node.value if isinstance(node.value, list) else []
        stack.extend(reversed([part for child in children for part in (child if isinstance(child, tuple) else (child,))]))
    return rows


_YAML_CORPUS = sorted(
    path
    for folder in ("specs", "specs/reference", "tests/specs/bad", "tests/specs/warn")
    for path in Path(folder).glob("*.yaml")
)


@pytest.mark.skipif(yaml_source._FastLoader is None, reason="pyyaml was built without libyaml")
@pytest.mark.parametrize("path", _YAML_CORPUS, ids=lambda path: str(path))
def test_libyaml_and_pyyaml_compose_every_document_alike(path):
    """The fast reader must give the nodes, tags, styles and positions pyyaml's own gives; a
    document either refuses is read by pyyaml's alone."""
    data = path.read_bytes()
    try:
        text = read_source(str(path), data).text
        expected = _composed(yaml_source._Loader, text)
    except (SpecError, yaml.YAMLError):
        pytest.skip("pyyaml refuses it; only pyyaml's reader runs")
    try:
        fast = _composed(yaml_source._FastLoader, text)
    except (SpecError, yaml.YAMLError):
        # Refused by libyaml alone: read again by pyyaml's reader, as load_yaml does. The shipped
        # specs and tables must take the fast path, or it would not be worth having.
        assert path.parts[0] != "specs", f"libyaml's reader refuses {path}"
        return
    assert fast == expected


def test_text_libyaml_refuses_is_read_by_pyyaml_with_its_located_message():
    # A key longer than 1,024 characters: both parsers refuse it; the message is pyyaml's, located.
    diagnostic = refusal(f"{'k' * 1100}: 1\n")
    assert diagnostic.code == "yaml-syntax" and "1,024" in diagnostic.message
