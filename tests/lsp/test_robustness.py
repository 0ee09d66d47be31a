"""A broken spec never breaks the editor: for every shipped spec and every case of the bad corpus,
the server's diagnostics are `netgen check`'s, each where check puts it, and every feature answers
at every key and value without raising. The quick fixes each bad case names remove its error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lsprotocol import types

from netgen.check import check_spec
from netgen.lsp.complete import completions
from netgen.lsp.fixes import code_actions
from netgen.lsp.hover import hover, inlay_hints
from netgen.lsp.navigate import definition, document_symbols, references
from tests.conftest import GOOGLENET, ROOT, SPECS
from tests.lsp.helpers import analysis_of, apply_edits, view_of

TESTS = Path(__file__).resolve().parents[1] / "specs"


def _is_text(path: Path) -> bool:
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return False
    return True


# An editor's buffer is text: a file that is not UTF-8 never reaches the server as it is.
CORPUS = sorted(
    path
    for path in [*SPECS.glob("*.yaml"), *(TESTS / "bad").glob("*.yaml"), *(TESTS / "warn").glob("*.yaml")]
    if _is_text(path)
)


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_diagnostics_are_checks_at_the_place_check_gives(path):
    analysis = analysis_of(path)
    checked = check_spec(str(path.resolve()))
    published = analysis.diagnostics()
    assert [(d.code, d.message) for d in analysis.checked.diagnostics] == [
        (d.code, d.message) for d in checked.diagnostics
    ]
    assert len(published) == len(checked.diagnostics)
    for diagnostic, editor in zip(checked.diagnostics, published, strict=True):
        assert editor.code == (diagnostic.code or None)
        assert editor.severity == (
            types.DiagnosticSeverity.Error if diagnostic.severity == "error" else types.DiagnosticSeverity.Warning
        )
        if diagnostic.span is not None and diagnostic.span.file == analysis.path:
            assert editor.range.start == analysis.text.position(analysis.text.offset_of(diagnostic.span))
            if analysis.text.source.strip():
                assert (
                    editor.range.end.line > editor.range.start.line
                    or editor.range.end.character > editor.range.start.character
                )
        notes = [note for note in diagnostic.notes if note.span is not None]
        assert len(editor.related_information or []) >= len(notes)


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_feature_answers_everywhere(path):
    analysis = analysis_of(path)
    view = view_of(path)
    source = view.text.source
    places = {0, len(source)}
    places.update(entry.start for entry in view.outline.entries)  # a word's start and end are the same entry
    line_start = 0
    for line in source.splitlines(keepends=True):
        places.add(line_start + len(line.rstrip("\r\n")))  # where completion is asked most
        line_start += len(line)
    for at in sorted(places):
        hover(view, at)
        definition(view, at)
        references(view, at, True)
        completions(view, at)
    inlay_hints(view, 0, len(source))
    document_symbols(view)
    code_actions(view, analysis.diagnostics())


FIXED = {
    "concat-misaligned.yaml": "Set pad: 2",
    "count-is-float.yaml": "Write 16",
    "count-is-string.yaml": "Write 16 without quotes",
    "defaults-bad-values.yaml": "Change 'rleu' to 'relu'",
    "from-input-misspelt.yaml": "Change 'inptu' to 'input'",
    "head-unknown-layer.yaml": "Change 'conv_2' to 'conv2'",
    "name-starts-with-digit.yaml": "Rename '3a' to 'layer_3a'",
    "name-with-dash.yaml": "Rename 'conv-1' to 'conv_1'",
    "outputs-unknown-key.yaml": "Change 'clas' to 'class'",
    "outputs-unknown-source.yaml": "Change 'aux_2' to 'aux2'",
    "param-type-unknown.yaml": "Change 'flaot' to 'float'",
    "residual-act-misspelt.yaml": "Change 'rleu' to 'relu'",
    "row-misspelt.yaml": "Change '3z' to '3a'",
    "undefined-block-param.yaml": "Change 'widht' to 'width'",
    "undefined-block.yaml": "Change 'incepton' to 'inception'",
    "undefined-from-layer.yaml": "Change 'conv_1' to 'conv1'",
    "unknown-conv-arg.yaml": "Change 'kernal' to 'kernel'",
    "unknown-op-in-block-branch.yaml": "Change 'max_pool' to 'maxpool'",
    "unknown-op.yaml": "Change 'maxpoll' to 'maxpool'",
    "unknown-top-level-key.yaml": "Change 'num_class' to 'num_classes'",
    "yaml-base-60.yaml": "Write 64",
    "yaml-leading-zero.yaml": "Write 64",
    "yaml-yes-as-boolean.yaml": "Write true",
}


@pytest.mark.parametrize("name", sorted(FIXED))
def test_a_quick_fix_removes_the_error_it_is_offered_for(name, tmp_path):
    path = TESTS / "bad" / name
    analysis = analysis_of(path)
    view = view_of(path)
    published = analysis.diagnostics()
    actions = {action.title: action for action in code_actions(view, published)}
    action = actions[FIXED[name]]
    (fixed_diagnostic,) = action.diagnostics
    (edits,) = action.edit.changes.values()
    copy = tmp_path / name
    copy.write_text(apply_edits(view.text.source, edits), encoding="utf-8")
    for reference in (TESTS / "bad" / "reference").glob("*"):
        (tmp_path / "reference").mkdir(exist_ok=True)
        (tmp_path / "reference" / reference.name).write_bytes(reference.read_bytes())
    after = analysis_of(copy).diagnostics()
    same = [
        (d.code, d.range.start)
        for d in after
        if (d.code, d.range.start) == (fixed_diagnostic.code, fixed_diagnostic.range.start)
    ]
    assert not same, [d.message for d in after]


def test_the_pad_fix_makes_the_spec_check_clean(tmp_path):
    path = TESTS / "bad" / "concat-misaligned.yaml"
    view = view_of(path)
    (action,) = code_actions(view, analysis_of(path).diagnostics())
    assert action.is_preferred
    (edits,) = action.edit.changes.values()
    fixed = apply_edits(view.text.source, edits)
    assert "- conv: {out: n5x5, kernel: 5, pad: 2}" in fixed
    copy = tmp_path / "net.yaml"
    copy.write_text(fixed)
    assert analysis_of(copy).checked.diagnostics == []


def test_the_pad_fix_adds_the_argument_where_there_is_none(tmp_path):
    source = (TESTS / "bad" / "concat-misaligned.yaml").read_text().replace("kernel: 5, pad: 1}", "kernel: 5}")
    path = tmp_path / "net.yaml"
    path.write_text(source)
    (action,) = code_actions(view_of(path), analysis_of(path).diagnostics())
    (edits,) = action.edit.changes.values()
    assert "- conv: {out: n5x5, kernel: 5, pad: 2}" in apply_edits(source, edits)
    block_style = source.replace(
        "        - conv: {out: n5x5, kernel: 5}", "        - conv:\n            out: n5x5\n            kernel: 5"
    )
    path.write_text(block_style)
    (action,) = code_actions(view_of(path), analysis_of(path).diagnostics())
    (edits,) = action.edit.changes.values()
    assert "            kernel: 5\n            pad: 2\n" in apply_edits(block_style, edits)


def test_a_spec_that_does_not_parse_keeps_the_last_good_analysis():
    good = analysis_of(GOOGLENET)
    source = GOOGLENET.read_text(encoding="utf-8")
    broken = source.replace("layers:\n", "layers:\n  broken: {conv: [\n", 1).replace("  conv1:", "\n\n  conv1:", 1)
    view = view_of(GOOGLENET, broken, good=good)
    assert not view.fresh
    assert analysis_of(GOOGLENET, broken).checked.diagnostics[0].code == "yaml-syntax"
    text = hover(view, broken.index("inception3a:")).contents.value
    assert "output **28x28x256**" in text and "as of the last version of the spec that compiled" in text
    hints = {hint.label: hint.position.line for hint in inlay_hints(view, 0, len(broken))}
    lines = broken.splitlines()
    assert lines[hints["112x112x64"]].startswith("  conv1:")  # at the line the layer moved to


def test_the_server_imports_neither_torch_nor_onnx():
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from netgen.lsp import server
        from netgen.lsp.hover import hover, inlay_hints
        from tests.lsp.helpers import view_of

        view = view_of(Path("specs/googlenet.yaml"))
        inlay_hints(view, 0, len(view.text.source))
        hover(view, view.text.source.index("inception3a"))
        print(sorted(name for name in ("torch", "onnx", "onnxruntime", "numpy", "jinja2") if name in sys.modules))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
