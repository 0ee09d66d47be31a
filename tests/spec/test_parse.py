"""Spec parsing diagnostics that the CLI cases in tests/specs/bad/ do not pin down."""

from __future__ import annotations

import textwrap

import pytest

from netgen.diagnostics import Span, SpecError
from netgen.spec.parse import parse_spec
from netgen.spec.schema import ConvArgs


def refusals(text: str):
    with pytest.raises(SpecError) as caught:
        parse_spec("s.yaml", textwrap.dedent(text).encode())
    return caught.value.diagnostics


def test_a_bad_default_is_reported_once_at_the_default():
    (diagnostic,) = refusals(
        """\
        name: Net
        input: [3, 8, 8]
        defaults:
          conv: {act: rleu}
        layers:
          a: {conv: {out: 4, kernel: 1}}
          b: {conv: {out: 4, kernel: 1}}
        """
    )
    assert (diagnostic.code, diagnostic.span) == ("bad-value", Span("s.yaml", 4, 15))
    assert diagnostic.message.endswith("got 'rleu'; did you mean 'relu'?")


def test_an_error_inside_a_nested_mapping_is_located_at_the_value():
    (diagnostic,) = refusals(
        """\
        name: Net
        input: [3, 8, 8]
        layers:
          a: {conv: {out: 4, kernel: 1, bn: {eps: -1}}}
        """
    )
    assert diagnostic.code == "bad-value"
    assert diagnostic.span == Span("s.yaml", 4, 43)
    assert diagnostic.message == "a: conv: bn: 'eps' must be a number > 0 that float32 holds (1.2e-38 to 3.4e38), got -1"


def test_an_unknown_key_without_a_close_match_lists_the_valid_ones():
    (diagnostic,) = refusals(
        """\
        name: Net
        input: [3, 8, 8]
        layers:
          a: {conv: {out: 4, kernel: 1, zzz: 1}}
        """
    )
    assert diagnostic.code == "unknown-key"
    assert diagnostic.message.endswith(f"expected one of: {', '.join(ConvArgs.model_fields)}")


def test_a_misspelt_required_key_is_reported_once_as_unknown():
    diagnostics = refusals(
        """\
        name: Net
        input: [3, 8, 8]
        layers:
          a: {conv: {out: 4, kernal: 1}}
        """
    )
    assert [d.code for d in diagnostics] == ["unknown-key"]


def test_an_empty_layers_mapping_is_reported():
    (diagnostic,) = refusals(
        """\
        name: Net
        input: [3, 8, 8]
        layers: {}
        """
    )
    assert (diagnostic.code, diagnostic.span) == ("no-layers", Span("s.yaml", 3, 9))
