"""A spec's `claims:`, the targets a design states for itself where no paper states them.

A count claim (params, multiply-adds, depth) is written as

    6998552            exactly (also `6,998,552`, `6_998_552` or `= 6998552`)
    ≈ 7M ± 5%          within 5% of 7,000,000 (`~` or `about` for ≈, `+-` for ±)
    ≈ 7M ± 0.2M        within 200,000 of it
    ≈ 7M               within half a unit of the last digit written: 6.5M to 7.5M
    ≤ 1.6G             at most (`<=`); also `<`, `≥` (`>=`) and `>`

with K = 10^3, M = 10^6, G = 10^9 (Ki, Mi and Gi for powers of 1,024). Counts are whole numbers,
so every claim comes down to the whole numbers it allows: `< 1.5G` allows at most 1,499,999,999.

A size claim is an output size, HxWxC as sizes are printed (`1x1x1000`), or [C, H, W] as the
spec's `input` is written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from netgen.diagnostics import Span

UNITS = {"": 1, "K": 10**3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
COUNT_FORMS = "a whole number, or text such as '≈ 7M ± 5%', '≈ 7M', '≤ 1.6G' or '>= 20'"
SIZE_FORMS = "an output size HxWxC such as 1x1x1000, or [C, H, W]"

_NUMBER = r"\d+(?:[,_]\d{3})*(?:\.\d+)?"
_QUANTITY = rf"({_NUMBER})\s*(Ki|Mi|Gi|[kKMGT])?"
_APPROX = re.compile(rf"^(?:≈|~|about\s)\s*{_QUANTITY}(?:\s*(?:±|\+-|\+/-)\s*(?:({_NUMBER})\s*%|{_QUANTITY}))?$")
_BOUND = re.compile(rf"^(≤|<=|<|≥|>=|>)\s*{_QUANTITY}$")
_EXACT = re.compile(rf"^(?:==?\s*)?{_QUANTITY}$")
_SIZE = re.compile(r"^(\d+)\s*[x×]\s*(\d+)\s*[x×]\s*(\d+)$")


@dataclass(frozen=True)
class CountClaim:
    """`key` is params, params_with_heads, macs, macs_with_heads, depth or depth_with_pooling; the
    claim allows the whole numbers from `low` to `high` (None: no bound on that side)."""

    key: str
    text: str
    low: int | None
    high: int | None
    span: Span
    centre: Fraction | None = None  # an `≈` claim's value, to say how far a count is from it

    def holds(self, value: int) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def allows(self) -> str:
        """'6,650,000 to 7,350,000', 'at most 1,600,000,000', 'exactly 22'."""
        if self.low is not None and self.low == self.high:
            return f"exactly {self.low:,}"
        if self.low is not None and self.high is not None:
            return f"{self.low:,} to {self.high:,}" if self.low < self.high else "no whole number"
        return f"at most {self.high:,}" if self.high is not None else f"at least {self.low:,}"


@dataclass(frozen=True)
class SizeClaim:
    """The output size of the network (`layer` None) or of a named layer, in (C, H, W) order."""

    layer: str | None
    chw: tuple[int, int, int]
    text: str
    span: Span
    name_span: Span | None = None

    def __str__(self) -> str:
        c, h, w = self.chw
        return f"{h}x{w}x{c}"


Claim = CountClaim | SizeClaim


def parse_count_claim(key: str, value: object, span: Span) -> CountClaim:
    """A count claim as written; ValueError says what is wrong with it."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        shown = (
            "true"
            if value is True
            else "false"
            if value is False
            else "a list"
            if isinstance(value, list)
            else "a mapping"
            if isinstance(value, dict)
            else repr(value)
        )
        raise ValueError(f"must be {COUNT_FORMS}, got {shown}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be 0 or more")
        return CountClaim(key, str(value), value, value, span)
    text = " ".join(value.split())
    if match := _EXACT.match(text):
        number, unit = match.groups()
        if not unit and "." in number:
            raise ValueError(f"{text!r} is not a whole number; counts are whole numbers, so write {COUNT_FORMS}")
        if unit:
            raise ValueError(
                f"{text!r} is a rounded number; write '≈ {text}' for within half a unit of its last digit "
                f"({_range(*_around(number, unit, None, None, None))}), or the exact count"
            )
        exact = int(_digits(number))
        return CountClaim(key, text, exact, exact, span)
    if match := _APPROX.match(text):
        number, unit, percent, plus, plus_unit = match.groups()
        low, high, centre = _around(number, unit, percent, plus, plus_unit)
        if percent is not None and not 0 < Fraction(Decimal(_digits(percent))) <= 100:
            raise ValueError(f"{text!r}: the tolerance must be more than 0% and at most 100%")
        return CountClaim(key, text, max(0, math.ceil(low)), math.floor(high), span, centre)
    if match := _BOUND.match(text):
        sign, number, unit = match.groups()
        bound = _quantity(number, unit)
        if sign in ("≤", "<="):
            return CountClaim(key, text, None, math.floor(bound), span)
        if sign == "<":
            return CountClaim(key, text, None, math.ceil(bound) - 1, span)
        if sign in ("≥", ">="):
            return CountClaim(key, text, math.ceil(bound), None, span)
        return CountClaim(key, text, math.floor(bound) + 1, None, span)
    raise ValueError(f"{value!r} is not a claim; write {COUNT_FORMS} (K = 10^3, M = 10^6, G = 10^9)")


def parse_size_claim(layer: str | None, value: object, span: Span, name_span: Span | None = None) -> SizeClaim:
    """A size claim as written: 'HxWxC' or [C, H, W]; ValueError says what is wrong with it."""
    if isinstance(value, str) and (match := _SIZE.match(value.strip())):
        h, w, c = (int(part) for part in match.groups())
        chw, text = (c, h, w), value.strip()
    elif (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        chw, text = (value[0], value[1], value[2]), str(list(value))
    else:
        shown = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else repr(value)
        raise ValueError(f"must be {SIZE_FORMS}, got {shown}")
    if min(chw) < 1:
        raise ValueError(f"must be {SIZE_FORMS}, each at least 1")
    return SizeClaim(layer, chw, text, span, name_span)


def _digits(number: str) -> str:
    return number.replace(",", "").replace("_", "")


def _quantity(number: str, unit: str | None) -> Fraction:
    return Fraction(Decimal(_digits(number))) * UNITS[unit or ""]


def _around(number: str, unit: str | None, percent: str | None, plus: str | None, plus_unit: str | None):
    """(low, high, centre) of an `≈` claim: a tolerance as written, or half a unit of the last digit."""
    centre = _quantity(number, unit)
    if percent is not None:
        spread = centre * Fraction(Decimal(_digits(percent))) / 100
    elif plus is not None:
        spread = _quantity(plus, plus_unit)
    else:
        decimals = len(_digits(number).partition(".")[2])
        spread = Fraction(1, 10**decimals) * UNITS[unit or ""] / 2
    return centre - spread, centre + spread, centre


def _range(low: Fraction, high: Fraction, _centre: Fraction) -> str:
    return f"{max(0, math.ceil(low)):,} to {math.floor(high):,}"
