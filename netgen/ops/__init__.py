"""Every op netgen knows, each declared once: what a spec writes, what the IR holds, and how each
stage reads it (netgen.ops.base says what a declaration holds). The spec's schema, the passes,
the backends, the diagram and the summary all dispatch through these tables; adding an op is a
module here (or a few lines in one) and its tests.

The order of declaration is the order the JSON Schema and the documentation list them in.
"""

from __future__ import annotations

from netgen.ops import activation, conv, linear, merge, norm, pool, scale, shuffle, tensor
from netgen.ops.base import Op, SpecOp

_FAMILIES = (conv, pool, norm, scale, activation, tensor, shuffle, linear, merge)

OPS: dict[str, Op] = {op.kind: op for family in _FAMILIES for op in family.OPS}
SPEC_OPS: dict[str, SpecOp] = {op.name: op for family in _FAMILIES for op in family.SPEC_OPS}
ACTIVATION_NAMES = activation.ACTIVATION_NAMES
