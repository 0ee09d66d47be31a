import json
import re
import subprocess
import sys

from tests.conftest import GOOGLENET, ROOT

TABLE_1_OUTPUTS = [
    # (row, H x W x C) as Table 1 prints them
    ("conv1", "112x112x64"),
    ("maxpool1", "56x56x64"),
    ("conv3", "56x56x192"),
    ("maxpool2", "28x28x192"),
    ("inception3a", "28x28x256"),
    ("inception3b", "28x28x480"),
    ("maxpool3", "14x14x480"),
    ("inception4a", "14x14x512"),
    ("inception4b", "14x14x512"),
    ("inception4c", "14x14x512"),
    ("inception4d", "14x14x528"),
    ("inception4e", "14x14x832"),
    ("maxpool4", "7x7x832"),
    ("inception5a", "7x7x832"),
    ("inception5b", "7x7x1024"),
    ("avgpool", "1x1x1024"),
    ("dropout", "1x1x1024"),
    ("fc", "1x1x1000"),
    ("softmax", "1x1x1000"),
]


def netgen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netgen", *args], cwd=ROOT, capture_output=True, text=True)


def test_summary_json_has_the_papers_numbers():
    run = netgen("summary", str(GOOGLENET.relative_to(ROOT)), "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    totals = result["totals"]
    assert totals["params"] == 6_998_552
    assert totals["weights"] == 6_990_272
    assert totals["biases"] == 8_280
    assert totals["params_with_heads"] == 13_378_280
    assert totals["macs"] == 1_582_671_872
    assert (totals["depth"], totals["depth_with_pooling"]) == (22, 27)
    rows = {row["name"]: row for row in result["rows"]}
    for name, printed in TABLE_1_OUTPUTS:
        c, h, w = rows[name]["output"]
        assert f"{h}x{w}x{c}" == printed, name
    assert rows["inception4e"]["module"] == {
        "n1x1": 256, "n3x3red": 160, "n3x3": 320, "n5x5red": 32, "n5x5": 128, "pool_proj": 128,
    }
    assert [head["name"] for head in result["heads"]] == ["aux1", "aux2"]
    assert "multiply-add" in result["conventions"]["macs"]


def test_summary_table_lists_every_row_and_labels_units():
    run = netgen("summary", "specs/googlenet.yaml")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for name, printed in TABLE_1_OUTPUTS:
        assert any(line.split()[:1] == [name] and printed in line.split() for line in lines), name
    assert "params: 6,998,552 (6,990,272 weights + 8,280 biases)" in lines
    assert any(line.startswith("multiply-adds: 1,582,671,872 (multiply-adds of conv and linear") for line in lines)
    assert "depth: 22 layers with weights, 27 with pooling" in lines
    assert "params with heads: 13,378,280" in lines


def test_check_reports_ok_and_exit_zero():
    run = netgen("check", "specs/googlenet.yaml")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "specs/googlenet.yaml: ok (GoogLeNet, output 1x1x1000)\n"


def test_check_failure_exits_one_with_located_diagnostics(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOGLENET.read_text().replace("inception3b:  {inception: [128,", "inception3b:  {inceptoin: [128,"))
    run = netgen("check", str(bad))
    assert run.returncode == 1
    line = next(i for i, row in enumerate(bad.read_text().splitlines(), 1) if "inceptoin" in row)
    assert f"{bad}:{line}:18: error: inception3b: unknown op or block 'inceptoin'; did you mean 'inception'? [unknown-op]" in run.stderr
    assert "Traceback" not in run.stderr


def _tree_sum(rows, key):
    return sum(row[key] for row in rows)


def test_summary_depth_nests_blocks_branches_and_ops_with_their_counts():
    run = netgen("summary", "specs/googlenet.yaml", "--depth", "3", "--json")
    assert run.returncode == 0, run.stderr
    rows = {row["name"]: row for row in json.loads(run.stdout)["rows"]}
    module = rows["inception3a"]
    assert [child["name"] for child in module["children"]] == ["branch_1x1", "branch_3x3", "branch_5x5", "branch_pool", "concat"]
    # Every level adds up to the one above it, params and multiply-adds alike.
    for key in ("params", "macs"):
        assert _tree_sum(module["children"], key) == module[key]
        for branch in module["children"][:4]:
            assert _tree_sum(branch["children"], key) == branch[key]
    branch = module["children"][1]
    assert [(op["name"], op["type"], op["output"]) for op in branch["children"]] == [
        ("conv1", "conv", [96, 28, 28]),
        ("conv2", "conv", [128, 28, 28]),
    ]
    assert "children" not in rows["conv1"]


def test_summary_depth_prints_an_indented_tree():
    run = netgen("summary", "specs/googlenet.yaml", "--depth", "2")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("inception3a (inception)"))
    assert [line.split()[0] for line in lines[start + 1 : start + 6]] == ["├─", "├─", "├─", "├─", "└─"]
    assert lines[start + 2].split()[1:3] == ["branch_3x3", "(branch)"]
    assert "28x28x128" in lines[start + 2] and "129,248" in lines[start + 2]
    # Depth 1 is the table, unchanged.
    assert netgen("summary", "specs/googlenet.yaml", "--depth", "1").stdout == netgen("summary", "specs/googlenet.yaml").stdout


def test_a_repeated_block_shows_its_arguments_and_how_often_it_repeats():
    run = netgen("summary", "specs/inception-resnet-v2.yaml", "--json")
    rows = {row["name"]: row for row in json.loads(run.stdout)["rows"]}
    assert (rows["repeat_2"]["type"], rows["repeat_2"]["times"]) == ("inception_resnet_c", 9)
    assert rows["repeat_2"]["module"] == {"scale": 0.2, "act": "relu"}  # the module columns are this block's
    # Another block whose parameters are some of the columns' fills those columns.
    assert rows["repeat"]["module"] == {"scale": 0.17} and "args" not in rows["repeat"]
    table = netgen("summary", "specs/inception-resnet-v2.yaml").stdout
    line = next(line for line in table.splitlines() if line.startswith("repeat_2 "))
    assert line.split()[1:4] == ["inception_resnet_c", "x", "9"]
    assert line.split()[6:8] == ["0.2", "relu"]


def test_the_nested_summary_shows_each_kernel_so_a_factorised_7x7_reads_as_one():
    run = netgen("summary", "specs/inception-v3.yaml", "--depth", "3")
    lines = run.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Mixed_6b (inception_c)"))
    branch = [line.split("─ ")[1].split("  ")[0] for line in lines[start : start + 8] if "─ branch7x7_" in line]
    assert branch == ["branch7x7_1 (conv 1x1/1)", "branch7x7_2 (conv 1x7/1)", "branch7x7_3 (conv 7x1/1)"]
    assert any("├─ branch7x7 (branch) " in line for line in lines[start : start + 8])  # several ops: no one kernel
    assert next(line for line in lines if line.startswith("Conv2d_1a_3x3 ")).startswith("Conv2d_1a_3x3 (conv 3x3/2)")
    rows = {row["name"]: row for row in json.loads(netgen("summary", "specs/inception-v3.yaml", "--depth", "3", "--json").stdout)["rows"]}
    ops = rows["Mixed_6b"]["children"][1]["children"]
    assert [(op["name"], op["patch"]) for op in ops] == [("branch7x7_1", "1x1/1"), ("branch7x7_2", "1x7/1"), ("branch7x7_3", "7x1/1")]


def test_counts_print_exact_and_sizes_height_width_channels():
    """One convention: exact counts with thousands separators, HxWxC sizes, the input's too."""
    lines = netgen("summary", "specs/googlenet.yaml").stdout.splitlines()
    assert lines[0] == "GoogLeNet (specs/googlenet.yaml), input 224x224x3"
    assert next(line for line in lines if line.startswith("inception3a ")).split()[-2:] == ["163,696", "128,049,152"]
    assert next(line for line in lines if line.startswith("total ")).split()[-2:] == ["6,998,552", "1,582,671,872"]
    assert not any(re.search(r"\d[KM]\b", line) for line in lines)
    report = (ROOT / "generated" / "googlenet.md").read_text(encoding="utf-8")
    assert "| inception3a | inception |  | 28x28x256 | 2 | 64 | 96 | 128 | 16 | 32 | 32 | 163,696 | 128,049,152 |" in report
    assert "params in K = 1,024 weights, ops in M = 1,000,000 multiply-adds" in report  # the paper's units, said


def test_input_takes_channels_first_with_commas_only():
    run = netgen("check", "specs/googlenet.yaml", "--input", "299x299x3")
    assert run.returncode == 2
    assert "expected C,H,W with commas, channels first" in " ".join(run.stderr.split())
