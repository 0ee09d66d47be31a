"""Located YAML values to a typed `Spec`, collecting every diagnostic it can before giving up."""

from __future__ import annotations

import difflib
import math
import os
import re
import typing
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from netgen.diagnostics import Diagnostic, Span, SpecError, error, note
from netgen.files import read_regular
from netgen.ops import ACTIVATION_NAMES, SPEC_OPS
from netgen.spec.claims import Claim, parse_count_claim, parse_size_claim
from netgen.spec.fields import CHANNELS_DESCRIPTION, channel_count_problem, takes
from netgen.spec.library import Import, LibraryFiles, with_use_notes
from netgen.spec.model import (
    PARAM_TYPES,
    Block,
    BlockCall,
    Branch,
    Deviation,
    Head,
    Layer,
    MergeCall,
    OpCall,
    OutputField,
    Outputs,
    Residual,
    Spec,
    Split,
)
from netgen.spec.schema import (
    DEFAULTABLE,
    INLINE_HEAD_KEY,
    LAYER_META_KEYS,
    OP_ARGS,
    BlockDecl,
    BlockLibrary,
    ClaimsArgs,
    DeviationArgs,
    HeadMeta,
    InlineHeadMeta,
    LayerMeta,
    ResidualArgs,
    SpecHeader,
    Strict,
    keys_of,
)
from netgen.spec.yaml_source import MAX_BYTES, YList, YMap, load_yaml, read_source

_COUNT_CLAIMS = ("params", "params_with_heads", "macs", "macs_with_heads", "depth", "depth_with_pooling")

# Ops that read several layers; every other op and every block reads exactly one.
MERGE_OPS = tuple(name for name, op in SPEC_OPS.items() if op.several_inputs)
ACTIVATIONS = ACTIVATION_NAMES  # what `act:` and an `activation` block parameter take
_OP_OF_ARGS = {op.args: name for name, op in SPEC_OPS.items() if op.args.model_fields}
BODY_KEYS = ", ".join(f"'{key}'" for key in MERGE_OPS)
# A top-level layer written {sequential: {...}} is a group: its layers are numbered items of one nn.Sequential.
GROUP_KEY = "sequential"

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A layer of an inline block is only ever named `<use>_<layer>` in generated code, so its name may
# start with a digit, as Caffe's do (`inception_3a_1x1`).
INLINE_LAYER_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def load_spec(path: str, input_size: tuple[int, int, int] | None = None, max_values: int | None = None) -> Spec:
    """The typed spec at `path`; `input_size` (C, H, W) replaces the spec's `input` when given;
    `max_values` raises the limit on the values the file holds."""
    return parse_spec(path, read_regular(path, "spec", MAX_BYTES), input_size, max_values)


def parse_spec(
    path: str,
    data: bytes,
    input_size: tuple[int, int, int] | None = None,
    max_values: int | None = None,
    read: Callable[..., YMap] = load_yaml,
) -> Spec:
    """`read` reads the YAML: load_yaml, or one that keeps what did not change since its last read
    (netgen.spec.yaml_reuse, for an editor)."""
    return _Parser(path, input_size, max_values).spec(read(read_source(path, data), max_values=max_values))


def show(value: Any) -> str:
    """A value as the user wrote it in YAML."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]" if len(value) <= 8 else f"a list of {len(value)}"
    return repr(value)


def closest(word: str, choices) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def suggestion(word: str, choices) -> str:
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def fields_of(model: type[Strict]) -> dict:
    """A model's fields by the key a spec writes: the alias where there is one (`class`)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def nested_model(model: type[Strict], key: str) -> type[Strict] | None:
    """The argument model a field takes as a mapping (`bn`, `init`), if it takes one."""
    info = fields_of(model).get(key)
    pending = [info.annotation] if info is not None else []
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, Strict):
            return annotation
        pending.extend(typing.get_args(annotation))
    return None


def literal_choices(annotation: Any) -> list[str]:
    """The words a field's type allows (`relu`, `none`), wherever they are in its annotation."""
    choices, pending = [], [annotation]
    while pending:
        item = pending.pop()
        if typing.get_origin(item) is typing.Literal:
            choices += [choice for choice in typing.get_args(item) if isinstance(choice, str)]
        else:
            pending.extend(typing.get_args(item))
    return choices


def _word_hint(value: Any, info) -> str:
    """'did you mean' for a misspelt choice such as `act: rleu`."""
    if not isinstance(value, str) or info is None:
        return ""
    return suggestion(value, literal_choices(info.annotation))


def _number_hint(value: Any, kinds: set[str]) -> str:
    """Why a number-looking value was refused, when the reason is how it was written."""
    if "int_type" not in kinds and "float_type" not in kinds:
        return ""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return "; write the number without quotes"
    if isinstance(value, float) and value.is_integer() and "int_type" in kinds:
        return f"; write it as a whole number: {int(value)}"
    return ""


def check_name(name: Any, span: Span, what: str, leading_digit: bool = False) -> Diagnostic | None:
    """None when `name` is a good spec name; `leading_digit` allows a digit first (layers of inline blocks)."""
    if not isinstance(name, str):
        return error("bad-name", f"{what} name must be a name, got {show(name)}", span)
    if IDENTIFIER.match(name) or (leading_digit and INLINE_LAYER_NAME.match(name)):
        return None
    if any(ord(ch) > 127 for ch in name):
        odd = next(ch for ch in name if ord(ch) > 127)
        described = f"U+{ord(odd):04X} {unicodedata.name(odd, '')}".rstrip()
        return error(
            "non-ascii-name",
            f"{what} name {name!r} contains the non-ASCII character {odd!r} ({described}); names are ASCII letters, digits and '_'",
            span,
        )
    fixed = re.sub(r"\W", "_", name)
    if fixed[:1].isdigit():
        fixed = "layer_" + fixed
    return error(
        "bad-name",
        f"{what} name {name!r} is not an identifier (letters, digits and '_', not starting with a digit); try {fixed!r}",
        span,
    )


class _Parser:
    def __init__(self, path: str, input_size: tuple[int, int, int] | None = None, max_values: int | None = None):
        self.path = path
        self.input_size = input_size  # given on the command line, in place of the spec's `input`
        self.libraries = LibraryFiles(path, max_values)
        self.imports: list[Import] = []
        self.diagnostics: list[Diagnostic] = []
        self.defaults: dict[str, YMap] = {}
        self.block_names: set[str] = set()
        self.default_spans: set[Span] = set()  # where the values under `defaults:` are written
        self.inline_heads: list[Head] = []  # heads written among the layers (`head: true`), in order
        self.init_weight = "torch_default"  # the spec's init.weight, which a layer's own `init` must fit
        self.in_inline_block = False  # reading the body of a block with `inline: true`

    def fail(self, diagnostic: Diagnostic) -> None:
        # A bad value in `defaults` fails every layer that inherits it; report it once, at the value.
        same = (diagnostic.code, diagnostic.span, diagnostic.message.split(": ", 1)[-1])
        if any((d.code, d.span, d.message.split(": ", 1)[-1]) == same for d in self.diagnostics):
            return
        self.diagnostics.append(diagnostic)

    # -- top level ---------------------------------------------------------------------------

    def spec(self, top: YMap) -> Spec:
        try:
            return self._spec(top)
        except SpecError as exc:
            # What is wrong inside a block library is shown with the `use:` that brought it in.
            raise SpecError(with_use_notes(exc.diagnostics, self.imports)) from None

    def _spec(self, top: YMap) -> Spec:
        if "blocks" in top and not {"name", "input", "layers"} & set(top):
            raise SpecError(
                error(
                    "not-a-spec",
                    "this file is a block library, not a network spec: it has `blocks:` and no `name`, `input` or `layers`; "
                    "netgen checks a library through the specs that `use:` it",
                    top.span,
                )
            )
        header = self.validate(SpecHeader, top, top.span, "spec")
        if header is None:
            raise SpecError(self.diagnostics)
        c, h, w = self.input_size or header.input
        if header.transform_input is not None and c != 3:
            self.fail(
                error(
                    "bad-value",
                    f"transform_input re-normalises 3 colour channels, but the input has {c}",
                    top.value_spans["transform_input"],
                )
            )
        self.init_weight = header.init.weight
        channels = c
        if header.data is not None:
            for key in ("mean", "std"):
                values = getattr(header.data, key)
                if values is not None and len(values) != channels:
                    self.fail(
                        error(
                            "bad-value",
                            f"data: '{key}' gives {len(values)} values for a {channels}-channel input; give one per channel",
                            top["data"].value_spans[key],
                        )
                    )
        self.read_defaults(top.get("defaults") or YMap(), top)
        blocks_node = top.get("blocks", YMap())
        if not isinstance(blocks_node, YMap):
            blocks_node = YMap()
        # Blocks of the libraries the spec uses come first, as if `use:` were written above `blocks:`.
        found = self.used_blocks(top.get("use"), self.path, (os.path.realpath(self.path),))
        found += [(name, value, blocks_node.key_spans[name]) for name, value in blocks_node.items()]
        defined: dict[str, Span] = {}
        for name, _value, span in found:
            if name in defined:
                self.fail(
                    error(
                        "duplicate-name",
                        f"block {name!r} is defined twice; rename one",
                        span,
                        note(f"{name!r} is also defined here", defined[name]),
                    )
                )
            defined.setdefault(name, span)
        self.block_names = set(defined)
        blocks = {}
        for name, value, span in found:
            if span != defined[name]:
                continue
            block = self.block(name, value, span)
            if block is not None:
                blocks[name] = block
        layers = self.sequence(top["layers"], top.value_spans["layers"], "layers", named_only=True)
        if isinstance(top["layers"], dict) and not top["layers"]:
            self.fail(error("no-layers", "'layers' is empty; a network needs at least one layer", top.value_spans["layers"]))
        heads_node = top.get("heads", YMap())
        heads = tuple(self.inline_heads) + tuple(
            head
            for name, value in heads_node.items()
            if (head := self.head(name, value, heads_node.key_spans[name])) is not None
        )
        deviations = self.deviations(top.get("deviations"), top.value_spans.get("deviations", top.span))
        outputs = self.outputs(top.get("outputs"), top.value_spans.get("outputs", top.span))
        claims = self.claims(top.get("claims"), top.value_spans.get("claims", top.span))
        if self.diagnostics:
            raise SpecError(self.diagnostics)
        return Spec(
            path=self.path,
            name=header.name,
            description=header.description,
            input=(c, h, w),
            num_classes=header.num_classes,
            width=header.width,
            drop_path_rate=header.drop_path_rate,
            init=header.init,
            transform_input=header.transform_input,
            reference=header.reference,
            blocks=blocks,
            layers=layers,
            heads=heads,
            span=top.span,
            field_spans=dict(top.key_spans),
            deviations=deviations,
            outputs=outputs,
            data=header.data,
            width_divisor=header.width_divisor,
            claims=claims,
            imports=tuple(self.imports),
        )

    def used_blocks(self, node: Any, importer: str, chain: tuple[str, ...]) -> list[tuple[str, Any, Span]]:
        """(name, definition, where) of every block in the libraries `use:` names, and in those they use."""
        if not isinstance(node, YList):
            return []  # absent; any other kind is reported by the header's validation
        found = []
        for entry, span in zip(node, node.item_spans, strict=True):
            if not isinstance(entry, str):
                continue
            try:
                path = self.libraries.path(importer, entry, span, chain)
                if path is None:
                    continue  # read already, through another library
                top = self.libraries.load(path)
            except SpecError as exc:
                self.diagnostics += [d for d in exc.diagnostics if d not in self.diagnostics]
                continue
            self.imports.append(Import(path, span))
            if "layers" in top or "name" in top:
                self.fail(
                    error(
                        "not-a-library",
                        f"use {entry!r} names a network spec, not a block library; a library holds `blocks:` "
                        "(and may `use:` other libraries): move the blocks both networks need into one",
                        span,
                    )
                )
                continue
            if self.validate(BlockLibrary, top, top.span, f"block library {path}") is None:
                continue
            found += self.used_blocks(top.get("use"), path, (*chain, os.path.realpath(path)))
            blocks = top["blocks"]
            found += [(name, value, blocks.key_spans[name]) for name, value in blocks.items()]
        return found

    def claims(self, node: Any, span: Span) -> tuple[Claim, ...]:
        """`claims:`, each claim parsed as written and located at its value."""
        if node is None:
            return ()
        if not isinstance(node, YMap):
            self.fail(error("wrong-type", f"'claims' must be a mapping such as {{params: ≈ 7M ± 5%, output: 1x1x1000}}, got {show(node)}", span))
            return ()
        known = fields_of(ClaimsArgs)
        unknown = [key for key in node if key not in known]
        if unknown:  # reported as any unknown key is, with the keys a claim may have
            self.validate(ClaimsArgs, _part(node, unknown), span, "claims")
        written = []  # (key, layer, value, where, name_span)
        for key, value in node.items():
            if key == "sizes":
                if not isinstance(value, YMap):
                    self.fail(error("wrong-type", f"claims: 'sizes' must be {known['sizes'].description}, got {show(value)}", node.value_spans[key]))
                    continue
                written += [(key, layer, size, value.value_spans[layer], value.key_spans[layer]) for layer, size in value.items()]
            elif key in known:
                written.append((key, None, value, node.value_spans[key], None))
        out: list[Claim] = []
        for key, layer, value, where, name_span in written:
            try:
                if key in _COUNT_CLAIMS:
                    out.append(parse_count_claim(key, value, where))
                else:
                    out.append(parse_size_claim(layer, value, where, name_span))
            except ValueError as exc:
                label = f"sizes: {layer}" if layer is not None else key
                self.fail(error("bad-claim", f"claims: {label}: {exc}", where))
        return tuple(out)

    def outputs(self, node: Any, span: Span) -> Outputs | None:
        """`outputs: {class, fields}`; the header validated the types, this keeps the spans."""
        if not isinstance(node, YMap):
            return None
        fields = None
        if isinstance(node.get("fields"), YMap):
            fields_node = node["fields"]
            fields = []
            for name, source in fields_node.items():
                name_span = fields_node.key_spans[name]
                bad = check_name(name, name_span, "output field")
                if bad is not None:
                    self.fail(bad)
                    continue
                fields.append(OutputField(name, source, name_span, fields_node.value_spans[name]))
            if not fields_node:
                self.fail(error("bad-value", "outputs: 'fields' is empty; name the logits layer and every head", node.value_spans["fields"]))
            fields = tuple(fields)
        return Outputs(node.get("class"), node.value_spans.get("class"), fields, span, node.get("when", "training"))

    def deviations(self, node: Any, span: Span) -> tuple[Deviation, ...]:
        if not node:
            return ()
        out = []
        for i, item in enumerate(node):
            item_span = node.item_spans[i]
            args = self.validate(DeviationArgs, item, item_span, "deviation")
            if args is not None:
                rows, row_spans = _names_with_spans(item, "row")
                cells, cell_spans = _names_with_spans(item, "cell")
                out.append(Deviation(rows, cells, args.reason, item_span, row_spans, cell_spans))
        return tuple(out)

    def read_defaults(self, node: Any, top: YMap) -> None:
        for op, values in node.items():
            span = node.key_spans[op]
            if op not in DEFAULTABLE:
                hint = suggestion(op, DEFAULTABLE) or f"; defaults can be given for {', '.join(DEFAULTABLE)}"
                self.fail(error("unknown-op", f"defaults for unknown op {op!r}{hint}", span))
                continue
            if not isinstance(values, YMap):
                self.fail(error("wrong-type", f"defaults.{op} must be a mapping of {op} arguments", span))
                continue
            fields = fields_of(OP_ARGS[op])
            known = YMap({key: value for key, value in values.items() if key in fields})
            known.span, known.key_spans, known.value_spans = values.span, values.key_spans, values.value_spans
            # Checked here, once, so that a bad default is reported as one; the layers that
            # inherit it do not report it again (see `validate`).
            self.validate(OP_ARGS[op], known, span, f"defaults: {op}", partial=True)
            for key in values:
                if key not in fields:
                    hint = suggestion(key, fields) or f"; {op} takes {', '.join(fields)}"
                    self.fail(error("unknown-key", f"defaults: unknown {op} argument {key!r}{hint}", values.key_spans[key]))
            self.default_spans.update(values.value_spans.values())
            self.defaults[op] = values

    # -- validation with pydantic, errors mapped back to spans -------------------------------

    def validate(
        self, model: type[Strict], node: Any, span: Span, what: str, spans: dict[str, Span] | None = None, partial: bool = False
    ):
        """`node` checked by its declaration, each error at its key or value; `partial` leaves out the
        required keys (defaults give some arguments, never all)."""
        if node is None:
            node = {}
        if not isinstance(node, dict):
            self.fail(error("wrong-type", f"{what} takes a mapping of arguments, got {show(node)}", span))
            return None
        try:
            return model.model_validate(dict(node))
        except ValidationError as exc:
            value_spans = spans if spans is not None else getattr(node, "value_spans", {})
            key_spans = getattr(node, "key_spans", {})
            errors = exc.errors()
            kinds: dict[str, set[str]] = {}
            reasons: dict[str, str] = {}
            for item in errors:
                kinds.setdefault(str(item["loc"][0]) if item["loc"] else "", set()).add(item["type"])
                if item["type"] == "expression":  # what is wrong with an expression that does not read
                    reasons.setdefault(str(item["loc"][0]), f"; {item['msg']}")
            # A misspelt key is reported once, as unknown, not again as the key it meant going missing.
            meant = {closest(key, fields_of(model)) for key, types in kinds.items() if "extra_forbidden" in types}
            reported: set[str] = set()
            for item in errors:
                key = str(item["loc"][0]) if item["loc"] else ""
                if key in reported or (item["type"] == "missing" and (key in meant or partial)):
                    continue
                if not partial and value_spans.get(key) in self.default_spans:
                    continue  # a value from `defaults:`, reported there
                reported.add(key)
                inner = nested_model(model, key)
                if inner is not None and isinstance(node.get(key), YMap):
                    # e.g. `bn: {eps: -1}`: say what is wrong inside, not just that the mapping is.
                    before = len(self.diagnostics)
                    if self.validate(inner, node[key], value_spans.get(key, span), f"{what}: {key}") is None and len(self.diagnostics) > before:
                        continue
                # Of a union's errors, the one about the list's length says what is wrong with a list.
                item = next((found for found in errors if found["loc"][:1] == item["loc"][:1] and found["type"] == "too_long"), item)
                self.fail(self.field_error(model, item, key, node, what, key_spans, value_spans, span, kinds[key], reasons.get(key, "")))
            return None

    def field_error(self, model, item, key, node, what, key_spans, value_spans, span, kinds=frozenset(), reason: str = "") -> Diagnostic:
        kind = item["type"]
        fields = fields_of(model)
        if kind == "extra_forbidden":
            expected = f"; expected one of: {', '.join(fields)}" if fields else f"; {what.rpartition(': ')[2]} takes no arguments"
            hint = suggestion(key, fields) or expected
            return error("unknown-key", f"{what}: unknown key {key!r}{hint}", key_spans.get(key, span))
        info = fields.get(key)
        expected = info.description if info is not None and info.description else item["msg"].removeprefix("Input should be ")
        if kind == "missing":
            return error("missing-key", f"{what} needs {key!r}: {expected}", span)
        value = node.get(key)
        if kind == "too_long" and isinstance(value, list):
            # A list longer than the field takes is no other mistake: say so, with the limit.
            longest = item["ctx"]["max_length"]
            return error("bad-value", f"{what}: {key!r} must be {expected}, at most {longest}; got {len(value)}", value_spans.get(key, span))
        hint = _number_hint(value, kinds) or _word_hint(value, info) or reason
        parameters = takes(model)
        op = _OP_OF_ARGS.get(model)
        if op is not None and not hint and key not in parameters and isinstance(value, str) and IDENTIFIER.match(value):
            # A name where a number or a word is wanted: most likely a block parameter, which this argument cannot take.
            which = ", ".join(f"{name} ({' or '.join(types)})" for name, types in parameters.items())
            return error(
                "not-a-parameter",
                f"{what}: {key!r} cannot name a block parameter, got {value!r}; it must be {expected}"
                + (f" ({op}'s arguments that can: {which})" if which else f" (no argument of {op} can)"),
                value_spans.get(key, span),
            )
        return error("bad-value", f"{what}: {key!r} must be {expected}, got {show(value)}{hint}", value_spans.get(key, span))

    # -- blocks, heads, layers ---------------------------------------------------------------

    def block(self, name: str, node: Any, span: Span) -> Block | None:
        bad = check_name(name, span, "block")
        if bad:
            self.fail(bad)
            return None
        if name in OP_ARGS:
            self.fail(error("name-clash", f"block {name!r} has the name of a built-in op; choose another", span))
            return None
        if not isinstance(node, YMap):
            self.fail(error("wrong-type", f"block {name!r} must be a mapping with 'params' and one of {BODY_KEYS}", span))
            return None
        # Its own keys and `flat`; params, residual and the body are walked below.
        declared = self.validate(BlockDecl, node, span, f"block {name!r}")
        params, param_spans, param_types = self.block_params(name, node)
        flat = declared.flat if declared is not None else node.get("flat") is True
        inline = declared.inline if declared is not None else node.get("inline") is True
        bodies = [key for key in (*MERGE_OPS, "layers") if key in node]
        if len(bodies) != 1:
            self.fail(
                error(
                    "block-body",
                    f"block {name!r} needs exactly one of {BODY_KEYS} (branches) or 'layers' (a sequence), found {len(bodies)}",
                    span,
                )
            )
            return None
        body = bodies[0]
        body_node, body_span = node[body], node.value_spans[body]
        residual = None
        if "residual" in node:
            types = dict(zip(params, param_types, strict=True))
            residual = self.residual(name, node["residual"], node.value_spans["residual"], types)
        split = None
        if "split" in node:
            split = self.split(name, node, body)
        self.in_inline_block = inline
        try:
            if body == "layers":
                layers = self.sequence(
                    body_node, body_span, f"{name}.layers", merges=True, flat=flat, context=f"block {name!r}"
                )
                branches = (Branch("", layers, body_span, indexed=isinstance(body_node, list)),)
                combine = "seq"
            else:
                found = self.branches(f"block {name!r}", name, body, body_node, body_span, flat, split="split" in node)
                if found is None:
                    return None
                branches, combine = found, body
        finally:
            self.in_inline_block = False
        if split is not None and len(split.parts) != len(branches):
            self.fail(
                error(
                    "split-parts",
                    f"block {name!r}: 'split' cuts the input into {len(split.parts)} parts, but the block has "
                    f"{len(branches)} branches; give one part per branch, in order",
                    split.span,
                )
            )
            return None
        return Block(
            name, tuple(params), tuple(param_spans), combine, branches, span, tuple(param_types), flat, residual, split, inline
        )

    def split(self, name: str, node: YMap, body: str) -> Split | None:
        """`split: [in - 3 * g, g, g, g]`: the block's input cut along channels, one part per branch."""
        value, span = node["split"], node.value_spans["split"]
        if body == "layers":
            self.fail(error("misplaced-key", f"block {name!r}: 'split' cuts the input among branches: write the body as branches ({BODY_KEYS})", span))
            return None
        if not isinstance(value, YList) or len(value) < 2:
            self.fail(error("wrong-type", f"block {name!r}: 'split' must be a list of at least two channel counts, one per branch, got {show(value)}", span))
            return None
        ok = True
        for index, (part, part_span) in enumerate(zip(value, value.item_spans, strict=True)):
            reason = channel_count_problem(part)
            if reason is not None:
                ok = False
                self.fail(
                    error("bad-value", f"block {name!r}: split part {index + 1} must be {CHANNELS_DESCRIPTION}, got {show(part)}{reason}", part_span)
                )
        return Split(tuple(value), tuple(value.item_spans), span) if ok else None

    def block_params(self, name: str, node: YMap) -> tuple[list[str], list[Span], list[str]]:
        """`params: [n1x1, scale: float, act: activation]`: a bare name is a channel count."""
        params_node = node.get("params", YList())
        params: list[str] = []
        param_spans: list[Span] = []
        param_types: list[str] = []
        if not isinstance(params_node, list):
            self.fail(error("wrong-type", f"block {name!r}: 'params' must be a list of names", node.value_spans["params"]))
            return params, param_spans, param_types
        for i, param in enumerate(params_node):
            pspan = params_node.item_spans[i]
            kind = "channels"
            if isinstance(param, YMap) and len(param) == 1:
                param, kind = next(iter(param.items()))
                if kind not in PARAM_TYPES:
                    self.fail(
                        error(
                            "bad-value",
                            f"block {name!r}: parameter {param!r} has type {show(kind)}; a type is one of "
                            f"{', '.join(PARAM_TYPES)}{suggestion(str(kind), PARAM_TYPES)}",
                            pspan,
                        )
                    )
                    continue
            bad = check_name(param, pspan, "block parameter")
            if bad:
                self.fail(bad)
            elif param in params:
                self.fail(error("duplicate-name", f"block {name!r}: parameter {param!r} is listed twice", pspan))
            else:
                params.append(param)
                param_spans.append(pspan)
                param_types.append(kind)
        return params, param_spans, param_types

    def residual(self, name: str, node: Any, span: Span, types: dict[str, str]) -> Residual | None:
        """`residual: {scale: 0.17, act: relu}`: a number or a float parameter, relu, none or an activation parameter."""
        if not isinstance(node, YMap):
            self.fail(error("wrong-type", f"block {name!r}: 'residual' takes {{scale: ..., act: relu | none}}, got {show(node)}", span))
            return None
        args = self.validate(ResidualArgs, node, span, f"block {name!r}: residual")
        if args is None:
            return None
        scale, act = args.scale, args.act
        scale_span, act_span = node.value_spans.get("scale", span), node.value_spans.get("act", span)
        ok = True
        if isinstance(scale, str):
            ok &= self.typed_reference(name, "scale", scale, scale_span, types, "float")
        if act not in ACTIVATIONS:
            ok &= self.typed_reference(name, "act", act, act_span, types, "activation", literals=ACTIVATIONS)
        if not ok:
            return None
        return Residual(float(scale) if not isinstance(scale, str) else scale, act, span, scale_span, act_span, args.drop_path)

    def typed_reference(self, block: str, key: str, value: str, span: Span, types: dict[str, str], want: str, literals=()) -> bool:
        """A residual argument naming a parameter: the parameter must exist and hold a `want`."""
        if value not in types:
            params = [param for param, kind in types.items() if kind == want]
            expected = ", ".join(literals) if literals else "a number"
            named = f" ({', '.join(params)})" if params else ""
            self.fail(
                error(
                    "undefined-name",
                    f"block {block!r}: residual {key!r} names {value!r}, which is not a parameter of the block; it takes "
                    f"{expected} or {_article(want)} {want} parameter{named}{suggestion(value, [*literals, *params])}",
                    span,
                )
            )
            return False
        if types[value] != want:
            self.fail(
                error(
                    "wrong-param-type",
                    f"block {block!r}: residual {key!r} needs a {want} parameter, but {value!r} is a {types[value]} parameter; "
                    f"declare it as `{value}: {want}` in params",
                    span,
                )
            )
            return False
        return True

    def branches(
        self, what: str, path: str, body: str, node: Any, span: Span, flat: bool, split: bool = False
    ) -> tuple[Branch, ...] | None:
        """Named branches of a `concat`, `add` or `mul`, each a list (numbered) or a mapping (named) of
        layers; an empty branch passes on what it reads (in a `split` block, its part)."""
        if not isinstance(node, YMap) or not node:
            self.fail(error("wrong-type", f"{what}: '{body}' must map branch names to lists of layers", span))
            return None
        out = []
        for branch_name, branch_node in node.items():
            bspan = node.key_spans[branch_name]
            if branch_name in LAYER_META_KEYS:
                self.fail(
                    error(
                        "misplaced-key",
                        f"{what}: {branch_name!r} is not a branch; it goes beside '{body}': {{{body}: , {branch_name}: ...}}",
                        bspan,
                    )
                )
                continue
            bad = check_name(branch_name, bspan, "branch")
            if bad:
                self.fail(bad)
                continue
            named = isinstance(branch_node, YMap)
            layers = self.sequence(
                branch_node,
                node.value_spans[branch_name],
                f"{path}.{branch_name}",
                allow_empty=body != "concat" or split,
                merges=named and flat,
                flat=flat,
                context=f"{what}, branch {branch_name!r}",
            )
            out.append(Branch(branch_name, layers, bspan, indexed=not named))
        return tuple(out)

    def head(self, name: str, node: Any, span: Span, position: int | None = None) -> Head | None:
        """A head is one layer (usually a block) fed by a named trunk layer, with a loss weight;
        `position` places one written among the layers (`head: true`) after that many layers."""
        bad = check_name(name, span, "head")
        if bad:
            self.fail(bad)
            return None
        layer = self.layer(name, node, span, span, meta=HeadMeta if position is None else InlineHeadMeta)
        if layer is None:
            return None
        weight = float(node.get("loss_weight", 1.0))
        return Head(name, layer.inputs[0], layer.input_spans[0], weight, layer, span, position)

    def sequence(
        self,
        node: Any,
        span: Span,
        where: str,
        named_only: bool = False,
        allow_empty: bool = False,
        merges: bool = False,
        flat: bool = False,
        context: str | None = None,
    ) -> tuple[Layer, ...]:
        """Layers written as a mapping (named) or, inside blocks and heads, as a list (numbered).

        `named_only` marks the network's own layers, which may be grouped with `sequential:`;
        `merges` says whether a layer here may be a `concat:`/`add:` of branches (only where
        layers are attributes of their own: a block's `layers:`, or a mapping branch of a flat block).
        `context` names the block and branch the layers are in, for diagnostics ("block 'b', branch 'x', layer 2")."""
        if isinstance(node, YMap):
            out = []
            for name, value in node.items():
                key_span = node.key_spans[name]
                bad = check_name(name, key_span, "layer", leading_digit=self.in_inline_block)
                if bad:
                    self.fail(bad)
                    continue
                if named_only and isinstance(value, YMap) and GROUP_KEY in value:
                    out += self.group(name, value, key_span)
                    continue
                if named_only and isinstance(value, YMap) and INLINE_HEAD_KEY in value and not self.is_block_use(INLINE_HEAD_KEY, value[INLINE_HEAD_KEY]):
                    head = self.head(name, value, key_span, position=len(out))
                    if head is not None:
                        self.inline_heads.append(head)
                    continue
                label = name if context is None else f"{context}, layer {name!r}"
                layer = self.layer(name, value, key_span, node.value_spans[name], merges=merges, flat=flat, label=label)
                if layer is not None:
                    out.append(layer)
            return tuple(out)
        if isinstance(node, YList) and not named_only:
            if not node and not allow_empty:
                self.fail(error("no-layers", f"{where} has no layers", span))
            calls = []
            for i, value in enumerate(node):
                label = "layer" if context is None else f"{context}, layer {i + 1}"
                layer = self.layer("", value, node.item_spans[i], node.item_spans[i], merges=merges, flat=flat, label=label)
                if layer is not None:
                    calls.append(layer)
            return _name_by_op(calls)
        if node is None and allow_empty:
            return ()
        expected = "a mapping of named layers" if named_only else "a list or a mapping of layers"
        self.fail(error("wrong-type", f"{where} must be {expected}, got {show(node)}", span))
        return ()

    def group(self, name: str, node: YMap, span: Span) -> list[Layer]:
        """`features: {sequential: {conv1: ..., mixed_3a: ...}}`: named layers that the generated module
        keeps as items 0, 1, ... of one nn.Sequential attribute `features` (timm's layout)."""
        for key in node:
            if key != GROUP_KEY:
                self.fail(error("unknown-key", f"group {name!r}: unknown key {key!r}; a group is written {{sequential: {{named layers}}}}", node.key_spans[key]))
        items = node[GROUP_KEY]
        if isinstance(items, YMap) and not items:
            self.fail(error("no-layers", f"group {name!r}: 'sequential' holds no layers; a group needs at least one", node.value_spans[GROUP_KEY]))
            return []
        if not isinstance(items, YMap):
            self.fail(error("wrong-type", f"group {name!r}: 'sequential' must be a mapping of named layers, got {show(items)}", node.value_spans[GROUP_KEY]))
            return []
        heads = [
            key
            for key, item in items.items()
            if isinstance(item, YMap) and INLINE_HEAD_KEY in item and not self.is_block_use(INLINE_HEAD_KEY, item[INLINE_HEAD_KEY])
        ]
        for key in heads:
            self.fail(
                error(
                    "misplaced-head",
                    f"group {name!r}: {key!r} is a head, and a group holds trunk layers only; write the head before or after the group",
                    items[key].key_spans[INLINE_HEAD_KEY],
                )
            )
        if heads:
            return []
        out = []
        for item in self.sequence(items, node.value_spans[GROUP_KEY], name):
            out.append(replace(item, container=name))
        for key in items:
            if isinstance(items[key], YMap) and GROUP_KEY in items[key]:
                self.fail(error("nested-group", f"group {name!r}: {key!r} is a group inside a group; groups do not nest", items.key_spans[key]))
        return out

    def layer(
        self,
        name: str,
        node: Any,
        key_span: Span,
        value_span: Span,
        meta: type[Strict] = LayerMeta,
        merges: bool = False,
        flat: bool = False,
        label: str | None = None,
    ) -> Layer | None:
        """One layer: its op (or block, or merge of branches) and the keys of `meta` beside it."""
        label = label or name or "layer"
        if not isinstance(node, YMap):
            self.fail(error("wrong-type", f"{label}: a layer is written {{op: {{arguments}}}}, e.g. {{conv: {{out: 64, kernel: 3}}}}; got {show(node)}", value_span))
            return None
        # A block named like a key beside the op (a ResNet's `stage`) is used with a list, as every block is.
        meta_keys = tuple(key for key in keys_of(meta) if not self.is_block_use(key, node.get(key)))
        ops = [key for key in node if key not in meta_keys]
        if len(ops) != 1:
            known = [*OP_ARGS, *sorted(self.block_names)]
            if not ops:
                self.fail(error("missing-op", f"{label} names no op; expected one of {', '.join(known)}", value_span))
            else:
                self.fail(error("several-ops", f"{label} names {len(ops)} ops ({', '.join(ops)}); write one layer per entry", node.key_spans[ops[1]]))
            return None
        op = ops[0]
        op_span = node.key_spans[op]
        if op in MERGE_OPS and isinstance(node[op], YMap) and not node[op]:
            # Neither branches nor the layers `from` names: an empty mapping is no way to write either.
            self.fail(
                error(
                    "no-branches",
                    f"{label}: '{op}' has no branches; give it branches that each read the layer's input, "
                    f"or write `{op}:` with nothing after it to {'join' if op == 'concat' else 'sum'} the layers 'from' names",
                    node.value_spans[op],
                )
            )
            return None
        if op in MERGE_OPS and isinstance(node[op], YMap):
            call = self.merge_call(label, op, node[op], op_span, node.value_spans[op], merges, flat)
        else:
            call = self.call(label, op, node[op], op_span, node.value_spans[op])
        declared = self.validate(meta, _part(node, meta_keys), value_span, f"head {name!r}" if issubclass(meta, HeadMeta) else label)
        if call is None or declared is None:
            return None
        inputs, input_spans = _inputs(node)
        row, times = node.get("row"), node.get("times", 1)
        if times != 1 and op in MERGE_OPS:
            self.fail(error("bad-value", f"{label}: {_article(op)} {op} cannot be repeated; put it in a block and repeat the block", node.key_spans["times"]))
            return None
        several = op in MERGE_OPS and not isinstance(call, MergeCall)
        if inputs is not None and len(inputs) > 1 and not several:
            what = f"{_article(op)} {op} of branches" if isinstance(call, MergeCall) else op
            self.fail(
                error(
                    "too-many-inputs",
                    f"{label}: {what} takes one input but 'from' names {len(inputs)}; only {', '.join(MERGE_OPS[:-1])} and {MERGE_OPS[-1]} combine several",
                    input_spans[1],
                )
            )
            return None
        init_std = declared.init.std if getattr(declared, "init", None) is not None else None
        if init_std is not None and not self.takes_init(label, op, call, times, node.key_spans["init"]):
            return None
        span = key_span if name else op_span
        return Layer(name, call, span, inputs, input_spans, row, times, stage=getattr(declared, "stage", False), init_std=init_std)

    def takes_init(self, label: str, op: str, call, times: int, span: Span) -> bool:
        """A layer's own `init: {std}` is a truncated normal's, for a conv or linear weight written once."""
        if not isinstance(call, OpCall) or op not in ("conv", "linear"):
            self.fail(error("bad-init", f"{label}: 'init' sets a conv or linear layer's weight, and {op} is neither", span))
            return False
        if times != 1:
            self.fail(error("bad-init", f"{label}: 'init' sets one layer's weight; write the {times} copies out, or leave out 'init'", span))
            return False
        if self.init_weight != "trunc_normal":
            self.fail(
                error(
                    "bad-init",
                    f"{label}: 'init: {{std}}' is a truncated normal's standard deviation, and the spec's init is "
                    f"{self.init_weight}; write init: {{weight: trunc_normal, ...}} at the top",
                    span,
                )
            )
            return False
        return True

    def is_block_use(self, key: str, value: Any) -> bool:
        """Whether `key: value` in a layer uses a block: one the spec defines, with a list of arguments (or none)."""
        return key in self.block_names and (value is None or isinstance(value, YList))

    def merge_call(self, label: str, op: str, args: YMap, op_span: Span, args_span: Span, allowed: bool, flat: bool) -> MergeCall | None:
        """`concat: {a: [...], b: [...]}` inside a block: branches that each read this layer's input."""
        if not allowed:
            self.fail(
                error(
                    "misplaced-merge",
                    f"{label}: {_article(op)} {op} of branches needs its branches to be attributes of a block: write it in a block's "
                    "'layers', or in a branch written as a mapping of a block with 'flat: true'",
                    op_span,
                )
            )
            return None
        branches = self.branches(label, label, op, args, args_span, flat)
        if branches is None:
            return None
        return MergeCall(op, branches, op_span)

    def call(self, label: str, op: str, args: Any, op_span: Span, args_span: Span):
        if op in OP_ARGS:
            return self.op_call(label, op, args, op_span, args_span)
        if op in self.block_names:
            return self.block_call(label, op, args, op_span, args_span)
        known = [*OP_ARGS, *sorted(self.block_names)]
        hint = suggestion(op, known) or f"; expected one of {', '.join(known)}"
        self.fail(error("unknown-op", f"{label}: unknown op or block {op!r}{hint}", op_span))
        return None

    def op_call(self, label: str, op: str, args: Any, op_span: Span, args_span: Span) -> OpCall | None:
        if args is None:
            args = YMap()
            args.span, args.key_spans, args.value_spans = args_span, {}, {}
        if not isinstance(args, YMap):
            self.fail(error("wrong-type", f"{label}: {op} takes a mapping of arguments, got {show(args)}", args_span))
            return None
        defaults = self.defaults.get(op, YMap())
        merged = {**defaults, **args}
        spans = {**getattr(defaults, "value_spans", {}), **args.value_spans}
        holder = YMap(merged)
        holder.span, holder.key_spans, holder.value_spans = args_span, {**getattr(defaults, "key_spans", {}), **args.key_spans}, spans
        model = self.validate(OP_ARGS[op], holder, op_span, f"{label}: {op}", spans)
        if model is None:
            return None
        return OpCall(op, model, spans, op_span)

    def block_call(self, label: str, block: str, args: Any, op_span: Span, args_span: Span) -> BlockCall | None:
        if args is None:
            args = YList()
            args.span, args.item_spans = args_span, []
        if not isinstance(args, YList):
            self.fail(error("wrong-type", f"{label}: block {block!r} takes a list of its parameters, got {show(args)}", args_span))
            return None
        ok = True
        for i, value in enumerate(args):
            # Channel counts are checked against the parameter's type when the block is expanded.
            good_number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            good_symbol = isinstance(value, str) and IDENTIFIER.match(value)
            if not (good_number or good_symbol):
                ok = False
                self.fail(
                    error(
                        "bad-value",
                        f"{label}: argument {i + 1} of {block!r} must be a number, relu, none or a parameter name, got {show(value)}",
                        args.item_spans[i],
                    )
                )
        if not ok:
            return None
        return BlockCall(block, tuple(args), tuple(args.item_spans), op_span)


def _part(node: YMap, keys) -> YMap:
    """The entries of `node` under `keys`, with their spans."""
    part = YMap({key: value for key, value in node.items() if key in keys})
    part.span, part.key_spans, part.value_spans = node.span, node.key_spans, node.value_spans
    return part


def _inputs(node: YMap) -> tuple[tuple[str, ...] | None, tuple[Span, ...]]:
    """A layer's `from` (validated already), each name with where it is written."""
    if "from" not in node:
        return None, ()
    value = node["from"]
    if isinstance(value, str):
        return (value,), (node.value_spans["from"],)
    return tuple(value), tuple(value.item_spans)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _names_with_spans(node: YMap, key: str) -> tuple[tuple[str, ...], tuple[Span, ...]]:
    """A key holding one name or a list of names, each with where it was written."""
    value = node[key]
    if isinstance(value, YList):
        return tuple(value), tuple(value.item_spans)
    return (value,), (node.value_spans[key],)


def _name_by_op(layers: list[Layer]) -> tuple[Layer, ...]:
    """Unnamed list items take their op's name, numbered from 1 when an op appears more than once."""
    counts: dict[str, int] = {}
    for layer in layers:
        key = _op_name(layer)
        counts[key] = counts.get(key, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for layer in layers:
        key = _op_name(layer)
        seen[key] = seen.get(key, 0) + 1
        name = key if counts[key] == 1 else f"{key}{seen[key]}"
        out.append(replace(layer, name=name))
    return tuple(out)


def _op_name(layer: Layer) -> str:
    return layer.call.block if isinstance(layer.call, BlockCall) else layer.call.op
