"""Every command reads and writes through one guarded file layer (netgen/files.py): what `new`
reads is what `check` reads (a regular file, bounded, UTF-8 YAML, and a reference table in the
spec's folder or below), a pipe or a device is never read or written, and no command writes
onto one of its own inputs, whatever path or link names it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.cli.conftest import listing, refused
from tests.conftest import SMALL_SPEC, SPECS, netgen_cli


def diagnosed(run, *lines: str) -> None:
    errors = len(lines)
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr == "".join(f"{line}\n" for line in lines) + f"{errors} error{'s' if errors > 1 else ''}\n"


# -- netgen new ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda path: os.mkfifo(path), "a pipe (FIFO)"),
        (lambda path: path.mkdir(), "a folder"),
        (lambda path: path.symlink_to("/dev/zero"), "a character device"),
    ],
    ids=["fifo", "folder", "dev-zero"],
)
def test_new_from_what_is_no_regular_file_is_refused_unread(folder, make, kind):
    make(folder / "source.yaml")
    run = netgen_cli("new", "mine", "--from", "source.yaml", cwd=folder)  # a FIFO would block, /dev/zero fill memory
    diagnosed(run, f"source.yaml:1:1: error: cannot read spec: it is {kind}, not a regular file [not-a-file]")
    assert not (folder / "specs").exists()


def test_new_from_a_spec_over_the_size_cap_is_refused_unread(folder):
    (folder / "huge.yaml").write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    run = netgen_cli("new", "mine", "--from", "huge.yaml", cwd=folder)
    diagnosed(run, "huge.yaml:1:1: error: spec is 4,194,305 bytes; the limit is 4,194,304 [file-too-large]")


def test_new_copies_no_table_from_outside_the_spec_folder(folder):
    secret = folder / "secret.txt"
    secret.write_text("TOKEN=s3cr3t\n")
    (folder / "src").mkdir()
    (folder / "src" / "net.yaml").write_text(SMALL_SPEC + "reference: ../secret.txt\n")
    (folder / "src" / "link.yaml").write_text(SMALL_SPEC + "reference: inside.yaml\n")
    (folder / "src" / "inside.yaml").symlink_to(secret)  # in the folder by name, outside by where it leads
    for source in ("net.yaml", "link.yaml"):
        run = netgen_cli("new", "mine", "--from", f"src/{source}", "--out", "out", cwd=folder)
        assert run.returncode == 1 and "[reference-outside]" in run.stderr, run.stderr
        assert "s3cr3t" not in run.stdout + run.stderr
    assert not (folder / "out").exists()


def test_new_copies_a_table_only_when_it_is_a_reference_table(folder):
    (folder / "src").mkdir()
    (folder / "src" / "notes.txt").write_text("TOKEN=s3cr3t\n")
    (folder / "src" / "net.yaml").write_text(SMALL_SPEC + "reference: notes.txt\n")
    run = netgen_cli("new", "mine", "--from", "src/net.yaml", "--out", "out", cwd=folder)
    assert run.returncode == 1 and "src/notes.txt:1:1: error: " in run.stderr, run.stderr
    assert "s3cr3t" not in run.stdout + run.stderr
    assert not (folder / "out").exists()


def test_new_copies_the_reference_table_a_spec_names_beside_it(folder):
    run = netgen_cli("new", "mine", "--from", str(SPECS / "googlenet.yaml"), "--out", "out", cwd=folder)
    assert run.returncode == 0, run.stderr
    assert listing(folder / "out") == ["mine.yaml", "netgen.schema.json", "reference", "reference/googlenet-table1.yaml"]
    table = folder / "out" / "reference" / "googlenet-table1.yaml"
    assert table.read_bytes() == (SPECS / "reference" / "googlenet-table1.yaml").read_bytes()
    assert stat.S_IMODE(table.stat().st_mode) == 0o644  # as the umask of the test run gives any new file


@pytest.mark.parametrize(
    ("name", "why", "instead"),
    [
        ("torch", "would hide the torch module from code that imports it beside the generated file", "torch_net"),
        ("os", "would hide the os module from code that imports it beside the generated file", "os_net"),
        ("None", "is a Python keyword, so `import` cannot load it", "None_net"),
        ("True", "is a Python keyword, so `import` cannot load it", "True_net"),
    ],
)
def test_new_refuses_a_name_check_would_refuse(folder, name, why, instead):
    refused(
        netgen_cli("new", name, cwd=folder),
        f"{name!r} is not a usable name: the generated module would be named {name!r}, which {why}; choose another NAME, e.g. {instead}",
    )
    assert not (folder / "specs").exists()


@pytest.mark.parametrize("name", ["null", "yes", "Null", "off", "y"])
def test_new_writes_a_name_yaml_would_read_otherwise_so_that_check_passes(folder, name):
    assert netgen_cli("new", name, cwd=folder).returncode == 0
    checked = netgen_cli("check", f"specs/{name}.yaml", cwd=folder)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"specs/{name}.yaml: ok ({name}, ")


def test_new_out_that_is_a_file_or_under_proc_is_a_usage_error(folder):
    refused(netgen_cli("new", "mine", "--out", "small.yaml", cwd=folder), "--out small.yaml is not a folder")
    run = netgen_cli("new", "mine", "--out", "/proc/netgen-new", cwd=folder)
    assert run.returncode == 2 and run.stderr.startswith("netgen: error: cannot write /proc/netgen-new")
    assert listing(folder) == ["small.yaml"]


# -- writing: never onto an input, a pipe or a device ---------------------------------------


def test_graph_never_writes_onto_the_spec_it_reads_by_any_name(folder):
    os.link(folder / "small.yaml", folder / "hard.yaml")
    (folder / "soft.yaml").symlink_to("small.yaml")
    for target in ("small.yaml", "hard.yaml", "soft.yaml", "./small.yaml", str(folder / "small.yaml")):
        refused(
            netgen_cli("graph", "small.yaml", "-o", target, cwd=folder),
            f"cannot write {Path(target)}: it is a file this command reads; write to another file",
        )
    assert (folder / "small.yaml").read_text() == SMALL_SPEC


def test_graph_never_writes_onto_a_pipe_or_a_device(folder):
    os.mkfifo(folder / "pipe")
    refused(netgen_cli("graph", "small.yaml", "-o", "pipe", cwd=folder), "cannot write pipe: it is a pipe (FIFO), not a regular file")
    refused(netgen_cli("graph", "small.yaml", "-o", "/dev/null", cwd=folder), "cannot write /dev/null: it is a character device, not a regular file")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_graph_output_replaces_the_previous_file_whole(folder):
    (folder / "small.mmd").write_text("old diagram")
    run = netgen_cli("graph", "small.yaml", "-o", "small.mmd", cwd=folder)
    assert (run.returncode, run.stdout) == (0, "wrote small.mmd\n"), run.stderr
    assert (folder / "small.mmd").read_text().startswith("flowchart TD\n")
    assert listing(folder) == ["small.mmd", "small.yaml"]  # no temporary file left


def test_build_never_writes_onto_its_spec(folder):
    (folder / "net.py").write_text(SMALL_SPEC)  # a spec that happens to end in .py, built into its own folder
    refused(netgen_cli("build", "net.py", "--out", ".", cwd=folder), "cannot write net.py: it is a file this command reads; write to another file")
    assert (folder / "net.py").read_text() == SMALL_SPEC
    assert listing(folder) == ["net.py", "small.yaml"]


def test_report_never_writes_onto_the_reference_table_it_reads(folder):
    (folder / "googlenet.yaml").write_text((SPECS / "googlenet.yaml").read_text().replace("reference/googlenet-table1.yaml", "googlenet.md"))
    table = (SPECS / "reference" / "googlenet-table1.yaml").read_bytes()
    (folder / "googlenet.md").write_bytes(table)
    refused(netgen_cli("report", "googlenet.yaml", "--out", ".", cwd=folder), "cannot write googlenet.md: it is a file this command reads; write to another file")
    assert (folder / "googlenet.md").read_bytes() == table
