"""The project's one Jinja environment: every generated source file is rendered from templates/.

Templates see only values the backends prepared: identifiers from the layout, numbers from the
IR. Anything else that reaches a template goes through a filter here: `py` writes a literal with
repr(), `doc` makes free text safe inside a docstring.
"""

from __future__ import annotations

import ast
import math
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

from netgen.printable import escape_char

# A wheel carries the repository's top-level templates/ inside the package (see pyproject.toml).
PACKAGED_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SOURCE_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def template_root() -> Path:
    return PACKAGED_TEMPLATES if PACKAGED_TEMPLATES.is_dir() else SOURCE_TEMPLATES


def py(value: object) -> str:
    """A Python literal for a number, string, bool, None, or a tuple or dict of them."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(key)}: {py(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = [py(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} has no Python literal")  # repr would write a bare name: inf, nan
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(getattr(value, "code", None), str):
        return value.code  # an expression of the generated code's own names (netgen.ops.expr)
    raise TypeError(f"no Python literal for {type(value).__name__}")


def number(value: int) -> str:
    """An integer with digit groups, as a careful human writes a large constant: 6_998_552."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an int, got {type(value).__name__}")
    return f"{value:_}"


def pair(value: tuple[int, int]) -> str:
    """A kernel, stride or padding as PyTorch takes it: one number when both sides agree."""
    first, second = value
    return py(first) if first == second else py((first, second))


def doc(text: str) -> str:
    """Free text made safe inside a triple-quoted docstring, and checked to read back unchanged."""
    out = []
    quotes = 0  # quotes written in a row, unescaped
    for index, ch in enumerate(text):
        if ch == '"':
            # A third quote in a row would close the docstring, and so would a last one before the closing quotes.
            escape = quotes == 2 or index == len(text) - 1
            out.append('\\"' if escape else ch)
            quotes = 0 if escape else quotes + 1
            continue
        quotes = 0
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable() or ch == "\n":
            out.append(ch)
        else:
            out.append(escape_char(ch))
    escaped = "".join(out)
    if ast.literal_eval(f'"""{escaped}"""') != text:
        raise ValueError(f"cannot write {text!r} into a docstring")
    return escaped


@cache
def environment() -> jinja2.Environment:
    import jinja2  # here, not at the top: `netgen check` plans the module without rendering it

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_root())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(py=py, number=number, pair=pair, doc=doc)
    return env


def render(template: str, **context: object) -> str:
    """Render templates/<template> with `context`; an undefined name is an error, never ''."""
    return environment().get_template(template).render(**context)
