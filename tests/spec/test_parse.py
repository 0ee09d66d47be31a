"""Spec parsing diagnostics that the CLI cases in tests/specs/bad/ do not pin down."""

from __future__ import annotations

import textwrap

import pytest

from netgen.diagnostics import Span, SpecError
from netgen.spec.parse import literal_choices, parse_spec
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


def test_every_field_of_fixed_choices_lists_them_all_in_what_a_refusal_quotes():
    """A refused value of a field with fixed choices is answered with the field's description,
    so each description must name every choice."""
    from netgen.spec import schema

    models = [value for value in vars(schema).values() if isinstance(value, type) and issubclass(value, schema.Strict)]
    checked = 0
    for model in models:
        for name, info in model.model_fields.items():
            choices = literal_choices(info.annotation)
            if choices:
                checked += 1
                assert all(choice in (info.description or "") for choice in choices), (model.__name__, name, info.description)
    assert checked >= 5


@pytest.mark.parametrize(
    ("text", "choices"),
    [
        ("layers:\n  c: {conv: {out: 4, kernel: 1, act: gelu}}\n", ["'relu'", "'none'"]),
        ("layers:\n  c: {conv: {out: 4, kernel: 1, pad: full}}\n", ["'same'", "'valid'"]),
        ("defaults:\n  linear: {act: tanh}\nlayers:\n  c: {conv: {out: 4, kernel: 1}}\n", ["'relu'", "'none'"]),
        ("init: {weight: kaiming}\nlayers:\n  c: {conv: {out: 4, kernel: 1}}\n", ["xavier_uniform", "trunc_normal", "torch_default"]),
        (
            "blocks:\n  b:\n    params: [s: int]\n    layers:\n      c: {conv: {out: 4, kernel: 1}}\nlayers:\n  c: {b: [1]}\n",
            ["channels", "float", "activation"],
        ),
        (
            "blocks:\n  b:\n    params: [a: activation]\n    residual: {act: gelu}\n    layers:\n      c: {conv: {out: 3, kernel: 1}}\nlayers:\n  c: {b: [relu]}\n",
            ["relu", "none", "an activation parameter (a)"],
        ),
    ],
)
def test_a_refused_choice_is_answered_with_every_allowed_one(text, choices):
    diagnostics = refusals("name: Net\ninput: [3, 8, 8]\n" + text)
    assert any(all(choice in d.message for choice in choices) for d in diagnostics), [d.message for d in diagnostics]


def test_an_activation_argument_netgen_lacks_is_answered_with_the_ones_it_has(diagnostics_of):
    (message,) = diagnostics_of(
        """\
        name: Net
        input: [3, 8, 8]
        blocks:
          b:
            params: [a: activation]
            residual: {act: a}
            layers:
              c: {conv: {out: 3, kernel: 1}}
        layers:
          c: {b: [gelu]}
        """
    )
    assert message == "net.yaml:10:11: error: c: argument 1 of 'b' (a) is an activation: relu or none, got 'gelu'; did you mean 'relu'? [bad-value]"


def test_an_unknown_op_without_a_close_match_lists_the_ops_and_blocks():
    (diagnostic,) = refusals("name: Net\ninput: [3, 8, 8]\nlayers:\n  c: {swish: }\n")
    assert diagnostic.message.startswith("c: unknown op or block 'swish'; expected one of conv, maxpool, avgpool,")
