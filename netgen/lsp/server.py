"""`netgen lsp`: the language server, over stdin and stdout, on pygls.

Each open spec is checked as `netgen check` checks it, on one worker thread, so the server keeps
reading the editor's messages while a check runs: edits that arrive meanwhile are applied to the
buffer, and once the check ends one more check runs, of the newest text (what the editor shows is
never more than one check behind the typing, however fast it is). A check's diagnostics are
published only if no edit came in while it ran. Requests (hover, completion, ...) are answered at
once, from the text as it is and the last analysis that compiled.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import to_fs_path

from netgen import __version__
from netgen.lsp.analysis import Analysis, ReferenceTables, View, analyse, is_spec
from netgen.lsp.complete import completions
from netgen.lsp.fixes import code_actions
from netgen.lsp.hover import hover, inlay_hints
from netgen.lsp.navigate import definition, document_symbols, references
from netgen.lsp.outline import Outline, outline
from netgen.lsp.text import Text
from netgen.spec.yaml_reuse import ReusingReader

log = logging.getLogger(__name__)
TRIGGERS = [":", " ", ",", "[", "{", "-"]


@dataclass
class Buffer:
    """An open spec: its text as the editor has it, and the analyses of it."""

    uri: str
    path: str
    text: Text
    version: int | None
    spec: bool = True  # whether the buffer is a netgen spec (netgen.lsp.analysis.is_spec)
    latest: Analysis | None = None  # the last check's
    good: Analysis | None = None  # the last check's that compiled
    checking: bool = False
    reader: ReusingReader = field(default_factory=ReusingReader, repr=False)  # used by the checks only
    _outline: tuple[str, Outline] | None = field(default=None, repr=False)

    def view(self) -> View:
        source = self.text.source
        if self.latest is not None and self.latest.text.source == source:
            shape = self.latest.outline
        elif self._outline is not None and self._outline[0] == source:
            shape = self._outline[1]
        else:
            shape = outline(source)
            self._outline = (source, shape)
        return View(self.uri, self.text, shape, self.good)


class _Protocol(LanguageServerProtocol):
    """pygls's protocol without its copy of the buffers: the server keeps each buffer's text itself,
    counting lines as LSP does (CR, LF and CRLF only)."""

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None


class NetgenServer(LanguageServer):
    def __init__(self):
        super().__init__(
            "netgen",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=_Protocol,
        )
        self.buffers: dict[str, Buffer] = {}
        self.tables = ReferenceTables()
        self.checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netgen-check")

    @property
    def encoding(self) -> str:
        capabilities = getattr(self.protocol, "server_capabilities", None)
        chosen = capabilities.position_encoding if capabilities is not None else None
        return str(chosen or types.PositionEncodingKind.Utf16)

    def buffer(self, uri: str) -> Buffer | None:
        return self.buffers.get(uri)

    # -- checking ------------------------------------------------------------------------------

    def request_check(self, buffer: Buffer) -> None:
        was_spec, buffer.spec = buffer.spec, is_spec(buffer.text.source)
        if not buffer.spec:
            if was_spec and buffer.latest is not None:  # it was one: clear what was shown for it
                self.text_document_publish_diagnostics(
                    types.PublishDiagnosticsParams(uri=buffer.uri, diagnostics=[], version=buffer.version)
                )
            buffer.latest = buffer.good = None
            return
        if buffer.checking:
            return  # the running check starts the next one when it ends
        buffer.checking = True
        text, version = buffer.text, buffer.version
        future = self.checker.submit(
            _uncollected, analyse, buffer.uri, buffer.path, version, text, self.tables, buffer.reader
        )
        loop = asyncio.get_running_loop()
        future.add_done_callback(lambda done: loop.call_soon_threadsafe(self._checked, buffer, done))

    def _checked(self, buffer: Buffer, done: Future) -> None:
        try:
            self._publish(buffer, done)
        finally:
            gc.enable()  # paused by the check (_uncollected): the collector runs once the editor has its answer

    def _publish(self, buffer: Buffer, done: Future) -> None:
        buffer.checking = False
        if self.buffers.get(buffer.uri) is not buffer or not buffer.spec:
            return  # closed meanwhile, or no longer a spec
        try:
            analysis: Analysis = done.result()
        except BaseException:  # analyse turns netgen's own failures into a diagnostic; this is anything else
            log.exception("check of %s failed", buffer.uri)
            return
        buffer.latest = analysis
        if analysis.good:
            buffer.good = analysis
        if analysis.text is not buffer.text:
            self.request_check(buffer)
            return
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=buffer.uri, diagnostics=analysis.diagnostics(), version=buffer.version)
        )
        if analysis.good and _refreshes_hints(self.client_capabilities):
            self.workspace_inlay_hint_refresh(None)

    def warm_up(self) -> None:
        """Check the starter spec once, so the first spec the user opens meets a warm compiler; then
        set aside every object alive (modules, declarations), so that the cycle collector's full
        passes, which would rescan them all, take 0.1 ms instead of 50 or more."""
        from netgen.spec.new import new_spec

        text, _ = new_spec("warm_up", Path("warm_up.yaml"))

        def warm() -> None:
            analyse("", "warm_up.yaml", None, Text(text), ReferenceTables()).summary  # noqa: B018 - computed for its side effect
            gc.collect()
            gc.freeze()

        self.checker.submit(warm)


def _uncollected(function, *args):
    """Run a check with the cycle collector paused, as the compiler pauses it (netgen.compile), and
    leave it paused: `_checked` restarts it after publishing, so that its pass over the objects the
    check made is not part of the editor's wait."""
    gc.disable()
    return function(*args)


def _refreshes_hints(capabilities: types.ClientCapabilities | None) -> bool:
    workspace = capabilities.workspace if capabilities is not None else None
    inlay = workspace.inlay_hint if workspace is not None else None
    return bool(inlay is not None and inlay.refresh_support)


def _path_of(uri: str) -> str:
    path = to_fs_path(uri)
    return os.path.abspath(path) if path else uri


server = NetgenServer()


@server.feature(types.INITIALIZED)
def _initialized(ls: NetgenServer, params: types.InitializedParams) -> None:
    ls.warm_up()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def _opened(ls: NetgenServer, params: types.DidOpenTextDocumentParams) -> None:
    document = params.text_document
    buffer = Buffer(document.uri, _path_of(document.uri), Text(document.text, ls.encoding), document.version)
    ls.buffers[document.uri] = buffer
    ls.request_check(buffer)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def _changed(ls: NetgenServer, params: types.DidChangeTextDocumentParams) -> None:
    buffer = ls.buffer(params.text_document.uri)
    if buffer is None:
        return
    text = buffer.text
    for change in params.content_changes:
        text = text.apply(change)
    buffer.text, buffer.version = text, params.text_document.version
    ls.request_check(buffer)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def _closed(ls: NetgenServer, params: types.DidCloseTextDocumentParams) -> None:
    buffer = ls.buffers.pop(params.text_document.uri, None)
    if buffer is not None and buffer.spec:  # what the editor showed for it goes with it
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
        )


def _view(ls: NetgenServer, uri: str) -> View | None:
    buffer = ls.buffer(uri)
    return buffer.view() if buffer is not None and buffer.spec else None


@server.feature(types.TEXT_DOCUMENT_HOVER)
def _hover(ls: NetgenServer, params: types.HoverParams) -> types.Hover | None:
    view = _view(ls, params.text_document.uri)
    return hover(view, view.text.offset(params.position)) if view is not None else None


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
def _inlay_hints(ls: NetgenServer, params: types.InlayHintParams) -> list[types.InlayHint] | None:
    view = _view(ls, params.text_document.uri)
    if view is None:
        return None
    return inlay_hints(view, view.text.offset(params.range.start), view.text.offset(params.range.end))


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def _definition(ls: NetgenServer, params: types.DefinitionParams) -> list[types.Location] | None:
    view = _view(ls, params.text_document.uri)
    return definition(view, view.text.offset(params.position)) if view is not None else None


@server.feature(types.TEXT_DOCUMENT_REFERENCES)
def _references(ls: NetgenServer, params: types.ReferenceParams) -> list[types.Location] | None:
    view = _view(ls, params.text_document.uri)
    if view is None:
        return None
    return references(view, view.text.offset(params.position), params.context.include_declaration)


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=TRIGGERS))
def _completion(ls: NetgenServer, params: types.CompletionParams) -> types.CompletionList | None:
    view = _view(ls, params.text_document.uri)
    return completions(view, view.text.offset(params.position)) if view is not None else None


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def _symbols(ls: NetgenServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol] | None:
    view = _view(ls, params.text_document.uri)
    return document_symbols(view) if view is not None else None


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix])
)
def _code_actions(ls: NetgenServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    view = _view(ls, params.text_document.uri)
    return code_actions(view, list(params.context.diagnostics)) if view is not None else None


def serve() -> None:
    """Serve one editor on stdin and stdout until it says exit. Messages are read on the event loop
    itself when stdin is a pipe (as editors start servers), rather than by pygls's reader, which
    hands every line to a thread and back: on a busy machine each such hand-over waits its turn."""
    try:
        asyncio.run(_serve_pipe())
    except _NotAPipe:
        server.start_io()


class _NotAPipe(Exception):
    pass


async def _serve_pipe() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    except (ValueError, OSError):  # a regular file or a terminal
        raise _NotAPipe from None
    server._stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    try:
        await run_async(
            stop_event=server._stop_event,
            reader=reader,
            protocol=server.protocol,
            logger=log,
            error_handler=server.report_server_error,
        )
    except asyncio.IncompleteReadError:
        pass  # the editor went away in the middle of a message
    finally:
        server.shutdown()
