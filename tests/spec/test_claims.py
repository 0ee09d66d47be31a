"""How a claim is read: each form comes down to the whole numbers (or the size) it allows."""

from __future__ import annotations

import pytest

from netgen.diagnostics import Span
from netgen.spec.claims import parse_count_claim, parse_size_claim

AT = Span("net.yaml", 5, 11)


@pytest.mark.parametrize(
    ("written", "low", "high"),
    [
        (6998552, 6998552, 6998552),
        ("6,998,552", 6998552, 6998552),
        ("6_998_552", 6998552, 6998552),
        ("= 22", 22, 22),
        ("≈ 7M ± 5%", 6_650_000, 7_350_000),
        ("~7M +- 5%", 6_650_000, 7_350_000),
        ("about 7M +/- 0.2M", 6_800_000, 7_200_000),
        ("≈ 7M", 6_500_000, 7_500_000),  # half a unit of the last digit written, as a table reads it
        ("≈ 6.99M", 6_985_000, 6_995_000),
        ("≈ 1.5G ± 10%", 1_350_000_000, 1_650_000_000),
        ("≈ 2.7Ki", 2714, 2816),  # 2.65 x 1024 = 2713.6 up to 2.75 x 1024 = 2816
        ("≤ 1.6G", None, 1_600_000_000),
        ("<= 1.6G", None, 1_600_000_000),
        ("< 1.5G", None, 1_499_999_999),
        ("≥ 20", 20, None),
        (">= 20", 20, None),
        ("> 20", 21, None),
        ("< 2.5K", None, 2499),
        ("> 2.5", 3, None),
    ],
)
def test_a_count_claim_allows_the_whole_numbers_it_says(written, low, high):
    claim = parse_count_claim("params", written, AT)
    assert (claim.low, claim.high) == (low, high)
    assert claim.span == AT
    inside = low if low is not None else high
    assert claim.holds(inside)
    if low is not None:
        assert not claim.holds(low - 1)
    if high is not None:
        assert not claim.holds(high + 1)


def test_what_a_claim_allows_is_said_in_exact_counts():
    assert parse_count_claim("params", "≈ 7M ± 5%", AT).allows() == "6,650,000 to 7,350,000"
    assert parse_count_claim("macs", "≤ 1.6G", AT).allows() == "at most 1,600,000,000"
    assert parse_count_claim("depth", ">= 20", AT).allows() == "at least 20"
    assert parse_count_claim("depth", 22, AT).allows() == "exactly 22"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "7M",
            "'7M' is a rounded number; write '≈ 7M' for within half a unit of its last digit (6,500,000 to 7,500,000), or the exact count",
        ),
        ("6.5", "'6.5' is not a whole number; counts are whole numbers, so write a whole number, or text such as"),
        ("about a million", "'about a million' is not a claim"),
        ("≈ 3 ± 150%", "'≈ 3 ± 150%': the tolerance must be more than 0% and at most 100%"),
        (2.5, "must be a whole number, or text such as '≈ 7M ± 5%', '≈ 7M', '≤ 1.6G' or '>= 20', got 2.5"),
        (True, "got true"),
        (-3, "must be 0 or more"),
        ("7 M ±", "is not a claim"),
    ],
)
def test_a_claim_that_reads_two_ways_or_none_is_refused(written, message):
    with pytest.raises(ValueError) as refused:
        parse_count_claim("params", written, AT)
    assert message in str(refused.value)


def test_a_size_is_hxwxc_as_printed_or_a_list_in_the_inputs_order():
    assert parse_size_claim(None, "1x1x1000", AT).chw == (1000, 1, 1)
    assert parse_size_claim("conv1", "112×112×64", AT).chw == (64, 112, 112)
    assert parse_size_claim("conv1", [64, 112, 112], AT).chw == (64, 112, 112)
    assert str(parse_size_claim(None, [10, 1, 1], AT)) == "1x1x10"
    for bad in ("32x32", "1x1x0", 10, [1, 2], "big"):
        with pytest.raises(ValueError, match="must be an output size HxWxC"):
            parse_size_claim(None, bad, AT)
