"""`netgen verify`: exit 0 when every difference from Table 1 is documented, 3 otherwise, 1 on errors."""

import subprocess
import sys

import pytest

from netgen.verify.reference import load_reference
from tests.conftest import GOOGLENET, ROOT, SPECS

REFERENCE = SPECS / "reference" / "googlenet-table1.yaml"


def netgen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netgen", *args], cwd=ROOT, capture_output=True, text=True)


def test_googlenet_verifies_with_documented_errata():
    run = netgen("verify", "specs/googlenet.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    errata = [line for line in lines if line.startswith("  erratum ")]
    reference = load_reference(str(REFERENCE))
    assert len(errata) == sum(len(row.errata) for row in reference.rows)
    assert sum(" params: computed " in line for line in errata) == sum("params" in row.errata for row in reference.rows)
    for expected in (
        "conv1 (convolution) params: computed 9.19K (9,408 weights) vs printed 2.7K",
        "conv1 (convolution) ops: computed 118.01M (118,013,952 multiply-adds) vs printed 34M",
        "inception (5a) params: computed 1018K (1,042,432 weights) vs printed 1072K",
        "inception (5a) ops: computed 51.08M (51,079,168 multiply-adds) vs printed 54M",
    ):
        assert any(line.endswith(expected) for line in errata), expected
    assert "documented erratum: 7x7x3x64 = 9,408 weights" in run.stdout
    assert lines[-1].startswith("ok: every difference is documented")


def test_undocumented_difference_exits_three_naming_the_spec_line(tmp_path):
    copy = tmp_path / "googlenet.yaml"
    copy.write_text(
        GOOGLENET.read_text().replace(
            "inception4c:  {inception: [128,  128, 256,", "inception4c:  {inception: [128,  128, 255,"
        )
    )
    run = netgen("verify", str(copy), "--reference", str(REFERENCE))
    assert run.returncode == 3, run.stdout + run.stderr
    line = next(i for i, text in enumerate(copy.read_text().splitlines(), 1) if text.startswith("  inception4c:"))
    assert (
        f"MISMATCH   {copy}:{line}:3: inception (4c) output_size: computed 14x14x511 vs printed 14x14x512" in run.stdout
    )
    assert run.stdout.splitlines()[-1].startswith("FAILED:")


def test_a_spec_without_a_reference_is_verified_against_nothing_but_says_so(tmp_path):
    copy = tmp_path / "googlenet.yaml"
    copy.write_text(GOOGLENET.read_text().replace("reference: reference/googlenet-table1.yaml\n", ""))
    run = netgen("verify", str(copy))
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == (
        f"GoogLeNet ({copy}): no reference table and no claims to hold it to; state the design's targets under "
        "`claims:`, or name its paper's table with `reference:`\n"
    )
    run = netgen("verify", "specs/googlenet.yaml", "--reference", str(tmp_path / "absent.yaml"))
    assert run.returncode == 1 and "cannot read reference table" in run.stderr


def test_runtime_refuses_a_run_that_could_exhaust_memory_before_running_anything(tmp_path):
    """A 16384x16384 input would allocate 6 GiB for the batch alone: refused at the spec's input size."""
    copy = tmp_path / "googlenet-bn.yaml"
    copy.write_text((SPECS / "googlenet-bn.yaml").read_text().replace("input: [3, 224, 224]", "input: [3, 16384, 16384]"))
    run = netgen("verify", str(copy), "--reference", str(REFERENCE), "--runtime")
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout == ""
    line = next(i for i, text in enumerate(copy.read_text().splitlines(), 1) if text.startswith("input:"))
    (diagnostic, count) = run.stderr.splitlines()
    assert diagnostic.startswith(f"{copy}:{line}:1: error: running the network on a batch of 2 at 3x16384x16384 could take ")
    assert diagnostic.endswith("[too-large-to-run]") and count == "1 error"


def test_a_reference_leading_outside_the_specs_folder_is_refused_unless_given_on_the_command_line(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "linked.yaml").symlink_to(REFERENCE)
    for reference in ("../table.yaml", str(REFERENCE), "linked.yaml"):
        copy = folder / "googlenet.yaml"
        copy.write_text(GOOGLENET.read_text().replace("reference: reference/googlenet-table1.yaml", f"reference: {reference}"))
        line = next(i for i, text in enumerate(copy.read_text().splitlines(), 1) if text.startswith("reference:"))
        run = netgen("verify", str(copy))
        assert (run.returncode, run.stdout) == (1, "")
        assert run.stderr == (
            f"{copy}:{line}:1: error: reference {reference!r} leads outside the spec's folder; a spec names a table "
            "in its folder or below it, and any other is given with --reference [reference-outside]\n1 error\n"
        )
    assert netgen("verify", str(copy), "--reference", str(REFERENCE)).returncode == 0


@pytest.mark.parametrize("content", ["TOKEN=s3cr3t-value\n", "#!/bin/sh\nexport TOKEN=s3cr3t-value\n", "- s3cr3t-value\n"])
def test_a_reference_that_is_no_yaml_mapping_is_refused_without_echoing_it(tmp_path, content):
    table = tmp_path / "notes.txt"
    table.write_text(content)
    run = netgen("verify", "specs/googlenet.yaml", "--reference", str(table))
    assert run.returncode == 1
    assert "s3cr3t" not in run.stdout + run.stderr
    assert run.stderr.startswith(f"{table}:") and "[wrong-type]" in run.stderr


def test_what_a_terminal_would_obey_is_printed_as_escapes(tmp_path):
    """A deviation's reason and the spec's own path reach the terminal; ESC, CR and U+202E do not."""
    name = "gn\x1b[2J\u202e.yaml"
    copy = tmp_path / name
    copy.write_text(
        (SPECS / "googlenet-bn.yaml")
        .read_text()
        .replace(
            "reason: batch norm adds a learned scale per channel, counted with the weights (9,408 + 64)",
            'reason: "\\e[31mbatch norm\\r adds\\u202e a learned scale"',
        )
    )
    run = netgen("verify", str(copy), "--reference", str(REFERENCE))
    assert run.returncode == 0, run.stdout + run.stderr
    assert not {"\x1b", "\r", "\u202e"} & set(run.stdout + run.stderr)
    assert "\\x1b[31mbatch norm\\r adds\\u202e a learned scale" in run.stdout
    run = netgen("check", str(copy))
    shown = str(copy).replace("\x1b", "\\x1b").replace("\u202e", "\\u202e")
    assert run.stderr.startswith(f"{shown}:1:1: error: the generated module would be named ")
    assert not {"\x1b", "\u202e"} & set(run.stdout + run.stderr)


def test_the_table_says_which_units_its_counts_are_in():
    run = netgen("verify", "specs/googlenet.yaml")
    assert run.stdout.splitlines()[2] == (
        "counts in the reference's units, as the paper prints them: params in K = 1,024 weights, ops in M = 1,000,000 multiply-adds"
    )


def test_several_specs_are_verified_in_one_run_with_a_line_for_all(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: Broken\ninput: [3, 8, 8]\nlayers:\n  c: {conv: {out: 4, kernel: 9}}\n")
    run = netgen("verify", "specs/googlenet.yaml", "specs/inception-fact7-cifar10.yaml", str(broken))
    assert run.returncode == 1  # one spec has errors
    assert "ok: every difference is documented" in run.stdout and "ok: every claim holds (7 claims)" in run.stdout
    assert run.stdout.rstrip().splitlines()[-1] == f"verified 3 specs: 2 ok, 1 with errors ({broken})"
    assert run.stderr.startswith(f"{broken}:4:")
    several = netgen("verify", "specs/googlenet.yaml", "specs/googlenet-bn.yaml", "--reference", str(REFERENCE))
    assert several.returncode == 2 and "--reference belongs to one spec" in several.stderr


def test_generated_holds_the_committed_build_to_the_spec(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text("name: Tiny\ninput: [3, 8, 8]\nclaims: {output: 8x8x4}\nlayers:\n  c: {conv: {out: 4, kernel: 3, pad: 1}}\n")
    out = tmp_path / "built"
    assert netgen("build", str(spec), "--out", str(out)).returncode == 0
    fresh = netgen("verify", str(spec), "--generated", str(out))
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert fresh.stdout.rstrip().endswith(f"{spec}: {out}/tiny.py, {out}/tiny.onnx.txt are up to date")
    # A report in the folder is compared too, once there is one.
    assert netgen("report", str(spec), "--out", str(out)).returncode == 0
    spec.write_text(spec.read_text().replace("out: 4", "out: 6").replace("8x8x4", "8x8x6"))
    stale = netgen("verify", str(spec), "--generated", str(out))
    assert stale.returncode == 3
    assert stale.stdout.rstrip().endswith(
        f"{spec}: {out}/tiny.py, {out}/tiny.onnx.txt, {out}/tiny.md are stale; "
        f"run: netgen build {spec} --out {out} && netgen report {spec} --out {out}"
    )
    (out / "tiny.py").unlink()
    missing = netgen("verify", str(spec), "--generated", str(out))
    assert f"{out}/tiny.py is missing; {out}/tiny.onnx.txt, {out}/tiny.md are stale; run: " in missing.stdout
    nowhere = netgen("verify", str(spec), "--generated", str(tmp_path / "nowhere"))
    assert nowhere.returncode == 2 and "--generated" in nowhere.stderr and "is not a folder" in nowhere.stderr
