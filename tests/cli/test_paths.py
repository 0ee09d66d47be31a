"""Paths a user names: a spec, a reference table or weights must be a regular file, read with a size
cap; a pipe, a device or a folder (or a symlink to one) is refused at once, never read or waited on."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import SMALL_SPEC, netgen_cli


@pytest.fixture
def places(tmp_path):
    """A FIFO, a folder and symlinks to endless devices, each named like a spec."""
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "urandom.yaml").symlink_to("/dev/urandom")
    (tmp_path / "small.yaml").write_text(SMALL_SPEC)
    return tmp_path


KINDS = {
    "fifo.yaml": "a pipe (FIFO)",
    "folder.yaml": "a folder",
    "zero.yaml": "a character device",
    "urandom.yaml": "a character device",
}


@pytest.mark.parametrize("name", KINDS)
def test_a_spec_that_is_no_regular_file_is_refused_without_reading_it(places, name):
    run = netgen_cli("check", name, cwd=places)
    assert run.returncode == 1
    assert run.stderr == f"{name}:1:1: error: cannot read spec: it is {KINDS[name]}, not a regular file [not-a-file]\n1 error\n"


@pytest.mark.parametrize("name", ["fifo.yaml", "zero.yaml"])
def test_a_reference_or_weights_that_are_no_regular_file_are_refused(places, name):
    run = netgen_cli("verify", "small.yaml", "--reference", name, cwd=places)
    assert (run.returncode, run.stderr) == (1, f"{name}:1:1: error: cannot read reference table: it is {KINDS[name]}, not a regular file [not-a-file]\n1 error\n")
    run = netgen_cli("build", "small.yaml", "--weights", name, "--out", "out", cwd=places)
    assert (run.returncode, run.stderr) == (1, f"{name}:1:1: error: cannot read weights: it is {KINDS[name]}, not a regular file [not-a-file]\n1 error\n")
    assert not (places / "out").exists()


def test_a_reference_over_the_size_cap_is_refused_unread(places):
    (places / "huge.yaml").write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    run = netgen_cli("verify", "small.yaml", "--reference", "huge.yaml", cwd=places)
    assert run.returncode == 1
    assert run.stderr == "huge.yaml:1:1: error: reference table is 4,194,305 bytes; the limit is 4,194,304 [file-too-large]\n1 error\n"


@pytest.mark.parametrize(
    ("name", "why", "suggested"),
    [
        ("3net.yaml", "'3net', which is not a Python module name (ASCII letters, digits and '_', not starting with a digit)", "net_3net"),
        ("réseau v2.yaml", "'réseau_v2', which is not a Python module name (ASCII letters, digits and '_', not starting with a digit)", "reseau_v2"),
        ("class.yaml", "'class', which is a Python keyword, so `import` cannot load it", "class_net"),
        ("torch.yaml", "'torch', which would hide the torch module from code that imports it beside the generated file", "torch_net"),
        ("Math.yaml", "'Math', which would hide the math module from code that imports it beside the generated file", "Math_net"),
    ],
)
def test_a_spec_whose_name_makes_no_importable_module_is_refused_with_a_name_that_does(tmp_path, name, why, suggested):
    (tmp_path / name).write_text(SMALL_SPEC)
    expected = f"{name}:1:1: error: the generated module would be named {why}; rename the spec, e.g. to {suggested}.yaml [bad-file-name]\n1 error\n"
    for command in (["check", name], ["build", name, "--out", "out"]):
        run = netgen_cli(*command, cwd=tmp_path)
        assert (run.returncode, run.stderr) == (1, expected)
    assert not (tmp_path / "out").exists()


def test_punctuation_and_spaces_in_a_spec_name_become_underscores_and_the_module_imports(tmp_path):
    (tmp_path / "small net-v2.1.yaml").write_text(SMALL_SPEC)
    run = netgen_cli("build", "small net-v2.1.yaml", "--out", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "wrote out/small_net_v2_1.py"
    imported = subprocess.run(
        [sys.executable, "-c", "import small_net_v2_1; print(small_net_v2_1.Small.__name__)"],
        cwd=tmp_path / "out",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (imported.returncode, imported.stdout) == (0, "Small\n"), imported.stderr
