"""`netgen report`: a spec's Markdown report holds its layers, totals, its check against the paper
with every erratum and deviation explained, and its module-level diagram."""

from __future__ import annotations

import re

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
