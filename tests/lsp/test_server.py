"""`netgen lsp` through a real client: pytest-lsp starts the server as a subprocess and speaks
LSP to it over stdio, as VS Code or Neovim do. Each feature on a shipped spec and on broken ones."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from netgen.lsp.analysis import is_spec
from tests.conftest import GOOGLENET, ROOT, SPECS
from tests.lsp.helpers import apply_edits

BAD = Path(__file__).resolve().parents[1] / "specs" / "bad"
PUBLISHED = types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "netgen", "lsp"]), scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT.as_uri())
    )
    yield
    await lsp_client.shutdown_session()


class Document:
    """A buffer the test edits: each change is sent as an incremental edit, then its diagnostics awaited."""

    def __init__(self, client: LanguageClient, path: Path, text: str | None = None):
        self.client = client
        self.uri = path.resolve().as_uri()
        self.text = path.read_text(encoding="utf-8") if text is None else text
        self.version = 1

    async def _published(self, send, version: int | None = -1) -> list[types.Diagnostic]:
        """Send, then wait for this buffer's diagnostics of this version. Every test waits for each
        notification it causes (closing a buffer clears its diagnostics too), so none is missed."""
        version = self.version if version == -1 else version
        waiting = self.client.protocol.wait_for_notification_async(PUBLISHED)
        send()
        params = await asyncio.wait_for(waiting, 60)
        assert (params.uri, params.version) == (self.uri, version)
        return list(params.diagnostics)

    async def open(self) -> list[types.Diagnostic]:
        item = types.TextDocumentItem(self.uri, "yaml", self.version, self.text)
        return await self._published(lambda: self.client.text_document_did_open(types.DidOpenTextDocumentParams(item)))

    async def edit(self, edits: list[types.TextEdit]) -> list[types.Diagnostic]:
        """Apply edits (each an incremental change, last first, as an editor sends them)."""
        self.version += 1
        ordered = sorted(edits, key=lambda edit: (edit.range.start.line, edit.range.start.character), reverse=True)
        changes = [types.TextDocumentContentChangePartial(range=edit.range, text=edit.new_text) for edit in ordered]
        self.text = apply_edits(self.text, edits)
        identifier = types.VersionedTextDocumentIdentifier(version=self.version, uri=self.uri)
        return await self._published(
            lambda: self.client.text_document_did_change(
                types.DidChangeTextDocumentParams(text_document=identifier, content_changes=changes)
            )
        )

    async def replace(self, old: str, new: str) -> list[types.Diagnostic]:
        start = self.text.index(old)
        return await self.edit(
            [types.TextEdit(types.Range(self.position(start), self.position(start + len(old))), new)]
        )

    async def close(self) -> None:
        closed = types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(self.uri))
        assert await self._published(lambda: self.client.text_document_did_close(closed), version=None) == []

    def position(self, offset: int) -> types.Position:
        before = self.text[:offset]
        return types.Position(line=before.count("\n"), character=len(before) - (before.rfind("\n") + 1))

    def at(self, fragment: str, word: str | None = None) -> types.Position:
        start = self.text.index(fragment)
        return self.position(start + (fragment.rindex(word) if word else 0))

    def identifier(self) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(self.uri)


async def test_a_shipped_spec_checks_clean_and_every_feature_answers(client: LanguageClient):
    document = Document(client, GOOGLENET)
    assert await document.open() == []
    me = document.identifier()

    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=me,
            range=types.Range(types.Position(0, 0), types.Position(len(document.text.splitlines()), 0)),
        )
    )
    labels = [hint.label for hint in hints]
    assert len(hints) == 25 and "28x28x256 · 163,696 params · 128,049,152 MACs" in labels

    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=me, position=document.at("  inception3a:", "inception3a"))
    )
    assert "output **28x28x256**" in hover.contents.value

    (block,) = await client.text_document_definition_async(
        types.DefinitionParams(text_document=me, position=document.at("inception5a:  {inception", "inception"))
    )
    assert block.range.start == document.at("  inception:\n", "inception")
    (row,) = await client.text_document_definition_async(
        types.DefinitionParams(text_document=me, position=document.at("row: 3b}", "3b"))
    )
    assert row.uri == (SPECS / "reference" / "googlenet-table1.yaml").resolve().as_uri()

    uses = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=me,
            position=document.at("  inception4d:", "inception4d"),
            context=types.ReferenceContext(include_declaration=True),
        )
    )
    assert [use.range.start for use in uses] == [
        document.at("  inception4d:", "inception4d"),
        document.at("from: inception4d", "inception4d"),
    ]

    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=me))
    assert [symbol.name for symbol in symbols if symbol.children] == [
        "defaults",
        "blocks",
        "layers",
        "heads",
    ] or "layers" in [symbol.name for symbol in symbols]
    await document.close()


async def test_completion_as_the_user_types(client: LanguageClient):
    document = Document(client, GOOGLENET)
    await document.open()
    me = document.identifier()
    # A new layer, typed up to its op: the YAML does not parse, the completion still knows where it is.
    diagnostics = await document.replace(
        "  softmax:      {softmax: , row: softmax}\n", "  softmax:      {softmax: , row: softmax}\n  extra: {co\n"
    )
    assert [diagnostic.code for diagnostic in diagnostics] == ["yaml-syntax"]
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=me, position=document.at("  extra: {co", "co"))
    )
    labels = [item.label for item in result.items]
    assert "conv" in labels and "concat" in labels and "inception" in labels
    conv = next(item for item in result.items if item.label == "conv")
    assert conv.text_edit.new_text == "conv: " and "Kernel size" in conv.documentation.value
    await document.replace("  extra: {co\n", "  extra: {conv: {out: 8, act: }}\n")
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=me, position=document.at("act: }", "}"))
    )
    assert [item.label for item in result.items][:2] == ["relu", "none"]
    await document.close()


async def test_a_broken_spec_gets_checks_diagnostics_and_its_quick_fix(client: LanguageClient):
    document = Document(client, BAD / "concat-misaligned.yaml")
    (diagnostic,) = await document.open()
    assert diagnostic.code == "concat-misaligned" and diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.message.endswith("a 5x5 kernel at stride 1 needs pad 2")
    assert diagnostic.range.start == types.Position(11, 10)  # check's 12:11
    (note,) = diagnostic.related_information
    assert note.message == "in inception1, used here" and note.location.range.start == types.Position(14, 15)
    context = types.CodeActionContext(diagnostics=[diagnostic])
    (action,) = await client.text_document_code_action_async(
        types.CodeActionParams(text_document=document.identifier(), range=diagnostic.range, context=context)
    )
    assert action.title == "Set pad: 2"
    (edits,) = action.edit.changes.values()
    assert await document.edit(edits) == []
    await document.close()


async def test_a_misspelt_key_gets_its_did_you_mean_fix(client: LanguageClient):
    document = Document(client, BAD / "unknown-conv-arg.yaml")
    (diagnostic,) = await document.open()
    context = types.CodeActionContext(diagnostics=[diagnostic])
    (action,) = await client.text_document_code_action_async(
        types.CodeActionParams(text_document=document.identifier(), range=diagnostic.range, context=context)
    )
    assert action.title == "Change 'kernal' to 'kernel'"
    (edits,) = action.edit.changes.values()
    assert [d.code for d in await document.edit(edits) if d.code == "unknown-key"] == []
    await document.close()


async def test_every_bad_case_gets_its_diagnostics_and_never_breaks_a_request(client: LanguageClient):
    for path in sorted(BAD.glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # an editor's buffer is text
        if not is_spec(text):
            continue  # no `layers:` and no schema line: the editor's YAML, not a spec (below)
        document = Document(client, path, text)
        diagnostics = await document.open()
        if not path.with_suffix(".args").exists():  # a case for another command than check
            assert diagnostics, path.name
        if not diagnostics:
            await document.close()
            continue
        me = document.identifier()
        where = diagnostics[0].range.start
        await client.text_document_hover_async(types.HoverParams(text_document=me, position=where))
        await client.text_document_completion_async(types.CompletionParams(text_document=me, position=where))
        await client.text_document_definition_async(types.DefinitionParams(text_document=me, position=where))
        await client.text_document_references_async(
            types.ReferenceParams(
                text_document=me, position=where, context=types.ReferenceContext(include_declaration=True)
            )
        )
        await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=me))
        await client.text_document_inlay_hint_async(
            types.InlayHintParams(text_document=me, range=types.Range(types.Position(0, 0), types.Position(999, 0)))
        )
        context = types.CodeActionContext(diagnostics=diagnostics)
        await client.text_document_code_action_async(
            types.CodeActionParams(text_document=me, range=diagnostics[0].range, context=context)
        )
        await document.close()


async def test_a_spec_that_stops_parsing_keeps_its_last_good_hovers_and_hints(client: LanguageClient):
    document = Document(client, GOOGLENET)
    await document.open()
    me = document.identifier()
    # The user opens a bracket and adds a line above every layer: the YAML breaks, the layers move.
    diagnostics = await document.replace("layers:\n", "layers:\n  new: {conv: {out: 8\n\n")
    assert [diagnostic.code for diagnostic in diagnostics] == ["yaml-syntax"]
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=me, position=document.at("  inception3a:", "inception3a"))
    )
    assert "output **28x28x256**" in hover.contents.value
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=me, range=types.Range(types.Position(0, 0), types.Position(200, 0)))
    )
    conv1 = next(hint for hint in hints if hint.label == "112x112x64")
    assert conv1.position.line == document.at("  conv1:").line
    assert await document.replace("  new: {conv: {out: 8\n\n", "") == []
    await document.close()


async def test_yaml_that_is_no_spec_is_left_alone(client: LanguageClient, tmp_path):
    workflow = tmp_path / "ci.yaml"
    workflow.write_text("on: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n")
    uri = workflow.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "yaml", 1, workflow.read_text()))
    )
    me = types.TextDocumentIdentifier(uri)
    assert (
        await client.text_document_hover_async(types.HoverParams(text_document=me, position=types.Position(0, 0)))
        is None
    )
    # The next diagnostics published are the spec's: none came for the workflow.
    document = Document(client, GOOGLENET)
    assert await document.open() == []
    await document.close()
    client.text_document_did_close(types.DidCloseTextDocumentParams(me))
    # Writing `layers:` into a buffer makes it a spec, checked from then on.
    other = Document(client, tmp_path / "new.yaml", "name: New\n")
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(other.uri, "yaml", 1, other.text))
    )
    diagnostics = await other.replace("name: New\n", "name: New\nlayers:\n  fc: {linear: {out: 10}}\n")
    assert [diagnostic.code for diagnostic in diagnostics] == ["missing-key"]
    await other.close()
