"""Integer expressions of block parameters, as a spec writes them (`in - 3 * gc`, `in // 16`) and as
generated code computes them (`in_channels - gc * 3`).

An expression is a constant plus whole multiples of atoms; an atom is a name or an expression
divided (rounding down) by another (`channels // reduction`), which must come out positive. `in` names the channels of the tensor an op
reads. Numbers in an expression are plain integers: the width multiplier scales a channel count
written as a lone number, not the factors and terms of an expression.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Union

IN = "in"  # the channels of the tensor the op reads


@dataclass(frozen=True)
class Quotient:
    """numerator // divisor; the divisor a positive number or an expression of parameters."""

    numerator: Expr
    divisor: int | Expr

    @property
    def code(self) -> str:
        inner, divisor = _operand(self.numerator), self.divisor
        return f"{inner} // {divisor if isinstance(divisor, int) else _operand(divisor)}"

    def divisor_value(self, env: dict[str, int]) -> int:
        value = self.divisor if isinstance(self.divisor, int) else self.divisor.value(env)
        if value <= 0:
            raise ExprError(f"it divides by {value}")
        return value


def _operand(expr: Expr) -> str:
    """An expression as one operand of `//`: parenthesised unless it is a name or a number."""
    return f"({expr.code})" if len(expr.parts) > 1 or expr.factor > 1 or expr.parts[0][1] < 0 else expr.code


Atom = Union[str, Quotient]  # noqa: UP007 - a forward reference


@dataclass(frozen=True)
class Expr:
    """const + sum(k * atom), kept with its terms in the order they were written."""

    form: ClassVar[str] = "channels"  # how a generated call writes it (templates/pytorch/macros.j2)
    terms: tuple[tuple[Atom, int], ...] = ()
    const: int = 0

    def __eq__(self, other) -> bool:
        # A constant expression is its number: `groups=1` is PyTorch's default however it was computed.
        if isinstance(other, int):
            return not self.terms and self.const == other
        return isinstance(other, Expr) and (self.terms, self.const) == (other.terms, other.const)

    def __hash__(self) -> int:
        return hash(self.const) if not self.terms else hash((self.terms, self.const))

    @staticmethod
    def of(name: str) -> Expr:
        return Expr(((name, 1),))

    @staticmethod
    def lift(value: int | Expr) -> Expr:
        return value if isinstance(value, Expr) else Expr(const=value)

    def __add__(self, other: int | Expr) -> Expr:
        other = Expr.lift(other)
        merged = dict(self.terms)
        for atom, k in other.terms:
            merged[atom] = merged.get(atom, 0) + k
        return Expr(tuple((atom, k) for atom, k in merged.items() if k), self.const + other.const)

    __radd__ = __add__

    def __neg__(self) -> Expr:
        return self * -1

    def __sub__(self, other: int | Expr) -> Expr:
        return self + -Expr.lift(other)

    def __rsub__(self, other: int) -> Expr:
        return Expr.lift(other) - self

    def __mul__(self, factor: int) -> Expr:
        if factor == 0:
            return Expr()
        return Expr(tuple((atom, k * factor) for atom, k in self.terms), self.const * factor)

    __rmul__ = __mul__

    def __floordiv__(self, divisor: int | Expr) -> Expr:
        if isinstance(divisor, Expr) and divisor.constant is not None:
            divisor = divisor.constant
        if isinstance(divisor, int) and divisor <= 0:
            raise ExprError(f"it divides by {divisor}")
        if not self.terms and isinstance(divisor, int):
            return Expr(const=self.const // divisor)
        if divisor == 1:
            return self
        return Expr(((Quotient(self, divisor), 1),))

    @property
    def constant(self) -> int | None:
        """Its value when it names nothing."""
        return None if self.terms else self.const

    def substitute(self, values: dict[str, int | Expr]) -> Expr:
        """Names replaced by values (numbers or expressions); names not given stay."""
        out = Expr(const=self.const)
        for atom, k in self.terms:
            if isinstance(atom, Quotient):
                divisor = atom.divisor if isinstance(atom.divisor, int) else atom.divisor.substitute(values)
                out = out + atom.numerator.substitute(values) // divisor * k
            elif atom in values:
                out = out + Expr.lift(values[atom]) * k
            else:
                out = out + Expr.of(atom) * k
        return out

    def value(self, env: dict[str, int]) -> int:
        total = self.const
        for atom, k in self.terms:
            total += k * (atom.numerator.value(env) // atom.divisor_value(env) if isinstance(atom, Quotient) else env[atom])
        return total

    def names(self) -> set[str]:
        out: set[str] = set()
        for atom, _ in self.terms:
            if isinstance(atom, Quotient):
                out |= atom.numerator.names() | (set() if isinstance(atom.divisor, int) else atom.divisor.names())
            else:
                out.add(atom)
        return out

    def mentions(self, name: str) -> bool:
        return name in self.names()

    # -- as generated code writes it: 192, n1x1 + n3x3 + pool_proj, (a + b) * 16, in_channels - gc * 3

    @property
    def factor(self) -> int:
        """A factor common to several parts, written once: (a + b) * 16 rather than a * 16 + b * 16."""
        numbers = [k for _, k in self.terms] + ([self.const] if self.const else [])
        return math.gcd(*numbers) if len(numbers) > 1 else 1

    @property
    def parts(self) -> list[tuple[str | None, int]]:
        """(atom as code, coefficient) after taking out `factor`; None names the constant."""
        factor = self.factor
        parts: list[tuple[str | None, int]] = [
            (atom.code if isinstance(atom, Quotient) else atom, k // factor) for atom, k in self.terms
        ]
        if self.const or not parts:
            parts.append((None, self.const // factor))
        return parts

    @property
    def code(self) -> str:
        text = ""
        for index, (atom, k) in enumerate(self.parts):
            magnitude = abs(k)
            part = str(magnitude) if atom is None else atom if magnitude == 1 else f"{atom} * {magnitude}"
            if index == 0:
                text = f"-{part}" if k < 0 else part
            else:
                text += f" - {part}" if k < 0 else f" + {part}"
        return f"({text}) * {self.factor}" if self.factor > 1 else text


# -- reading an expression ------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*()]))")


class ExprError(ValueError):
    pass


@lru_cache(maxsize=4096)
def parse_expr(text: str) -> Expr:
    """`in - 3 * gc` read as an expression, or ExprError saying what is wrong with it."""
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ExprError(f"unexpected {text[position:].strip()[:1]!r}")
        number, name, symbol = match.groups()
        tokens.append(int(number) if number is not None else ("name", name) if name is not None else symbol)
        position = match.end()
    reader = _Reader(tokens)
    expr = reader.sum()
    if reader.index != len(tokens):
        raise ExprError(f"unexpected {_show(tokens[reader.index])}")
    return expr


def _show(token) -> str:
    return repr(token[1]) if isinstance(token, tuple) else repr(str(token))


class _Reader:
    def __init__(self, tokens: list):
        self.tokens, self.index = tokens, 0

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self):
        token = self.peek()
        if token is None:
            raise ExprError("it ends too soon")
        self.index += 1
        return token

    def sum(self) -> Expr:
        out = self.product()
        while self.peek() in ("+", "-"):
            sign = self.take()
            out = out + self.product() if sign == "+" else out - self.product()
        return out

    def product(self) -> Expr:
        out = self.factor()
        while self.peek() in ("*", "//"):
            operator = self.take()
            right = self.factor()
            if operator == "*":
                if out.constant is not None:
                    out = right * out.constant
                elif right.constant is not None:
                    out = out * right.constant
                else:
                    raise ExprError("a product needs a number on one side")
            else:
                out = out // right
        return out

    def factor(self) -> Expr:
        token = self.take()
        if token == "-":
            return -self.factor()
        if token == "(":
            inner = self.sum()
            if self.take() != ")":
                raise ExprError("a '(' is not closed")
            return inner
        if isinstance(token, int):
            return Expr(const=token)
        if isinstance(token, tuple):
            return Expr.of(token[1])
        raise ExprError(f"unexpected {_show(token)}")
