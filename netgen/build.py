"""Spec to files: compile, render every backend, check each artefact, then write them all at once.

Nothing is written until every artefact of a spec has been produced and checked; `netgen.files`
then writes them all or none, never onto a file the command read.
"""

from __future__ import annotations

import difflib
import keyword
import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from netgen.backends.layout import Layout, make_layout
from netgen.compile import compile_file, located_in_libraries, without_cycle_collection
from netgen.diagnostics import Span, SpecError, error
from netgen.files import open_regular, read_output, read_regular, write_files
from netgen.ir.graph import Graph
from netgen.spec.model import Spec


@dataclass(frozen=True)
class Artifact:
    name: str
    data: bytes
    golden: bool  # committed under generated/ and compared by `build --check`


# Modules a generated file must not hide when its folder is on sys.path: the standard library's, and
# those the generated file or the code around it imports. Compared ignoring case, as some file systems do.
SHADOWED_MODULES = frozenset(sys.stdlib_module_names) | {"torch", "torchvision", "onnx", "onnxruntime", "numpy", "timm", "netgen"}


def module_name(spec_path: str) -> str:
    """specs/googlenet-bn.yaml -> googlenet_bn: each ASCII character of the file name that an identifier
    cannot hold (punctuation, a space, a control character) becomes '_'."""
    return re.sub(r"[\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]", "_", Path(spec_path).stem)


def output_stem(spec_path: str) -> str:
    """The generated files' name, which `import` must load and which must hide no other module;
    a spec file whose name cannot give one is refused with a name that would."""
    name = module_name(spec_path)
    why = module_name_problem(name)
    if why is None:
        return name
    raise SpecError(
        error(
            "bad-file-name",
            f"the generated module would be named {name!r}, which {why}; rename the spec, e.g. to {suggest_name(name)}.yaml",
            Span(spec_path, 1, 1),
        )
    )


def module_name_problem(name: str) -> str | None:
    """Why generated files named `name` would not do (as the end of a sentence), or None."""
    if not name.isascii() or not name.isidentifier():
        return "is not a Python module name (ASCII letters, digits and '_', not starting with a digit)"
    if keyword.iskeyword(name):
        return "is a Python keyword, so `import` cannot load it"
    if name.lower() in SHADOWED_MODULES:
        return f"would hide the {name.lower()} module from code that imports it beside the generated file"
    return None


def suggest_name(name: str) -> str:
    """A module name like `name` that would do."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"\W", "_", ascii_name).strip("_") or "network"
    if ascii_name[0].isdigit():
        ascii_name = "net_" + ascii_name
    if keyword.iskeyword(ascii_name) or ascii_name.lower() in SHADOWED_MODULES:
        ascii_name += "_net"
    return ascii_name


@dataclass(frozen=True)
class Weights:
    """A state_dict read from a file, as numpy arrays, and how it was read (for the user)."""

    path: str
    tensors: dict
    how: str = ""


# What a state_dict of a network can take on disk, beyond its numbers: the pickle's or the
# safetensors header's framing and names.
WEIGHTS_FRAMING_BYTES = 64 << 20


def weights_limit(graph: Graph) -> int:
    """The most bytes a state_dict of `graph`'s network can take: every parameter, heads included,
    and as many buffers (batch norms' running statistics), in float64, and the framing."""
    return 2 * 8 * sum(node.weights + node.biases for node in graph.nodes()) + WEIGHTS_FRAMING_BYTES


def load_weights(path: str, limit: int) -> Weights:
    """A state_dict saved from the generated module, read without running code from the file: a
    safetensors file (what the generated save_weights() writes), or a torch.save pickle, which
    torch.load reads with weights_only=True (tensors and plain containers only). A file larger
    than `limit` (weights_limit()) is refused before it is read."""
    with open_regular(path, "weights") as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(9)
    if size > limit:
        message = f"weights are {size:,} bytes, more than any state_dict of this network takes ({limit:,} bytes at most)"
        raise SpecError(error("file-too-large", message, Span(path, 1, 1)))
    if path.endswith(".safetensors") or _looks_like_safetensors(head):
        return _load_safetensors(path, limit)
    import torch

    try:
        with open_regular(path, "weights") as handle:
            state = torch.load(handle, map_location="cpu", weights_only=True)
    except SpecError:
        raise
    except Exception as exc:  # torch raises several types for a corrupt or unsafe file
        raise SpecError(
            error("bad-weights", f"cannot read weights as a PyTorch state_dict: {_why_not_loaded(exc)}", Span(path, 1, 1))
        ) from None
    if not isinstance(state, dict) or not all(isinstance(key, str) and hasattr(value, "numpy") for key, value in state.items()):
        raise SpecError(error("bad-weights", "weights file does not hold a state_dict (a mapping of names to tensors)", Span(path, 1, 1)))
    how = "as a PyTorch pickle, with torch.load(weights_only=True), which unpickles tensors only and runs no code from the file"
    return Weights(path, {key: value.detach().cpu().numpy() for key, value in state.items()}, how)


def _why_not_loaded(exc: Exception) -> str:
    """torch.load's reason in one line. Its weights_only refusal opens with advice to load the file
    with weights_only=False, which would run the file's code: the line that names what the pickle
    holds is kept instead."""
    text = str(exc)
    if text.startswith("Weights only load failed"):
        named = re.search(r"GLOBAL ([\w.]+)", text)
        operand = re.search(r"Unsupported operand \d+", text)
        reason = (
            f"it calls {named.group(1)}" if named else operand.group(0) if operand else "it is not a pickle of tensors"
        )
        return f"weights_only=True refuses it, and nothing of it ran: {reason}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _looks_like_safetensors(head: bytes) -> bool:
    """safetensors files start with the length of their JSON header (8 bytes, little-endian), then '{'."""
    return len(head) == 9 and head[8:9] == b"{"


def _load_safetensors(path: str, limit: int) -> Weights:
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import load
    except ImportError:
        raise SpecError(error("bad-weights", "reading a .safetensors file needs the safetensors package: pip install safetensors", Span(path, 1, 1))) from None
    data = read_regular(path, "weights", limit)
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, TypeError) as exc:
        raise SpecError(error("bad-weights", f"cannot read weights as safetensors: {exc}".splitlines()[0], Span(path, 1, 1))) from None
    return Weights(path, tensors, "as safetensors: tensors only, nothing to unpickle")


def produce(
    spec_path: str, weights: Weights | None = None, inline_functions: bool = False, opset: int | None = None
) -> list[Artifact]:
    """Every file a spec builds to, each already checked by its backend."""
    spec, graph = compile_file(spec_path)
    return render_all(spec, graph, output_stem(spec_path), weights, inline_functions, opset)


def check_backends(spec: Spec, graph: Graph) -> None:
    """What `netgen check` adds to the passes: the PyTorch module's plan (its classes, attribute names
    and state_dict keys), made without rendering anything, so without torch, onnx or Jinja."""
    from netgen.backends.pytorch import plan_pytorch

    with without_cycle_collection(), located_in_libraries(spec):
        plan_pytorch(spec, graph, make_layout(spec, graph))


def render_all(
    spec: Spec,
    graph: Graph,
    stem: str,
    weights: Weights | None = None,
    inline_functions: bool = False,
    opset: int | None = None,
    optimize: bool = False,
    profile: bool = False,
) -> list[Artifact]:
    """Run every backend on a compiled spec; `optimize` adds the generated module's inference path
    (for_inference, from_plain) and writes the ONNX model rewritten for inference; `profile` runs
    each row of the module's forward() in a profiler range named after it."""
    with without_cycle_collection(), located_in_libraries(spec):
        return _render_all(spec, graph, stem, weights, inline_functions, opset, optimize, profile)


def _render_all(
    spec: Spec,
    graph: Graph,
    stem: str,
    weights: Weights | None,
    inline_functions: bool,
    opset: int | None,
    optimize: bool,
    profile: bool,
) -> list[Artifact]:
    from netgen.backends.onnx_backend import OPSET, build_onnx, onnx_graph_text
    from netgen.backends.pytorch import render_pytorch

    layout = make_layout(spec, graph)
    if weights is not None:
        _refuse_unknown_keys(weights, layout)
    source = render_pytorch(spec, graph, layout, optimize, profile)
    state_dict = weights.tensors if weights is not None else None
    model = build_onnx(
        spec, graph, layout, state_dict=state_dict, inline_functions=inline_functions or optimize, opset=opset or OPSET
    )
    if optimize:
        from netgen.backends.onnx_inference import optimize_for_inference

        model = optimize_for_inference(model)
    return [
        Artifact(f"{stem}.py", source.encode(), golden=True),
        Artifact(f"{stem}.onnx.txt", onnx_graph_text(model).encode(), golden=True),
        Artifact(f"{stem}.onnx", model.SerializeToString(deterministic=True), golden=False),
    ]


def _refuse_unknown_keys(weights: Weights, layout: Layout) -> None:
    """A key the generated module has no parameter or buffer for is a state_dict of another network."""
    known = {slot.key for slots in layout.slots.values() for slot in slots}
    unknown = [key for key in weights.tensors if key not in known]
    if unknown:
        shown = ", ".join(repr(key) for key in unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise SpecError(
            error(
                "weights-mismatch",
                f"the weights hold {len(unknown)} {'tensor' if len(unknown) == 1 else 'tensors'} the network has no "
                f"place for: {shown}; they belong to another network or another version of this spec",
                Span(weights.path, 1, 1),
            )
        )


def write_all(out_dir: Path, artifacts: list[Artifact]) -> list[Path]:
    """Every artefact written into `out_dir`, all at once or none (`netgen.files.write_files`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_files([(out_dir / artifact.name, artifact.data) for artifact in artifacts])


def stale_names(out_dir: Path, artifacts: list[Artifact]) -> list[str]:
    """The committed files (as paths under `out_dir`) that differ from what the spec builds to now."""
    return [str(out_dir / artifact.name) for artifact in artifacts if artifact.golden and _differs(out_dir / artifact.name, artifact)]


def _differs(target: Path, artifact: Artifact) -> bool:
    # A folder or a pipe where a generated file belongs is an OSError: reading it would fail or wait forever.
    return read_output(target) != artifact.data


def stale(out_dir: Path, artifacts: list[Artifact]) -> list[str]:
    """Unified diffs of every committed artefact that differs from what the spec builds to now."""
    diffs = []
    for artifact in artifacts:
        if not artifact.golden:
            continue
        target = out_dir / artifact.name
        found = read_output(target)  # an OSError for a folder or a pipe where a generated file belongs
        if found != artifact.data:
            old_data = found if found is not None else b""
            # Bytes, not text: reading text would turn a "\r" in a description into a newline.
            old, new = old_data.decode("utf-8", errors="replace"), artifact.data.decode()
            diff = difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=str(target) if found is not None else "/dev/null",
                tofile=f"{target} (rebuilt)",
            )
            diffs.append("".join(diff))
    return diffs
