"""Spec to files: compile, render every backend, check each artefact, then write them all at once.

Nothing is written until every artefact of a spec has been produced and checked; files are
written to temporary names beside their targets and renamed into place, so a failure at any
stage leaves the previous output byte-identical. Files are created as any other would be: with
the permissions the umask leaves (0644 under umask 022).
"""

from __future__ import annotations

import difflib
import errno
import keyword
import os
import re
import secrets
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from netgen.backends.layout import Layout, make_layout
from netgen.compile import compile_file, located_in_libraries, without_cycle_collection
from netgen.diagnostics import Span, SpecError, error
from netgen.ir.graph import Graph
from netgen.spec.files import open_regular
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
    if not name.isascii() or not name.isidentifier():
        why = "is not a Python module name (ASCII letters, digits and '_', not starting with a digit)"
    elif keyword.iskeyword(name):
        why = "is a Python keyword, so `import` cannot load it"
    elif name.lower() in SHADOWED_MODULES:
        why = f"would hide the {name.lower()} module from code that imports it beside the generated file"
    else:
        return name
    raise SpecError(
        error(
            "bad-file-name",
            f"the generated module would be named {name!r}, which {why}; rename the spec, e.g. to {_suggest(name)}.yaml",
            Span(spec_path, 1, 1),
        )
    )


def _suggest(name: str) -> str:
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


def load_weights(path: str) -> Weights:
    """A state_dict saved from the generated module, read without running code from the file: a
    safetensors file (what the generated save_weights() writes), or a torch.save pickle, which
    torch.load reads with weights_only=True (tensors and plain containers only)."""
    with open_regular(path, "weights") as handle:
        head = handle.read(9)
    if path.endswith(".safetensors") or _looks_like_safetensors(head):
        return _load_safetensors(path)
    import torch

    try:
        with open_regular(path, "weights") as handle:
            state = torch.load(handle, map_location="cpu", weights_only=True)
    except SpecError:
        raise
    except Exception as exc:  # torch raises several types for a corrupt or unsafe file
        raise SpecError(
            error("bad-weights", f"cannot read weights as a PyTorch state_dict: {exc}".splitlines()[0], Span(path, 1, 1))
        ) from None
    if not isinstance(state, dict) or not all(isinstance(key, str) and hasattr(value, "numpy") for key, value in state.items()):
        raise SpecError(error("bad-weights", "weights file does not hold a state_dict (a mapping of names to tensors)", Span(path, 1, 1)))
    how = "as a PyTorch pickle, with torch.load(weights_only=True), which unpickles tensors only and runs no code from the file"
    return Weights(path, {key: value.detach().cpu().numpy() for key, value in state.items()}, how)


def _looks_like_safetensors(head: bytes) -> bool:
    """safetensors files start with the length of their JSON header (8 bytes, little-endian), then '{'."""
    return len(head) == 9 and head[8:9] == b"{"


def _load_safetensors(path: str) -> Weights:
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import load
    except ImportError:
        raise SpecError(error("bad-weights", "reading a .safetensors file needs the safetensors package: pip install safetensors", Span(path, 1, 1))) from None
    with open_regular(path, "weights") as handle:
        data = handle.read()
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
) -> list[Artifact]:
    """Run every backend on a compiled spec; `optimize` adds the generated module's inference path
    (for_inference, from_plain) and writes the ONNX model rewritten for inference."""
    with without_cycle_collection(), located_in_libraries(spec):
        return _render_all(spec, graph, stem, weights, inline_functions, opset, optimize)


def _render_all(
    spec: Spec, graph: Graph, stem: str, weights: Weights | None, inline_functions: bool, opset: int | None, optimize: bool
) -> list[Artifact]:
    from netgen.backends.onnx_backend import OPSET, build_onnx, onnx_graph_text
    from netgen.backends.pytorch import render_pytorch

    layout = make_layout(spec, graph)
    if weights is not None:
        _refuse_unknown_keys(weights, layout)
    source = render_pytorch(spec, graph, layout, optimize)
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
    """Write to temporary files first; rename into place only when all were written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [out_dir / artifact.name for artifact in artifacts]
    for target in targets:
        _check_target(target)
    staged: list[tuple[Path, Path]] = []
    try:
        for artifact, target in zip(artifacts, targets, strict=True):
            handle, temp = _create_beside(target)
            staged.append((temp, target))
            with os.fdopen(handle, "wb") as stream:
                stream.write(artifact.data)
                stream.flush()
                os.fsync(stream.fileno())
        commit(staged)
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    return targets


def _check_target(target: Path) -> None:
    """Failures the system would report only halfway through, about a temporary file: raised first, about the target."""
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    try:
        longest = os.pathconf(target.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    if len(os.fsencode(target.name)) > longest:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(target))


def _create_beside(target: Path) -> tuple[int, Path]:
    """A new, hidden temporary file next to `target`, created with mode 0666 so that the umask decides
    its permissions as for any file a program creates (mkstemp would make it 0600)."""
    while True:
        temp = _beside(target, ".tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), temp
        except FileExistsError:
            continue


def _link_beside(target: Path) -> Path:
    """A hard link to `target` under a new hidden name next to it: the previous file, kept until the new one is in place."""
    while True:
        backup = _beside(target, ".previous")
        try:
            os.link(target, backup)
            return backup
        except FileExistsError:
            continue


def _beside(target: Path, suffix: str) -> Path:
    # Short, whatever the target's name: a name the file system takes for the target fits it too.
    return target.with_name(f".netgen-{secrets.token_hex(6)}{suffix}")


def commit(staged: list[tuple[Path, Path]]) -> None:
    """The last stage: rename every file into place, or put every earlier one back if one fails."""
    backups: list[tuple[Path, Path | None]] = []
    try:
        for temp, target in staged:
            backup = None
            if target.exists():
                backup = _link_beside(target)
            backups.append((target, backup))
            os.replace(temp, target)
    except BaseException:
        for target, backup in reversed(backups):
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        raise
    finally:
        for _, backup in backups:
            if backup is not None:
                backup.unlink(missing_ok=True)


def stale_names(out_dir: Path, artifacts: list[Artifact]) -> list[str]:
    """The committed files (as paths under `out_dir`) that differ from what the spec builds to now."""
    return [str(out_dir / artifact.name) for artifact in artifacts if artifact.golden and _differs(out_dir / artifact.name, artifact)]


def _differs(target: Path, artifact: Artifact) -> bool:
    if target.exists() and not target.is_file():
        # A folder or a pipe where a generated file belongs: reading it would fail or wait forever.
        raise OSError(errno.EINVAL, "it is not a regular file", str(target))
    return not target.exists() or target.read_bytes() != artifact.data


def stale(out_dir: Path, artifacts: list[Artifact]) -> list[str]:
    """Unified diffs of every committed artefact that differs from what the spec builds to now."""
    diffs = []
    for artifact in artifacts:
        if not artifact.golden:
            continue
        target = out_dir / artifact.name
        if _differs(target, artifact):
            old_data = target.read_bytes() if target.exists() else b""
            # Bytes, not text: reading text would turn a "\r" in a description into a newline.
            old, new = old_data.decode("utf-8", errors="replace"), artifact.data.decode()
            diff = difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=str(target) if target.exists() else "/dev/null",
                tofile=f"{target} (rebuilt)",
            )
            diffs.append("".join(diff))
    return diffs
