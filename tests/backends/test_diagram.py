"""`netgen graph`: Mermaid with every module and its output size, DOT that Graphviz draws without a
complaint, SVG through Graphviz's `dot`, and a one-line way out when `dot` is not installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from netgen.backends.diagram import Cluster, Diagram, DiagramNode, make_diagram, to_dot, to_mermaid
from netgen.cli import app
from tests.conftest import GOOGLENET, ROOT, SPECS

DOT = shutil.which("dot")
# CI installs Graphviz (.ci/run); elsewhere its tests wait for it to be installed.
needs_dot = pytest.mark.skipif(DOT is None and not os.environ.get("CI"), reason="Graphviz's dot is not installed")


def _graph(*args: str):
    return CliRunner().invoke(app, ["graph", str(GOOGLENET.relative_to(ROOT)), *args])


def test_mermaid_shows_every_inception_module_with_its_output_size(googlenet, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = _graph("--format", "mermaid")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("flowchart TD\n")
    spec, graph = googlenet
    for layer in spec.layers:
        if layer.name.startswith("inception"):
            c, h, w = graph[graph.exit_of(layer.name)].shape
            assert re.search(rf'\["{layer.name}: inception<br/>{h}x{w}x{c}<br/>', result.output), layer.name
    # Heads hang off their trunk layer with a dashed edge.
    ids = {name: node for node, name in re.findall(r'^  (n\d+)\["(\w+):', result.output, re.MULTILINE)}
    assert f"  {ids['inception4a']} -.-> {ids['aux1']}" in result.output.splitlines()


def test_layer_level_has_a_cluster_per_block_use_and_branch(googlenet):
    diagram = make_diagram(*googlenet, "layer")
    clusters = {cluster.id: cluster for cluster in diagram.clusters}
    assert len(clusters) == 9 + 2  # nine inception modules, two auxiliary heads
    branches = [inner.id for inner in clusters["inception3a"].clusters]
    assert branches == [f"inception3a.{b}" for b in ("branch_1x1", "branch_3x3", "branch_5x5", "branch_pool")]
    assert clusters["inception3a"].nodes == ("inception3a",)  # the concat
    text = to_mermaid(diagram)
    assert text.count("subgraph ") == text.count("\n  end") + text.count("\n    end") == 11 + 9 * 4


@needs_dot
@pytest.mark.parametrize("level", ["module", "layer"])
def test_dot_renders_with_graphviz_without_complaint(googlenet, level):
    run = subprocess.run([DOT or "dot", "-Tsvg"], input=to_dot(make_diagram(*googlenet, level)), capture_output=True, text=True)
    assert run.returncode == 0 and run.stderr == ""
    assert run.stdout.count('class="node"') == len(make_diagram(*googlenet, level).nodes)


@needs_dot
def test_svg_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    target = tmp_path / "googlenet.svg"
    result = _graph("--format", "svg", "-o", str(target))
    assert result.exit_code == 0, result.output
    svg = target.read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and "<svg" in svg and "inception5b: inception" in svg


def test_svg_without_graphviz_says_how_to_get_it(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": str(ROOT)}  # no `dot` on this PATH
    run = subprocess.run(
        [sys.executable, "-m", "netgen", "graph", "specs/googlenet.yaml", "--format", "svg"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and "apt-get install graphviz" in run.stderr and "--format dot" in run.stderr


@pytest.mark.parametrize("spec", sorted(SPECS.glob("*.yaml")), ids=lambda path: path.name)
def test_every_spec_draws_every_layer_and_head_once(spec):
    from netgen.compile import compile_file

    compiled = compile_file(str(spec))
    diagram = make_diagram(*compiled, "module")
    names = [node.id for node in diagram.nodes]
    assert names == ["input", *(layer.name for layer in compiled[0].layers), *(head.name for head in compiled[0].heads)]
    assert {edge.target for edge in diagram.edges} == set(names[1:])


@needs_dot
@pytest.mark.parametrize("level", ["module", "layer"])
def test_dot_on_stdout_is_dot_that_graphviz_reads(level):
    # Printed for a pipe, DOT keeps its tabs: the terminal's escapes would make `\t` of them.
    printed = subprocess.run(
        [sys.executable, "-m", "netgen", "graph", "specs/inception-v3.yaml", "--format", "dot", "--level", level],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert "\n\tinput [" in printed.stdout and "\\t" not in printed.stdout
    drawn = subprocess.run([DOT or "dot", "-Tsvg"], input=printed.stdout, capture_output=True, text=True)
    assert drawn.returncode == 0 and drawn.stderr == ""


# Titles as no spec name can be today, as a check that each format escapes in its own syntax.
ODD = 'a "b" \\n <i>&amp; `c` #d\x1b[31m\u202e\t'


def _odd_diagram() -> Diagram:
    node = DiagramNode("x", ODD, [3, 4, 4], 10, 20)
    return Diagram(ODD, "layer", (node,), (), (Cluster("c", ODD, ("x",)),))


def test_mermaid_writes_every_character_of_a_label_as_mermaid_shows_it():
    text = to_mermaid(_odd_diagram())
    assert all(ch.isprintable() or ch == "\n" for ch in text)
    assert 'n0["a #quot;b#quot; \\n #lt;i#gt;#amp;amp; #96;c#96; #35;d#27;[31m#8238;#9;<br/>4x4x3' in text
    assert 'subgraph c0["a #quot;b#quot; \\n #lt;i#gt;#amp;amp; #96;c#96; #35;d#27;[31m#8238;#9;"]' in text


@needs_dot
def test_dot_writes_every_character_of_a_label_as_graphviz_shows_it():
    text = to_dot(_odd_diagram())
    assert all(ch.isprintable() or ch in "\n\t" for ch in text)
    svg = subprocess.run([DOT or "dot", "-Tsvg"], input=text, capture_output=True, text=True)
    assert svg.returncode == 0 and svg.stderr == ""
    # Graphviz shows the label as written: its quotes, its backslash, its markup characters.
    shown = 'a &quot;b&quot; \\n &lt;i&gt;&amp;amp; `c` #d'
    assert shown in svg.stdout


def test_the_layer_graph_shows_each_kernel_and_exact_counts():
    from netgen.compile import compile_file

    diagram = make_diagram(*compile_file(str(SPECS / "inception-v3.yaml")), "layer")
    titles = {node.id: node.title for node in diagram.nodes}
    assert titles["Mixed_6b.branch7x7.branch7x7_2"] == "branch7x7_2: conv 1x7/1"
    assert titles["Mixed_6b.branch7x7.branch7x7_3"] == "branch7x7_3: conv 7x1/1"
    assert titles["Mixed_6b.branch_pool.pool"] == "pool: avgpool 3x3/1"
    text = to_mermaid(diagram)
    assert '["branch7x7_2: conv 1x7/1<br/>17x17x128<br/>114,944 params, 33,144,832 MACs"]' in text
