"""Paths a user names: a spec, a reference table or weights must be a regular file, read with a size
cap; a pipe, a device or a folder (or a symlink to one) is refused at once, never read or waited on."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SMALL = """\
name: Small
input: [3, 16, 16]
num_classes: 3
layers:
  conv: {conv: {out: 4, kernel: 3, pad: 1, act: relu}}
  pool: {global_avgpool: }
  flat: {flatten: }
  fc: {linear: {out: num_classes}}
"""


def netgen(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "NETGEN_TRACEBACK"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "netgen", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def places(tmp_path):
    """A FIFO, a folder and symlinks to endless devices, each named like a spec."""
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "urandom.yaml").symlink_to("/dev/urandom")
    (tmp_path / "small.yaml").write_text(SMALL)
    return tmp_path


KINDS = {
    "fifo.yaml": "a pipe (FIFO)",
    "folder.yaml": "a folder",
    "zero.yaml": "a character device",
    "urandom.yaml": "a character device",
}


@pytest.mark.parametrize("name", KINDS)
def test_a_spec_that_is_no_regular_file_is_refused_without_reading_it(places, name):
    run = netgen("check", name, cwd=places)
    assert run.returncode == 1
    assert run.stderr == f"{name}:1:1: error: cannot read spec: it is {KINDS[name]}, not a regular file [not-a-file]\n1 error\n"


@pytest.mark.parametrize("name", ["fifo.yaml", "zero.yaml"])
def test_a_reference_or_weights_that_are_no_regular_file_are_refused(places, name):
    run = netgen("verify", "small.yaml", "--reference", name, cwd=places)
    assert (run.returncode, run.stderr) == (1, f"{name}:1:1: error: cannot read reference table: it is {KINDS[name]}, not a regular file [not-a-file]\n1 error\n")
    run = netgen("build", "small.yaml", "--weights", name, "--out", "out", cwd=places)
    assert (run.returncode, run.stderr) == (1, f"{name}:1:1: error: cannot read weights: it is {KINDS[name]}, not a regular file [not-a-file]\n1 error\n")
    assert not (places / "out").exists()


def test_a_reference_over_the_size_cap_is_refused_unread(places):
    (places / "huge.yaml").write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    run = netgen("verify", "small.yaml", "--reference", "huge.yaml", cwd=places)
    assert run.returncode == 1
    assert run.stderr == "huge.yaml:1:1: error: reference table is 4,194,305 bytes; the limit is 4,194,304 [file-too-large]\n1 error\n"
