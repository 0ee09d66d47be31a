"""Hold a compiled spec to its `claims:`: the counts and sizes a design states for itself.

Counts are the ones `netgen summary` prints and the generated module's PARAMS and MACS hold:
params are weights and biases (batch norm's scale and shift included) of the network without its
heads, multiply-adds those of one image at the spec's input size; depth counts layers with
weights on the longest path (and pooling layers too, for `depth_with_pooling`). Sizes are
compared in full: channels, height and width.

`netgen check` reports a claim that does not hold as an error at the claim; `netgen verify`
lists every claim with the network's value beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from netgen.diagnostics import Diagnostic, error
from netgen.ir.graph import Graph, Node
from netgen.ir.scopes import Scope, scope_tree
from netgen.spec.claims import Claim, CountClaim, SizeClaim
from netgen.spec.model import Spec
from netgen.spec.parse import suggestion
from netgen.summary import as_chw

LABELS = {
    "params": "params",
    "params_with_heads": "params with heads",
    "macs": "multiply-adds",
    "macs_with_heads": "multiply-adds with heads",
    "depth": "depth",
    "depth_with_pooling": "depth with pooling",
}


@dataclass(frozen=True)
class ClaimCheck:
    """One claim: what it states, what the network has, and whether that is what it allows."""

    claim: Claim
    label: str  # "params", "output size", "inception3a output size"
    computed: str  # "6,998,552", "28x28x256"
    ok: bool
    detail: str = ""  # an `≈` claim's distance from its value: "-0.0% from 7,000,000"

    @property
    def stated(self) -> str:
        return self.claim.text

    def message(self) -> str:
        """Why the claim does not hold, as a diagnostic says it."""
        claim = self.claim
        if isinstance(claim, SizeClaim):
            return f"claims: {self.label} is {self.computed}, not {claim} as claimed; change the network, or the claim"
        if claim.low is not None and claim.low == claim.high:
            return f"claims: {self.label} is {self.computed}, not {claim.low:,} as claimed; change the network, or the claim"
        detail = f" ({self.detail})" if self.detail else ""
        return (
            f"claims: {self.label} is {self.computed}{detail}, but {claim.text!r} allows {claim.allows()}; "
            "change the network, or the claim"
        )


def counts(graph: Graph) -> dict[str, int]:
    """Every count a claim can state, computed from the graph."""
    trunk = list(graph.trunk())
    everything = list(graph.nodes())
    return {
        "params": sum(node.weights + node.biases for node in trunk),
        "params_with_heads": sum(node.weights + node.biases for node in everything),
        "macs": sum(node.macs for node in trunk),
        "macs_with_heads": sum(node.macs for node in everything),
        "depth": graph.depth,
        "depth_with_pooling": graph.depth_with_pooling,
    }


def check_claims(spec: Spec, graph: Graph) -> tuple[list[ClaimCheck], list[Diagnostic]]:
    """Each claim judged, in the order written, and an error for each size claim naming no layer."""
    if not spec.claims:
        return [], []
    computed = counts(graph)
    parts: dict[str, Node] = {}
    for scope in scope_tree(spec, graph):
        _index(scope, parts)
    checks, problems = [], []
    for claim in spec.claims:
        if isinstance(claim, CountClaim):
            value = computed[claim.key]
            detail = ""
            if claim.centre:
                detail = f"{float((value - claim.centre) / Fraction(claim.centre)):+.1%} from {_whole(claim.centre)}"
            checks.append(ClaimCheck(claim, LABELS[claim.key], f"{value:,}", claim.holds(value), detail))
            continue
        if claim.layer is None:
            node = graph[graph.output]
            label = "output size"
        elif claim.layer in parts:
            node, label = parts[claim.layer], f"{claim.layer} output size"
        else:
            top = [*(layer.name for layer in spec.layers), *(head.name for head in spec.heads)]
            hint = suggestion(claim.layer, [*top, *parts]) or f"; the network's layers and heads are {', '.join(top)}"
            problems.append(
                error(
                    "unknown-layer",
                    f"claims: sizes: {claim.layer!r} names no layer of the network{hint}",
                    claim.name_span,
                )
            )
            continue
        size = tuple(as_chw(node.shape))
        c, h, w = size
        checks.append(ClaimCheck(claim, label, f"{h}x{w}x{c}", size == claim.chw))
    return checks, problems


def claim_problems(spec: Spec, graph: Graph) -> list[Diagnostic]:
    """What `netgen check` says about the claims: an error at each one that does not hold."""
    checks, problems = check_claims(spec, graph)
    failed = [error("claim-failed", check.message(), check.claim.span) for check in checks if not check.ok]
    return [*problems, *failed]


def _index(scope: Scope, parts: dict[str, Node]) -> None:
    parts.setdefault(scope.path, scope.exit)
    for child in scope.children:
        _index(child, parts)


def _whole(value: Fraction) -> str:
    return f"{value.numerator // value.denominator:,}" if value.denominator == 1 else f"{float(value):,.2f}"
