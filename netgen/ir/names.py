"""The one namespace that turns spec names into Python identifiers for generated code.

Spec names are already checked to be ASCII identifiers; here they are kept clear of Python
keywords, of names the generated code itself uses, and of `nn.Module`'s own attributes, and
de-duplicated. Two spec names that would become the same identifier are an error, reported
with both names.
"""

from __future__ import annotations

import builtins
import keyword
import re

from netgen.diagnostics import Span, SpecError, error, note

# Public and private attributes of torch.nn.Module that a submodule must not shadow
# (tests/ir/test_names.py checks this list against the installed torch).
MODULE_ATTRIBUTES = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
    named_parameters parameters register_backward_hook register_buffer register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
    set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu
    zero_grad""".split()
)
# Names the generated file binds at module level or in every forward().
GENERATED_NAMES = frozenset({"torch", "nn", "F", "self", "x", "in_channels", "num_classes", "aux_logits", "outputs"})
# Names the generated file binds at module level, besides its classes.
MODULE_NAMES = frozenset(
    {"math", "OrderedDict", "NamedTuple", "PARAMS", "PARAMS_WITH_HEADS", "MACS", "INPUT_SIZE", "LOSS_WEIGHTS", "training_loss"}
    # with --optimize
    | {"copy", "operator", "FUSED_1X1", "for_inference", "from_plain"}
)
# Methods and attributes the generated network class defines besides its layers.
NETWORK_MEMBERS = frozenset({"predict", "transform_input", "aux_logits"})

# A block parameter is a local of the generated __init__, which calls super(): a parameter
# named like a builtin would hide it there.
PYTHON_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))

# A NamedTuple field must not hide what every tuple has (count, index).
TUPLE_ATTRIBUTES = frozenset(name for name in dir(tuple) if not name.startswith("_"))

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")


def sanitize(name: str) -> str:
    """A Python identifier for `name`. A leading underscore would clash with nn.Module's private
    attributes (`_modules`, `_parameters`, ...), so such names get a `layer` prefix."""
    ident = _NOT_IDENT.sub("_", name) or "_"
    if ident[0].isdigit() or ident[0] == "_":
        ident = "layer" + (ident if ident[0] == "_" else "_" + ident)
    if keyword.iskeyword(ident) or keyword.issoftkeyword(ident):
        ident += "_"
    return ident


def class_name(name: str) -> str:
    """inception_aux -> InceptionAux; a name already in CamelCase is kept."""
    if "_" not in name and name[:1].isupper():
        return name
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Block"


class Namespace:
    """Hands out distinct identifiers within one scope (a class body, a parameter list)."""

    def __init__(self, reserved=frozenset()):
        self.reserved = set(reserved)
        self.taken: dict[str, str] = {}  # identifier -> the spec name it came from
        self.kinds: dict[str, str] = {}  # identifier -> what that spec name names (layer, block, ...)
        self.spans: dict[str, Span | None] = {}  # identifier -> where that spec name was written
        self.labels: dict[str, str] = {}  # identifier -> how a diagnostic names what it came from

    def add(
        self,
        name: str,
        span: Span | None = None,
        what: str = "name",
        spelled: str | None = None,
        label: str | None = None,
    ) -> str:
        """The identifier for spec name `name`, written as `spelled` (a class name, say) when given;
        `label` is how a collision names it, when `what` and the name do not say enough (the layer of
        an inline block use, a batch norm beside its convolution)."""
        ident = sanitize(name if spelled is None else spelled)
        while ident in self.reserved:
            ident += "_"
        label = label or f"{what} {name!r}"
        if ident in self.taken and (self.kinds[ident], self.taken[ident]) != (what, name):
            other = self.taken[ident]
            renamed = [f"{spec_name!r} {why}" for spec_name in dict.fromkeys((other, name)) if (why := renaming_reason(spec_name, self.reserved))]
            because = f" ({'; '.join(renamed)})" if renamed else ""
            raise SpecError(
                error(
                    "name-collision",
                    f"{label} and {self.labels[ident]} both become the Python name {ident!r}{because}; rename one",
                    span,
                    *([note(f"{other!r} is here", self.spans[ident])] if self.spans.get(ident) else []),
                )
            )
        self.taken[ident] = name
        self.kinds[ident] = what
        self.spans[ident] = span
        self.labels[ident] = label
        return ident


def renaming_reason(name: str, reserved=frozenset()) -> str:
    """Why a spec name does not stay as written in generated code; empty when it does."""
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword, so it gets a trailing '_'"
    if name[:1] == "_" or name[:1].isdigit():
        return "cannot start an attribute name, so it gets a 'layer' prefix"
    if name in reserved and name in PYTHON_BUILTINS:
        return "is a Python builtin, so it gets a trailing '_'"
    if name in reserved:
        return "is a name the generated code uses, so it gets a trailing '_'"
    return ""
