"""The designer's loop in the editor: how long `netgen lsp` takes to re-check a spec after a
one-character edit, from the didChange an editor sends to the publishDiagnostics it gets back.

A real LSP client (pygls's) starts `python -m netgen lsp` and speaks to it over stdio, as an
editor does. For each spec it opens the file, then types: one digit of a channel count changed,
then changed back, each a separate didChange, each waited for. Two places are edited in turn: a
layer's argument under `layers:` and a convolution inside a block under `blocks:` (the blocks are
most of a spec's text). Next to the warm server: a cold `netgen check` process of the same spec.
Targets: median <= 30 ms for GoogLeNet and <= 100 ms for Inception-v4.

    python benchmarks/editor.py               # 60 edits per place, after 5 unmeasured
    python benchmarks/editor.py --edits 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import ROOT, timed, user_env  # noqa: E402

TARGETS_MS = {"specs/googlenet.yaml": 30.0, "specs/inception-v4.yaml": 100.0}
WARM_UP = 5
COLD_REPEATS = 5


@dataclass
class Result:
    spec: str
    place: str
    median_ms: float
    p95_ms: float
    target_ms: float
    cold_s: float

    @property
    def met(self) -> bool:
        return self.median_ms <= self.target_ms


def edit_places(text: str) -> dict[str, int]:
    """Offsets of a digit to change: in the middle layer under `layers:` that writes a number, and
    in the first convolution under `blocks:` whose `out:` is a number."""
    layers = text.index("\nlayers:")
    lines = [match for match in re.finditer(r"^ +\w+: *\{[^\n]*?(\d)", text[layers:], re.MULTILINE)]
    layer = lines[len(lines) // 2]
    blocks = text.index("\nblocks:")
    conv = re.compile(r"conv: \{out: (\d)").search(text, blocks)
    return {"a layer's argument": layers + layer.start(1), "a conv in a block": conv.start(1)}


def other_digit(digit: str) -> str:
    """Another digit that keeps the number valid: never a leading zero."""
    return str(int(digit) + 1) if digit != "9" else "8"


class Editor:
    """The client side: an editor that sends edits and waits for their diagnostics."""

    def __init__(self):
        self.client = LanguageClient("netgen-benchmark", "1")
        self.waiting: dict[tuple[str, int], asyncio.Future] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            future = self.waiting.pop((params.uri, params.version), None)
            if future is not None and not future.done():
                future.set_result((time.perf_counter(), params.diagnostics))

    async def start(self) -> None:
        await self.client.start_io(sys.executable, "-m", "netgen", "lsp", env=user_env(), cwd=str(ROOT))
        await self.client.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities(), process_id=os.getpid())
        )
        self.client.initialized(types.InitializedParams())

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()

    def _expect(self, uri: str, version: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiting[(uri, version)] = future
        return future

    async def open(self, uri: str, text: str) -> list[types.Diagnostic]:
        future = self._expect(uri, 1)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "yaml", 1, text))
        )
        return (await asyncio.wait_for(future, 60))[1]

    async def replace(self, uri: str, version: int, line: int, column: int, character: str) -> tuple[float, list]:
        """Replace one character; seconds until the diagnostics of this version arrive, and them."""
        future = self._expect(uri, version)
        where = types.Range(types.Position(line, column), types.Position(line, column + 1))
        change = types.TextDocumentContentChangePartial(range=where, text=character)
        start = time.perf_counter()
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(types.VersionedTextDocumentIdentifier(version=version, uri=uri), [change])
        )
        arrived, diagnostics = await asyncio.wait_for(future, 60)
        return arrived - start, diagnostics


async def measure_spec(editor: Editor, spec: str, edits: int, version: int) -> tuple[dict[str, list[float]], int]:
    path = ROOT / spec
    uri = path.as_uri()
    text = path.read_text(encoding="utf-8")
    opened = await editor.open(uri, text)
    assert not opened, f"{spec} should check clean: {[d.message for d in opened]}"
    seconds: dict[str, list[float]] = {}
    for place, offset in edit_places(text).items():
        line = text.count("\n", 0, offset)
        column = offset - (text.rfind("\n", 0, offset) + 1)
        digits = [other_digit(text[offset]), text[offset]]
        measured = []
        for number in range(WARM_UP + edits):
            version += 1
            elapsed, diagnostics = await editor.replace(uri, version, line, column, digits[number % 2])
            assert not [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error], diagnostics
            if number >= WARM_UP:
                measured.append(elapsed)
        seconds[place] = measured
    editor.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    return seconds, version


async def measure(edits: int) -> dict[str, dict[str, list[float]]]:
    editor = Editor()
    await editor.start()
    try:
        out, version = {}, 0
        for spec in TARGETS_MS:
            out[spec], version = await measure_spec(editor, spec, edits, version)
        return out
    finally:
        await editor.stop()


def cold_check(spec: str) -> float:
    """Median wall seconds of a `netgen check` process, after one untimed run."""
    command = [sys.executable, "-m", "netgen", "check", spec]
    timed(command)
    return statistics.median(timed(command)[0] for _ in range(COLD_REPEATS))


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def run(edits: int = 60) -> list[Result]:
    latencies = asyncio.run(measure(edits))
    results = []
    for spec, places in latencies.items():
        cold = cold_check(spec)
        for place, seconds in places.items():
            results.append(
                Result(spec, place, statistics.median(seconds) * 1e3, p95(seconds) * 1e3, TARGETS_MS[spec], cold)
            )
    report(results, edits)
    return results


def report(results: list[Result], edits: int) -> None:
    print(f"didChange to publishDiagnostics in a warm `netgen lsp`, {edits} one-character edits per place")
    print(
        f"{'spec':<24}  {'edit':<18}  {'median ms':>9}  {'p95 ms':>7}  {'target ms':>9}  {'cold check s':>12}  {'cold/warm':>9}"
    )
    for row in results:
        ratio = row.cold_s * 1e3 / row.median_ms
        print(
            f"{row.spec:<24}  {row.place:<18}  {row.median_ms:>9.1f}  {row.p95_ms:>7.1f}  "
            f"{row.target_ms:>9.0f}  {row.cold_s:>12.3f}  {ratio:>8.0f}x"
        )
    met = all(row.met for row in results)
    print(f"every median within its target: {'yes' if met else 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=60, help="measured edits per place (after 5 unmeasured)")
    args = parser.parse_args()
    print(f"load average over the last minute: {os.getloadavg()[0]:.2f}")
    run(args.edits)


if __name__ == "__main__":
    main()
