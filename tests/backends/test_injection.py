"""Spec text never becomes code.

Each payload tries to break out of the literal, comment or docstring it lands in and run code that
creates a canary file. Wherever a spec can hold it, netgen either refuses it with located
diagnostics or builds a network in which it is inert: the generated file parses and holds exactly
the code the harmless spec gives (the payload only inside docstrings, where it reads back as
written), it imports, instantiates and runs; the ONNX model and its text load and check; and the
canary never appears. Valid identifiers that name Python's own machinery (`__import__`, `super`,
`self`) are renamed or refused, so they cannot hide what the generated code calls.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnx.checker
import onnx.parser
import pytest
import torch
import yaml

from netgen.build import module_name, produce
from netgen.diagnostics import Severity, SpecError
from netgen.printable import escape
from tests.backends.conftest import import_source
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NETWORK = "Tiny"
DESCRIPTION = "A tiny network."
INPUT = (3, 16, 16)
CLASSES = 10


def tiny_spec(
    network: str = NETWORK,
    description: str = DESCRIPTION,
    block: str = "mixed",
    branch: str = "left",
    branch_layer: str = "squeeze",
    param: str = "wide",
    seq_block: str = "classifier",
    block_layer: str = "fc",
    layer: str = "stem",
    head: str = "aux",
    row: str = "conv1",
    reason: str = "the stem is narrow",
    deviation_row: str = "conv1",
    deviation_cell: str = "params",
    reference: str = "reference/tiny.yaml",
) -> dict:
    """A small network with a place for every kind of spec text; each name is used consistently."""
    return {
        "name": network,
        "description": description,
        "input": list(INPUT),
        "num_classes": CLASSES,
        "reference": reference,
        "init": {"weight": "xavier_uniform", "std": 0.01, "bias": 0.2, "classifier_bias": 0.0},
        "blocks": {
            block: {
                "params": [param, "narrow"],
                "concat": {
                    branch: [{"conv": {"out": param, "kernel": 1, "act": "relu"}}],
                    "right": {
                        branch_layer: {"conv": {"out": "narrow", "kernel": 1, "act": "relu"}},
                        "expand": {
                            "conv": {"out": "narrow", "kernel": 3, "pad": 1, "act": "relu"},
                            "from": branch_layer,
                        },
                    },
                },
            },
            seq_block: {
                "params": [],
                "layers": {
                    "pool": {"global_avgpool": None},
                    "flatten": {"flatten": None},
                    block_layer: {"linear": {"out": "num_classes"}},
                },
            },
        },
        "layers": {
            layer: {"conv": {"out": 8, "kernel": 3, "pad": 1, "act": "relu"}, "row": row},
            "mix": {block: [4, 4]},
            "skip": {"conv": {"out": 8, "kernel": 1}, "from": layer},
            "join": {"concat": None, "from": ["mix", "skip"]},
            "top": {seq_block: []},
        },
        "heads": {head: {seq_block: [], "from": layer, "loss_weight": 0.3}},
        "deviations": [{"row": deviation_row, "cell": deviation_cell, "reason": reason}],
    }


def _with(path: tuple[str | int, ...]) -> Callable[[str], dict]:
    """The harmless spec with the value at `path` replaced."""

    def make(text: str) -> dict:
        spec = tiny_spec()
        node = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = text
        return spec

    return make


# -- payloads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """Code that creates the canary, in the forms the payloads wrap."""

    system: str  # Python, through a shell
    open: str  # Python, directly
    jinja: str  # a Jinja expression reaching `os` through a template global


def attack(canary: Path, in_file_name: bool = False) -> Attack:
    # A file name cannot hold '/': there the path is spelt with an escape Python and Jinja both read.
    path = str(canary).replace("/", "\\x2f") if in_file_name else str(canary)
    return Attack(
        system=f"__import__('os').system('touch {path}')",
        open=f"open('{path}', 'w')",
        jinja=f"lipsum.__globals__['os'].system('touch {path}')",
    )


PAYLOADS: dict[str, Callable[[Attack], str]] = {
    "triple-double-quotes": lambda a: f'"""; {a.system}  # ',
    "escaped-triple-quotes": lambda a: f'\\"\\"\\"; {a.system}  # ',
    "triple-single-quotes": lambda a: f"'''; {a.open}  # ",
    "closing-quotes": lambda a: f"'\"); {a.system}; (\"'",
    "trailing-backslash": lambda a: f"{a.open} \\",
    "backslash-before-quotes": lambda a: f'\\"""\n{a.system}\n"""\\',
    "newline": lambda a: f'\n"""\n{a.system}\n"""\n',
    "carriage-return": lambda a: f'\r"""\r{a.system}\r',
    "crlf": lambda a: f'\r\n"""\r\n{a.open}\r\n',
    "nul": lambda a: f'\x00"""\x00{a.system}',
    "line-separator": lambda a: f'\u2028"""\u2028{a.system}',
    "paragraph-separator": lambda a: f'\u2029"""\u2029{a.open}',
    "next-line": lambda a: f'\x85"""\x85{a.system}',
    "control-characters": lambda a: f'\x0b\x0c\x1b[2J\x7f"""{a.open}',
    "jinja-expression": lambda a: f"{{{{ {a.jinja} }}}}",
    "jinja-statement": lambda a: f"{{% set _ = {a.jinja} %}}{{% raw %}}",
    "comment": lambda a: f"# {a.system}\n{a.open}",
    "indented-code": lambda a: f"\n    {a.open}\n\t{a.system}\n",
    "literal-escapes": lambda a: f"\\N{{BULLET}} \\x41 \\u2028 \\n {a.system}",
    "lone-surrogate": lambda a: f'\ud800"""{a.system}',
    "bidi-override": lambda a: f'\ufeff\u202e"""{a.system}',
    # ONNX text: close the doc_string and write a graph of its own.
    "onnx-text": lambda a: (
        f'" >\nevil (float[1] x) => (float[1] y) {{\n   y = Identity (x)\n}}\n< doc_string: "{a.system}'
    ),
}
NOT_IN_FILE_NAMES = {"nul", "lone-surrogate"}  # the file system takes neither
# Every payload goes where text reaches the generated files and into the names most specs use;
# elsewhere one payload of each kind (quotes, line breaks, control and non-ASCII characters, Jinja)
# stands for the rest, to keep the run short.
SAMPLE = ["triple-double-quotes", "newline", "nul", "line-separator", "jinja-expression"]


@dataclass(frozen=True)
class Position:
    name: str
    kind: str  # text: free text, which builds; name or number: refused unless an identifier or a number
    make: Callable[[str], dict]
    in_file_name: bool = False
    every_payload: bool = False


POSITIONS = [
    Position("description", "text", lambda text: tiny_spec(description=text), every_payload=True),
    Position("spec-file-name", "text", lambda text: tiny_spec(), in_file_name=True, every_payload=True),
    Position("row", "text", lambda text: tiny_spec(row=text)),
    Position("deviation-reason", "text", lambda text: tiny_spec(reason=text)),
    Position("deviation-row", "text", lambda text: tiny_spec(deviation_row=text)),
    Position("deviation-cell", "text", lambda text: tiny_spec(deviation_cell=text)),
    Position("reference", "text", lambda text: tiny_spec(reference=text)),
    Position("network-name", "name", lambda text: tiny_spec(network=text)),
    Position("block-name", "name", lambda text: tiny_spec(block=text)),
    Position("branch-name", "name", lambda text: tiny_spec(branch=text)),
    Position("branch-layer-name", "name", lambda text: tiny_spec(branch_layer=text)),
    Position("block-parameter", "name", lambda text: tiny_spec(param=text)),
    Position("block-layer-name", "name", lambda text: tiny_spec(block_layer=text)),
    Position("layer-name", "name", lambda text: tiny_spec(layer=text), every_payload=True),
    Position("head-name", "name", lambda text: tiny_spec(head=text)),
    Position("from", "name", _with(("layers", "skip", "from"))),
    Position("block-argument", "number", _with(("layers", "mix", "mixed", 0))),
    Position("conv-out", "number", _with(("layers", "stem", "conv", "out"))),
    Position("kernel", "number", _with(("layers", "stem", "conv", "kernel"))),
    Position("pad", "number", _with(("layers", "stem", "conv", "pad"))),
    Position("act", "number", _with(("layers", "stem", "conv", "act"))),
    Position("input", "number", _with(("input", 0))),
    Position("num-classes", "number", _with(("num_classes",))),
    Position("width", "number", _with(("width",))),
    Position("loss-weight", "number", _with(("heads", "aux", "loss_weight"))),
    Position("init-std", "number", _with(("init", "std"))),
]

TEXT_CASES = [
    pytest.param(payload, position, id=f"{position.name}-{payload}")
    for position in POSITIONS
    for payload in (PAYLOADS if position.every_payload else SAMPLE)
    if not (position.in_file_name and payload in NOT_IN_FILE_NAMES)
]
# Free text that reaches no generated file: the files come out byte for byte as the harmless spec's.
UNUSED_BY_BUILD = {"row", "deviation-reason", "deviation-row", "deviation-cell", "reference"}


def expect_built(payload: str, position: Position) -> bool:
    if position.kind != "text":
        return False
    if position.in_file_name:
        # ASCII punctuation in a file name becomes '_' in the module's name; other characters make
        # no module `import` can load by that name, and are refused with a name that would do.
        return PAYLOADS[payload](attack(Path("/canary"))).isascii()
    # No output holds either (ONNX text ends a string at a NUL, UTF-8 has no half surrogate pairs),
    # so the loader refuses them in any text.
    return payload not in {"nul", "lone-surrogate"}


# Valid identifiers that are also names Python or the generated code relies on.
IDENTIFIERS = ["__import__", "super", "isinstance", "self", "match", "OrderedDict"]
# Builtins the generated code calls or could be tricked into calling: always renamed, never refused.
BUILTINS_RENAMED = {"__import__", "super", "isinstance"}
NAME_POSITIONS = ["network", "block", "branch", "branch_layer", "param", "seq_block", "block_layer", "layer", "head"]
IDENTIFIER_CASES = [
    pytest.param(identifier, position, id=f"{position}-{identifier}")
    for position in NAME_POSITIONS
    for identifier in IDENTIFIERS
]


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def canary(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("canary") / "CANARY"
    assert re.fullmatch(r"[\w/.-]+", str(path)), "the payloads quote the path as it is"
    return path


def write_spec(folder: Path, spec: dict, stem: str = "net", read_back: bool = True) -> Path:
    # ASCII YAML: every odd character is written as an escape that YAML reads back. libyaml is
    # quicker but writes no half surrogate pair; pyyaml does.
    try:
        text = yaml.dump(spec, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=False)
    except UnicodeEncodeError:
        text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=False)
    if read_back:
        assert yaml.safe_load(text) == spec, "the payload must reach netgen as written"
    path = folder / f"{stem}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def file_stem(text: str) -> str:
    assert len(f"{text}.yaml".encode()) <= 255, "a file name holds at most 255 bytes"
    return text


@dataclass(frozen=True)
class Built:
    """The files one spec builds to."""

    source: str
    tree: ast.Module
    onnx_model: onnx.ModelProto
    onnx_text: str


def split(artifacts) -> Built:
    """The PyTorch source parsed, the ONNX model loaded, and the model's text."""
    data = {artifact.name.split(".", 1)[1]: artifact.data for artifact in artifacts}
    return Built(
        data["py"].decode(),
        ast.parse(data["py"].decode()),
        onnx.load_model_from_string(data["onnx"]),
        data["onnx.txt"].decode(),
    )


@pytest.fixture(scope="session")
def baseline(tmp_path_factory) -> Built:
    """What the harmless spec builds to."""
    return split(produce(str(write_spec(tmp_path_factory.mktemp("baseline"), tiny_spec()))))


def assert_located(refused: SpecError, path: Path) -> None:
    errors = [d for d in refused.diagnostics if d.severity is Severity.ERROR]
    assert errors
    for diagnostic in errors:
        assert diagnostic.code, diagnostic.render()
        assert diagnostic.span is not None and diagnostic.span.file == str(path), diagnostic.render()
        assert diagnostic.span.line >= 1 and diagnostic.span.col >= 1


def _docstring_owners(tree: ast.Module) -> list[ast.Module | ast.ClassDef | ast.FunctionDef]:
    """The module and each class and function that opens with a docstring."""
    owners = [tree, *(node for node in ast.walk(tree) if isinstance(node, (ast.ClassDef, ast.FunctionDef)))]
    return [
        owner
        for owner in owners
        if owner.body
        and isinstance(owner.body[0], ast.Expr)
        and isinstance(owner.body[0].value, ast.Constant)
        and isinstance(owner.body[0].value.value, str)
    ]


def code_only(tree: ast.Module) -> str:
    """The module's code with every docstring left out."""
    stripped = copy.deepcopy(tree)
    for owner in _docstring_owners(stripped):
        owner.body = owner.body[1:]
    return ast.dump(stripped)


def words(text: str) -> list[str]:
    # ruff re-indents a docstring's lines and trims their ends; the words read back as written.
    return text.split()


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def assert_only_generated_calls(tree: ast.Module) -> None:
    """Calls go to the file's own classes, a few builtins, the safetensors functions the weight helpers
    import, or through torch, nn, F, math, self and super()."""
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    builtins = {"super", "isinstance", "OrderedDict", "sum", "zip", "dict", "tuple", "range", "len", "next", "str", "type", "getattr", "set"}
    callable_names = classes | builtins | {"ImportError", "save_file", "load_file"}
    roots = {"self", "torch", "nn", "F", "math", "module", "super", "LOSS_WEIGHTS", "outputs", "graph", "_StageTracer", "value", "extractor"}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name):
            assert node.func.id in callable_names, ast.unparse(node)
        else:
            root = _root(node.func)
            assert isinstance(root, ast.Name) and root.id in roots, ast.unparse(node)


def assert_no_code_outside_docstrings(tree: ast.Module, canary: Path) -> None:
    inert = {id(owner.body[0].value) for owner in _docstring_owners(tree)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inert:
            assert canary.name not in node.value and "__import__" not in node.value, node.value
        if isinstance(node, ast.Name):
            assert node.id not in {"__import__", "eval", "exec", "open", "compile", "os", "lipsum"}, node.id
        if isinstance(node, ast.Attribute):
            assert node.attr not in {"system", "popen", "__globals__"}, node.attr


_ran: set[str] = set()


def run_network(built: Built, folder: Path) -> None:
    """Import the generated file, build the network and run it, in training (with its head) and inference."""
    if built.source in _ran:
        return  # the same file was run already
    _, module = import_source(built.source, folder, "generated_net")
    network_class = [node.name for node in built.tree.body if isinstance(node, ast.ClassDef)][-1]
    network = getattr(module, network_class)()
    images = torch.randn(2, *INPUT)
    outputs = network(images)
    assert [tuple(output.shape) for output in outputs] == [(2, CLASSES), (2, CLASSES)]
    network.eval()
    with torch.no_grad():
        assert network(images).shape == (2, CLASSES)
    _ran.add(built.source)


def check_onnx(built: Built) -> onnx.ModelProto:
    """The model passes onnx.checker, and its text parses back to the same graph and doc_string, with
    what a terminal would obey written as escapes in the text."""
    onnx.checker.check_model(built.onnx_model)
    assert all(ch.isprintable() or ch == "\n" for ch in built.onnx_text)
    from_text = onnx.parser.parse_model(built.onnx_text)
    assert from_text.doc_string == escape(built.onnx_model.doc_string)
    assert [node.output for node in from_text.graph.node] == [node.output for node in built.onnx_model.graph.node]
    return from_text


# -- hostile text ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def baseline_code(baseline) -> str:
    return code_only(baseline.tree)


@pytest.mark.parametrize(("payload", "position"), TEXT_CASES)
def test_hostile_text_is_refused_or_inert(payload, position, canary, baseline, baseline_code, tmp_path):
    text = PAYLOADS[payload](attack(canary, position.in_file_name))
    stem = file_stem(text) if position.in_file_name else "net"
    path = write_spec(tmp_path, position.make(text), stem)
    expected = expect_built(payload, position)
    try:
        built = split(produce(str(path)))
    except SpecError as refused:
        assert not expected, refused
        assert_located(refused, path)
        assert not canary.exists()
        return
    assert expected, f"{position.name} must not take {text!r}"

    if position.name in UNUSED_BY_BUILD:
        assert (built.source, built.onnx_text) == (baseline.source, baseline.onnx_text)
    # The code is exactly the harmless spec's: the payload changed nothing but docstrings.
    assert code_only(built.tree) == baseline_code
    assert_only_generated_calls(built.tree)
    assert_no_code_outside_docstrings(built.tree, canary)
    description = text if position.name == "description" else DESCRIPTION
    assert words(ast.get_docstring(built.tree, clean=False)) == words(
        f"{NETWORK}, generated by netgen from {path.name}: edit the spec, not this file.\n\n{description}\n"
    )
    network = [node for node in built.tree.body if isinstance(node, ast.ClassDef)][-1]
    network_doc = ast.get_docstring(network, clean=False)
    assert " ".join(words(f"{NETWORK} as {path.name} describes it,")) in " ".join(words(network_doc))

    from_text = check_onnx(built)
    assert built.onnx_model.doc_string == description
    baseline_model = onnx.parser.parse_model(baseline.onnx_text)
    assert from_text.graph == baseline_model.graph
    assert list(from_text.functions) == list(baseline_model.functions)
    run_network(built, tmp_path)
    assert not canary.exists()


# -- identifiers that mean something to Python -------------------------------------------------


@pytest.mark.parametrize(("identifier", "position"), IDENTIFIER_CASES)
def test_python_names_are_renamed_or_refused(identifier, position, baseline, tmp_path):
    path = write_spec(tmp_path, tiny_spec(**{position: identifier}))
    try:
        built = split(produce(str(path)))
    except SpecError as refused:
        assert identifier not in BUILTINS_RENAMED, refused
        assert_located(refused, path)
        return
    assert_only_generated_calls(built.tree)
    # The same statements at the top level: no name added or removed a class, import or constant.
    kinds = [type(node).__name__ for node in built.tree.body]
    assert kinds == [type(node).__name__ for node in baseline.tree.body]
    check_onnx(built)
    run_network(built, tmp_path)


# -- the command line --------------------------------------------------------------------------


def _netgen(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "NETGEN_TRACEBACK"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    # Bytes, not text: universal newlines would turn a '\r' in a file name into '\n'.
    return subprocess.run([sys.executable, "-m", "netgen", *args], cwd=cwd, env=env, capture_output=True, timeout=300)


def _write_every_spec(canary: Path, folder: Path) -> dict[str, bool | None]:
    """Every case's spec; returns each file name and whether it builds (None: either)."""
    expected: dict[str, bool | None] = {}
    for index, case in enumerate(TEXT_CASES):
        payload, position = case.values
        text = PAYLOADS[payload](attack(canary, position.in_file_name))
        # A module's name starts with a letter: `case` leads the number that keeps the names apart.
        stem = file_stem(f"case{index:03d}{text}") if position.in_file_name else f"case{index:03d}-{case.id}"
        expected[write_spec(folder, position.make(text), stem, read_back=False).name] = expect_built(payload, position)
    for index, case in enumerate(IDENTIFIER_CASES, start=len(expected)):
        identifier, position = case.values
        path = write_spec(folder, tiny_spec(**{position: identifier}), f"case{index:03d}-{case.id}", read_back=False)
        expected[path.name] = True if identifier in BUILTINS_RENAMED else None
    return expected


@pytest.mark.slow
def test_cli_refuses_or_builds_every_hostile_spec(canary, tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    expected = _write_every_spec(canary, specs)
    names = list(expected)
    check = _netgen("check", *names, cwd=specs)
    assert sorted(path.name for path in specs.iterdir()) == sorted(names), "netgen check wrote a file"
    build = _netgen("build", *names, "--out", "out", cwd=specs)
    for run in (check, build):
        output = (run.stdout + run.stderr).decode("utf-8")
        assert "Traceback" not in output and "internal error" not in output, output[-2000:]
        assert run.returncode == 1, output[-2000:]  # some specs are refused; nothing else goes wrong

    check_out, check_err = check.stdout.decode("utf-8"), check.stderr.decode("utf-8")
    build_err = build.stderr.decode("utf-8")
    for name, builds in expected.items():
        shown = re.escape(escape(name))  # as the command line prints it
        located = re.compile(r"(?:^|\n)" + shown + r":\d+:\d+: error: [^\n]+ \[[a-z0-9-]+\]")
        checked = re.search(r"(?:^|\n)" + shown + r": ok \(", check_out)
        assert bool(checked) != bool(located.search(check_err)), name

        out = specs / "out" / module_name(name)
        written = [Path(f"{out}{suffix}").is_file() for suffix in (".py", ".onnx.txt", ".onnx")]
        assert written in ([True] * 3, [False] * 3), name
        assert written[0] != bool(located.search(build_err)), name
        if builds is not None:
            assert written[0] == builds, name
        if written[0]:
            ast.parse(Path(f"{out}.py").read_bytes().decode("utf-8"))
            onnx.checker.check_model(onnx.load(f"{out}.onnx"))
            onnx.parser.parse_model(Path(f"{out}.onnx.txt").read_bytes().decode("utf-8"))
    assert not canary.exists()
