"""`netgen diff A.yaml B.yaml`: rows matched by name, then by position; each changed cell; the
totals' change in figures and percent. Text, Markdown and JSON are held to golden files in
tests/cli/diff/ (after a deliberate change, rewrite them with the command each test names)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from netgen.compile import compile_file
from netgen.diff import diff
from tests.cli.test_cli import invoke

GOLDEN = Path(__file__).resolve().parent / "diff"

CASES = [
    ("googlenet-bn.txt", ["specs/googlenet.yaml", "specs/googlenet-bn.yaml"]),
    ("googlenet-bn.md", ["specs/googlenet.yaml", "specs/googlenet-bn.yaml", "--format", "md"]),
    ("googlenet-bn.json", ["specs/googlenet.yaml", "specs/googlenet-bn.yaml", "--json"]),
    ("googlenet-w05.md", ["specs/googlenet.yaml", "specs/googlenet-w05.yaml", "--format", "md"]),
]


@pytest.mark.parametrize(("golden", "args"), CASES, ids=[golden for golden, _ in CASES])
def test_diff_output_is_the_golden_one(golden, args):
    result = invoke("diff", *args)
    assert result.exit_code == 0, result.output
    expected = (GOLDEN / golden).read_text(encoding="utf-8")
    assert result.stdout == expected, f"rewrite with: netgen diff {' '.join(args)} > tests/cli/diff/{golden}"


def test_json_diff_gives_every_row_and_the_totals_change():
    document = json.loads(invoke("diff", "specs/googlenet.yaml", "specs/googlenet-bn.yaml", "--json").stdout)["diff"]
    statuses = {row["a"] or row["b"]: row["status"] for row in document["layers"]}
    assert statuses["lrn1"] == statuses["softmax"] == "removed"
    assert statuses["maxpool1"] == "same"
    assert document["layers"][0]["changes"]["params"] == {"a": 9472, "b": 9536, "delta": 64, "percent": 0.6757}
    assert document["totals"]["params"] == {"a": 6998552, "b": 6624904, "delta": -373648, "percent": -5.3389}
    assert document["totals"]["depth"]["delta"] == 0


def _compiled(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return compile_file(str(path))


A = """\
name: A
input: [3, 16, 16]
layers:
  stem: {conv: {out: 8, kernel: 3, pad: 1}}
  mid: {conv: {out: 8, kernel: 3, pad: 1}}
  pool: {global_avgpool: }
  flatten: {flatten: }
  fc: {linear: {out: 10}}
"""


def test_rows_are_matched_by_name_then_by_position(tmp_path):
    renamed = A.replace("mid:", "middle:").replace("out: 10", "out: 12")
    result = diff(_compiled(tmp_path, "a.yaml", A), _compiled(tmp_path, "b.yaml", renamed))
    rows = {row.label: row for row in result.layers}
    assert rows["mid -> middle"].matched_by == "position"
    assert [change.cell for change in rows["mid -> middle"].changes] == ["name"]
    assert [(change.cell, change.a, change.b) for change in rows["fc"].changes] == [
        ("output", "1x1x10", "1x1x12"),
        ("params", 90, 108),
        ("macs", 80, 96),
    ]
    assert rows["stem"].status == "same"


def test_a_layer_of_another_kind_is_removed_and_added(tmp_path):
    other = A.replace(
        "mid: {conv: {out: 8, kernel: 3, pad: 1}}", "extra: {relu: }\n  mid2: {maxpool: {kernel: 3, stride: 1, pad: 1}}"
    )
    result = diff(_compiled(tmp_path, "a.yaml", A), _compiled(tmp_path, "b.yaml", other))
    assert [(row.label, row.status) for row in result.layers] == [
        ("stem", "same"),
        ("mid", "removed"),
        ("extra", "added"),
        ("mid2", "added"),
        ("pool", "same"),
        ("flatten", "same"),
        ("fc", "same"),
    ]


def test_diff_of_a_spec_with_errors_reports_them(tmp_path):
    (tmp_path / "bad.yaml").write_text(A.replace("kernel: 3, pad: 1}}\n  pool", "kernal: 3}}\n  pool"))
    (tmp_path / "a.yaml").write_text(A)
    result = invoke("diff", "a.yaml", "bad.yaml", cwd=tmp_path)
    assert result.exit_code == 1
    assert "bad.yaml:5:" in result.stderr and "[unknown-key]" in result.stderr
