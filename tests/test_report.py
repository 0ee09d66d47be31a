"""`netgen report`: a spec's Markdown report holds its layers, totals, its check against the paper
with every erratum and deviation explained, and its module-level diagram."""

from __future__ import annotations

import json
import re
from html import escape as escape_html

from markdown_it import MarkdownIt
from typer.testing import CliRunner

from netgen.cli import app
from netgen.verify.reference import load_reference
from tests.conftest import ROOT, SPECS


def test_googlenet_report_shows_the_errata_and_the_diagram():
    text = (ROOT / "generated" / "googlenet.md").read_text(encoding="utf-8")
    reference = load_reference(str(SPECS / "reference" / "googlenet-table1.yaml"))
    errata = [line for line in text.splitlines() if line.startswith("- erratum: ")]
    assert len(errata) == sum(len(row.errata) for row in reference.rows)
    assert "| conv1 | convolution | 7x7/2 | 112x112x64 | 1 |  |  |  |  |  |  | 2.7K → 9.19K `*` | 34M → 118.01M `*` | conv1 |" in text
    assert "- params: 6,998,552 (6,990,272 weights + 8,280 biases;" in text
    assert text.count("```mermaid\nflowchart TD\n") == 1
    assert re.search(r'\["inception5b: inception<br/>7x7x1024<br/>', text)
    assert text.rstrip().endswith("```")
    assert "Verdict: ok: every difference is documented (12 errata of the paper, 0 declared deviations)" in text


def test_report_writes_name_md_and_check_finds_it_stale(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    result = runner.invoke(app, ["report", "specs/googlenet-cifar10.yaml", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    target = tmp_path / "googlenet_cifar10.md"
    assert result.output == f"wrote {target}\n"
    assert target.read_bytes() == (ROOT / "generated" / "googlenet_cifar10.md").read_bytes()
    target.write_text("edited\n")
    stale = runner.invoke(app, ["report", "specs/googlenet-cifar10.yaml", "--out", str(tmp_path), "--check"])
    assert stale.exit_code == 3
    assert "run: netgen report specs/googlenet-cifar10.yaml" in stale.output


# Text a spec and its reference table may hold, each piece markup of some kind, a line break or
# what a terminal would obey.
HOSTILE = (
    "## Diagram\n<script>alert(1)</script>\n```\nfenced\n```\n*em* _em_ **strong** ~~strike~~ $x$ "
    "[link](http://example.com) ![image](x.png) <http://example.com> &#x202e; &amp; | a | b |\n---\n"
    "1. one\n- item\n> quote\n    indented\n<!-- comment -->\x1b[31mred\u202eevil\u2028line\x85end `code` \\"
)


def _report_of(tmp_path, text: str, name: str) -> str:
    """The report of torchvision's GoogLeNet with `text` as its description, as the reason of its
    first deviation and as its reference's title."""
    folder = tmp_path / name
    (folder / "reference").mkdir(parents=True)
    table = (SPECS / "reference" / "googlenet-table1.yaml").read_text(encoding="utf-8")
    table = table.replace("  table: 'Table 1: GoogLeNet incarnation of the Inception architecture'", f"  table: {json.dumps(text)}")
    (folder / "reference" / "googlenet-table1.yaml").write_text(table, encoding="utf-8")
    spec = (SPECS / "googlenet-bn.yaml").read_text(encoding="utf-8")
    spec = re.sub(r"(?m)^description: .*$", lambda _: f"description: {json.dumps(text)}", spec)
    spec = re.sub(r"(?m)^    reason: .*$", lambda _: f"    reason: {json.dumps(text)}", spec, count=1)
    (folder / "googlenet_bn.yaml").write_text(spec, encoding="utf-8")
    result = CliRunner().invoke(app, ["report", str(folder / "googlenet_bn.yaml"), "--out", str(folder)])
    assert result.exit_code == 0, result.output
    return (folder / "googlenet_bn.md").read_text(encoding="utf-8")


def _markup(source: str) -> list[str]:
    """Every element a Markdown renderer makes of `source`, in order, its text left out."""
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    kinds = []
    for token in parser.parse(source):
        kinds.append(token.type)
        kinds += [child.type for child in token.children or () if child.type != "text"]
    return kinds


def test_a_report_shows_the_spec_and_reference_text_as_written_and_no_markup_of_it(tmp_path):
    hostile = _report_of(tmp_path, HOSTILE, "hostile")
    plain = _report_of(tmp_path, "Plain words", "plain")
    # Rendered, the report has the same headings, tables, code and links whatever the text says.
    assert _markup(hostile) == _markup(plain)
    # The text is there, on one line, its control characters as escapes, its markup as characters.
    shown = " ".join(HOSTILE.replace("\u2028", " ").replace("\x85", " ").split())
    shown = shown.replace("\x1b", "\\x1b").replace("\u202e", "\\u202e")
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(hostile)
    assert html.count(escape_html(shown)) == 3  # the description, the table's title, the deviation's reason
    for character in ("\x1b", "\u202e", "\u2028", "\x85"):
        assert character not in hostile
