"""Plain values read by YAML 1.2's core schema, refusing those YAML 1.1 reads otherwise.

pyyaml resolves plain values by YAML 1.1: `064` is octal 52, `1:04` is 64 in base 60, `1_000`
is 1000, `yes` and `off` are booleans, and `1e-4` is text. YAML 1.2's core schema reads `064`
as 64, `1e-4` as a number and only true and false as booleans. netgen reads YAML 1.2; a plain
value that a YAML 1.1 reader (pyyaml, and the tools built on it) would read as another number or
boolean is refused with both meanings, since the same file would mean two networks.
"""

from __future__ import annotations

import math
import re

import yaml

STR, INT, FLOAT, BOOL, NULL = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null"))

# YAML 1.2.2, section 10.3.2: how the core schema resolves a plain value, in this order.
_CORE_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_CORE_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_CORE_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_CORE_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")

# In pyyaml's form: (tag, regexp) pairs, all under the key for "a value starting with anything".
# YAML 1.1's merge key `<<` is no part of the core schema; it is resolved to be refused by name.
CORE_RESOLVERS = {
    None: [
        ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$")),
        (NULL, _CORE_NULL),
        (BOOL, re.compile("^(?:" + "|".join(_CORE_BOOL) + ")$")),
        (INT, _CORE_INT),
        (FLOAT, _CORE_FLOAT),
    ]
}
_YAML11_RESOLVERS = yaml.SafeLoader.yaml_implicit_resolvers


def core_value(tag: str, text: str):
    """The value of a scalar of a plain-data tag, as the core schema constructs it; ValueError if the
    text is not one (`!!int 1.5`, `!!bool yes`)."""
    if tag == STR:
        return text
    if tag == NULL and _CORE_NULL.match(text):
        return None
    if tag == BOOL and text in _CORE_BOOL:
        return _CORE_BOOL[text]
    if tag == INT and _CORE_INT.match(text):
        return int(text[2:], 8) if text.startswith("0o") else int(text[2:], 16) if text.startswith("0x") else int(text)
    if tag == FLOAT and (_CORE_FLOAT.match(text) or _CORE_INT.match(text) and text[:2] not in ("0o", "0x")):
        lowered = text.lower()
        if lowered.endswith(".inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        return math.nan if lowered == ".nan" else float(text)
    raise ValueError(f"{text!r} is not a {tag.rsplit(':', 1)[-1]}")


def yaml11_conflict(node: yaml.ScalarNode, value, constructor: yaml.constructor.SafeConstructor) -> str | None:
    """Why a scalar the core schema reads as `value` is refused: YAML 1.1 reads it as another number or
    boolean. None when both agree, or when 1.1 reads it as text (`1e-4`). `node.tagged` and
    `node.plain` say how it was written: with an explicit tag, or unquoted."""
    text = node.value
    tag = node.tag if node.tagged else _yaml11_tag(text) if node.plain else STR
    if tag not in (INT, FLOAT, BOOL):
        return None
    try:
        old = constructor.construct_object(yaml.ScalarNode(tag, text))
    except ValueError:  # `0b_` matches 1.1's pattern for binary but has no digits
        return None
    if type(old) is type(value) and (old == value or isinstance(old, float) and math.isnan(old) and math.isnan(value)):
        return None
    why = _why(text, tag)
    if isinstance(value, str):
        now, fix = "text", f"write {_show(old)}, or quote it if it is text"
    elif why == " (octal)":
        now, fix = _show(value), f"write {_show(value)} (or {_show(old)}) without the leading zero"
    else:
        now, fix = _show(value), f"write {_show(value)} or {_show(old)}"
    return (
        f"{text!r} is {now} in YAML 1.2, which netgen reads, but {_show(old)}{why} in YAML 1.1, "
        f"which pyyaml and other tools read; {fix}"
    )


def _yaml11_tag(text: str) -> str:
    for tag, regexp in _YAML11_RESOLVERS.get(text[:1], []) + _YAML11_RESOLVERS.get(None, []):
        if regexp.match(text):
            return tag
    return STR


def _why(text: str, tag: str) -> str:
    digits = text.lstrip("+-")
    if ":" in text:
        return " (base 60)"
    if tag == INT and digits.startswith("0b"):
        return " (binary)"
    if tag == INT and digits.startswith("0") and digits[1:2].isdigit():
        return " (octal)"
    return ""


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
