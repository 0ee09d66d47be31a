"""`netgen build --out`: every way the system can refuse the output is one line and exit 2 (usage),
with nothing left behind; written files get the permissions the umask gives; SIGTERM, like Ctrl-C,
removes the temporary files."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from tests.cli.conftest import listing, refused
from tests.conftest import ROOT, SMALL_SPEC, netgen_cli


def test_out_naming_a_file_is_a_usage_error(folder):
    (folder / "taken").write_text("mine")
    refused(netgen_cli("build", "small.yaml", "--out", "taken", cwd=folder), "--out taken is not a folder")
    refused(netgen_cli("build", "small.yaml", "--out", "taken", "--check", cwd=folder), "--out taken is not a folder")
    refused(
        netgen_cli("build", "small.yaml", "--out", "taken/sub", cwd=folder),
        f"cannot write taken/sub: {os.strerror(errno.ENOTDIR)}",
    )
    assert (folder / "taken").read_text() == "mine"
    assert listing(folder) == ["small.yaml", "taken"]


def test_out_in_a_place_nobody_may_write_is_a_usage_error(folder):
    if os.geteuid() != 0:
        locked = folder / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        out, reason = locked / "out", os.strerror(errno.EACCES)
    elif os.path.isdir("/sys/kernel"):
        out, reason = "/sys/netgen-out", os.strerror(errno.EPERM)  # not even root may create folders here
    else:
        pytest.skip("no place this user cannot write")
    refused(netgen_cli("build", "small.yaml", "--out", str(out), cwd=folder), f"cannot write {out}: {reason}")


def test_a_target_that_is_a_folder_is_a_usage_error_and_nothing_is_written(folder):
    (folder / "out" / "small.onnx").mkdir(parents=True)
    refused(
        netgen_cli("build", "small.yaml", "--out", "out", cwd=folder),
        f"cannot write out/small.onnx: {os.strerror(errno.EISDIR)}",
    )
    assert listing(folder) == ["out", "out/small.onnx", "small.yaml"]


def test_a_target_name_too_long_for_the_file_system_is_a_usage_error(folder):
    stem = "n" * (255 - len(".yaml"))  # the spec's name fits, its outputs' names do not
    (folder / f"{stem}.yaml").write_text(SMALL_SPEC)
    refused(
        netgen_cli("build", f"{stem}.yaml", "--out", "out", cwd=folder),
        f"cannot write out/{stem}.onnx.txt: {os.strerror(errno.ENAMETOOLONG)}",
    )
    assert listing(folder) == sorted(["out", f"{stem}.yaml", "small.yaml"])


def test_check_never_reads_a_target_that_is_not_a_regular_file(folder):
    (folder / "out").mkdir()
    os.mkfifo(folder / "out" / "small.py")
    refused(
        netgen_cli("build", "small.yaml", "--out", "out", "--check", cwd=folder),
        "cannot read out/small.py: it is a pipe (FIFO), not a regular file",
    )


def test_two_specs_building_to_one_name_are_refused_before_anything_is_written(folder):
    (folder / "small-net.yaml").write_text(SMALL_SPEC)
    (folder / "small_net.yaml").write_text(SMALL_SPEC)
    refused(
        netgen_cli("build", "small.yaml", "small-net.yaml", "small_net.yaml", "--out", "out", cwd=folder),
        "small-net.yaml and small_net.yaml would both write out/small_net.py; build them into different --out folders",
    )
    assert not (folder / "out").exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_have_the_permissions_the_umask_gives(folder, umask, mode):
    (folder / "out").mkdir()
    (folder / "out" / "small.py").write_text("old")
    (folder / "out" / "small.py").chmod(0o600)
    run = netgen_cli("build", "small.yaml", "--out", "out", cwd=folder, umask=umask)
    assert run.returncode == 0, run.stderr
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (folder / "out").iterdir()}
    assert modes == {"small.py": mode, "small.onnx": mode, "small.onnx.txt": mode}


def test_sigterm_while_writing_removes_the_temporary_files_and_keeps_the_previous_output(folder):
    assert netgen_cli("build", "small.yaml", "--out", "out", cwd=folder).returncode == 0
    before = {path.name: path.read_bytes() for path in (folder / "out").iterdir()}
    (folder / "small.yaml").write_text(SMALL_SPEC.replace("out: 4", "out: 6"))
    # Terminated after the first temporary file is written, as a `kill` would.
    script = textwrap.dedent(
        """
        import os, signal, sys
        import netgen.files
        from netgen.cli import main

        written = []

        def fsync(fd):
            written.append(fd)
            if len(written) == 2:
                os.kill(os.getpid(), signal.SIGTERM)

        netgen.files.os.fsync = fsync
        sys.argv = ["netgen", "build", "small.yaml", "--out", "out"]
        main()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 128 + signal.SIGTERM, run.stderr
    assert "Traceback" not in run.stderr
    assert {path.name: path.read_bytes() for path in (folder / "out").iterdir()} == before
