"""The command line teaches itself: --version, completion, an example and a readable usage line
in every command's --help, the exit codes in `netgen --help`, one JSON diagnostic schema on every
command, colour only on a terminal, and a missing spec as a one-line usage error."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netgen import __version__
from netgen.cli import app
from tests.cli.test_bad_specs import BAD, _env
from tests.conftest import ROOT

COMMANDS = ["new", "check", "summary", "graph", "build", "verify", "report", "diff", "schema", "lsp"]
DIAGNOSTIC_KEYS = ["file", "line", "column", "severity", "code", "message", "hint", "notes"]
WIDE = {"COLUMNS": "200", "NO_COLOR": "1"}


def invoke(*args: str, cwd: Path = ROOT):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args), env=WIDE, prog_name="netgen")
    finally:
        os.chdir(old)


def test_version():
    result = invoke("--version")
    assert (result.exit_code, result.output) == (0, f"netgen {__version__}\n")


def test_help_lists_every_command_and_the_exit_codes():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f"│ {command} " in result.output, command
    for code in ("0 success", "1 the spec has errors", "2 wrong usage", "3 stale output", "70 a bug in netgen"):
        assert code in result.output
    assert "--install-completion" in result.output and "--show-completion" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_an_example_and_a_readable_usage_line(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    usage = next(line.strip() for line in result.output.splitlines() if "Usage:" in line)
    assert usage.startswith(f"Usage: netgen {command}")
    assert "{" not in usage and "[OPTIONS]" not in usage
    assert "<bool>" not in result.output and "<str>" not in result.output
    assert f"Example: netgen {command} " in result.output


def test_usage_lines_read_as_written():
    usages = {command: next(line.strip() for line in invoke(command, "--help").output.splitlines() if "Usage:" in line) for command in ("build", "check")}
    assert usages["build"].startswith("Usage: netgen build SPEC... [--out DIR] [--weights FILE] [--check]")
    assert usages["check"] == "Usage: netgen check SPEC... [--input C,H,W] [--strict] [--max-layers N] [--json]"


def test_completion_completes_commands():
    script = Path(sys.executable).with_name("netgen")
    # The shell named, not detected from the processes around the test, which differ from run to run.
    named = {**_env(), "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    shown = subprocess.run([script, "--show-completion", "bash"], capture_output=True, text=True, env=named)
    assert shown.returncode == 0 and "_NETGEN_COMPLETE" in shown.stdout
    env = {**_env(), "_NETGEN_COMPLETE": "complete_bash", "COMP_WORDS": "netgen ch", "COMP_CWORD": "1"}
    completed = subprocess.run([script], capture_output=True, text=True, env=env)
    assert completed.stdout.split() == ["check"]


def test_a_missing_spec_is_a_one_line_usage_error(tmp_path):
    for command in ("check", "summary", "build", "verify", "graph", "report", "diff"):
        result = invoke(command, "nope.yaml", *(["nope.yaml"] if command == "diff" else []), cwd=tmp_path)
        assert (result.exit_code, result.output) == (2, "netgen: error: nope.yaml: no such file\n"), command


def test_check_json_gives_diagnostics_as_objects():
    result = invoke("check", "unknown-conv-arg.yaml", "defaults-bad-values.yaml", "--json", cwd=BAD)
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert [spec["spec"] for spec in document["specs"]] == ["unknown-conv-arg.yaml", "defaults-bad-values.yaml"]
    first = document["diagnostics"][0]
    assert list(first) == DIAGNOSTIC_KEYS
    assert first == {
        "file": "unknown-conv-arg.yaml",
        "line": 5,
        "column": 27,
        "severity": "error",
        "code": "unknown-key",
        "message": "conv1: conv: unknown key 'kernal'; did you mean 'kernel'?",
        "hint": "did you mean 'kernel'?",
        "notes": [],
    }
    assert len(document["diagnostics"]) == 1 + 3


def test_notes_are_diagnostic_objects_too():
    result = invoke("check", "block-wrong-arity.yaml", "--json", cwd=BAD)
    (diagnostic,) = json.loads(result.stdout)["diagnostics"]
    assert diagnostic["notes"] == [
        {"file": "block-wrong-arity.yaml", "line": 5, "column": 3, "severity": "note", "code": None, "message": "inception is defined here", "hint": None, "notes": []}
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["check", "specs/googlenet-cifar10.yaml"],
        ["summary", "specs/googlenet-cifar10.yaml", "--input", "3,299,299"],
        ["build", "specs/googlenet-cifar10.yaml", "--check"],
        ["verify", "specs/googlenet-cifar10.yaml"],
        ["graph", "specs/googlenet-cifar10.yaml"],
        ["report", "specs/googlenet-cifar10.yaml", "--check"],
        ["diff", "specs/googlenet.yaml", "specs/googlenet-cifar10.yaml"],
    ],
    ids=lambda args: args[0],
)
def test_every_command_prints_one_json_object_with_diagnostics(args):
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert isinstance(document["diagnostics"], list)
    for diagnostic in document["diagnostics"]:
        assert list(diagnostic) == DIAGNOSTIC_KEYS
    if args[0] == "summary":  # GoogLeNet's 7x7 pool at 299x299 is no longer global: a warning
        assert [d["code"] for d in document["diagnostics"]] == ["pool-not-global"]
        assert document["totals"]["params"] > 0
    if args[0] == "verify":
        assert document["verify"]["ok"] is True and document["verify"]["rows"]
    if args[0] == "diff":
        assert document["diff"]["totals"]["params"]["b"] < document["diff"]["totals"]["params"]["a"]
    if args[0] == "graph":
        assert document["text"].startswith("flowchart TD") and document["graph"]["nodes"][0]["id"] == "input"


def _on_a_terminal(*args: str, **env: str) -> str:
    """The stderr of netgen run with a terminal for stderr."""
    leader, follower = pty.openpty()
    run = subprocess.run(
        [sys.executable, "-m", "netgen", *args], cwd=BAD, env={**_env(), **env}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert run.returncode == 1
    return b"".join(chunks).decode()


def test_diagnostics_are_coloured_on_a_terminal_only_and_never_with_no_color():
    env = {key: value for key, value in _env().items() if key != "NO_COLOR"}
    coloured = _on_a_terminal("check", "block-wrong-arity.yaml", **env)
    assert "\x1b[31m" in coloured and "error:" in coloured
    plain = subprocess.run([sys.executable, "-m", "netgen", "check", "block-wrong-arity.yaml"], cwd=BAD, env=env, capture_output=True, text=True)
    assert "\x1b[" not in plain.stderr
    assert "\x1b[" not in _on_a_terminal("check", "block-wrong-arity.yaml", NO_COLOR="1")


def test_new_spec_checks_and_a_copy_keeps_its_reference(tmp_path):
    result = invoke("new", "mynet", "--out", str(tmp_path / "specs"))
    assert result.exit_code == 0, result.output
    spec = tmp_path / "specs" / "mynet.yaml"
    assert result.output.splitlines()[-1] == f"next: netgen check {spec}"
    text = spec.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=netgen.schema.json\n")
    assert (tmp_path / "specs" / "netgen.schema.json").exists()
    # Every field of the starter is commented.
    fields = [line for line in text.splitlines() if line and not line.startswith(("#", " "))]
    assert fields and all("#" in line for line in fields), fields
    checked = invoke("check", str(spec))
    assert checked.exit_code == 0, checked.output
    assert invoke("new", "mynet", "--out", str(tmp_path / "specs")).exit_code == 2  # never overwritten

    copy = invoke("new", "variant", "--from", "specs/googlenet.yaml", "--out", str(tmp_path / "mine"))
    assert copy.exit_code == 0, copy.output
    verified = invoke("verify", str(tmp_path / "mine" / "variant.yaml"))
    assert verified.exit_code == 0, verified.output
    copied = (tmp_path / "mine" / "variant.yaml").read_text()
    assert copied.count("yaml-language-server") == 1
    # A spec reads only tables in its folder or below, so the copy brings its table along.
    assert "\nreference: reference/googlenet-table1.yaml" in copied
    table = tmp_path / "mine" / "reference" / "googlenet-table1.yaml"
    assert table.read_bytes() == Path("specs/reference/googlenet-table1.yaml").read_bytes()
    assert f"wrote {table}" in copy.output
    # Copied again into the same folder, the table already there is the same one: nothing is refused.
    again = invoke("new", "variant2", "--from", "specs/googlenet.yaml", "--out", str(tmp_path / "mine"))
    assert again.exit_code == 0, again.output
    table.write_text("rows: {}\n")
    differs = invoke("new", "variant3", "--from", "specs/googlenet.yaml", "--out", str(tmp_path / "mine"))
    assert differs.exit_code == 2 and "differs from the file" in differs.output
    assert not (tmp_path / "mine" / "variant3.yaml").exists()


@pytest.mark.parametrize("written", ["٣,224,224", "3_0,224,224", "3,２24,224", " 3,224,224"])
def test_input_takes_ascii_digits_only(written):
    result = invoke("check", "specs/googlenet.yaml", "--input", written)
    assert result.exit_code == 2
    assert f"got {written!r}" in " ".join(result.stderr.replace("│", " ").split())


def test_max_layers_has_a_ceiling_that_keeps_a_check_bounded():
    from netgen.passes.expand import MAX_LAYERS_CEILING

    assert f"at most {MAX_LAYERS_CEILING:,}" in " ".join(invoke("check", "--help").stdout.split())
    assert invoke("check", "specs/googlenet.yaml", "--max-layers", str(MAX_LAYERS_CEILING)).exit_code == 0
    result = invoke("check", "specs/googlenet.yaml", "--max-layers", str(10**12))
    assert result.exit_code == 2
    assert f"at most {MAX_LAYERS_CEILING:,}, the most a check can expand in bounded time" in " ".join(result.stderr.replace("│", " ").split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "nope.yaml"], "nope.yaml: no such file"),
        (["check"], "Missing argument 'SPEC...'."),
        (["chek", "specs/googlenet.yaml"], "No such command 'chek'. Did you mean 'check', 'schema'?"),
        (["summary", "specs/googlenet.yaml", "--input", "3_0,1,1"], "Invalid value for '--input': expected C,H,W: three integers from 1 to 65536, such as 3,299,299; got '3_0,1,1'"),
        (["build", "specs/googlenet.yaml", "--out", "README.md"], "--out README.md is not a folder"),
    ],
    ids=["missing-spec", "no-spec", "unknown-command", "bad-input", "bad-out"],
)
def test_json_answers_a_usage_error_with_one_object(args, message):
    result = invoke(*args, "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"ok": False, "error": {"exit_code": 2, "message": message}, "diagnostics": []}


def test_json_answers_an_internal_error_with_one_object(tmp_path):
    script = (
        "import sys, netgen.compile\n"
        "from netgen.cli import main\n"
        "def broken(*args):\n"
        "    raise RuntimeError('stage exploded')\n"
        "netgen.compile.compile_file = broken\n"
        "sys.argv = ['netgen', 'check', 'any.yaml', '--json']\n"
        "main()\n"
    )
    (tmp_path / "any.yaml").write_text("name: Any\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 70
    error = {"exit_code": 70, "message": "internal error: RuntimeError: stage exploded"}
    assert json.loads(run.stdout) == {"ok": False, "error": error, "diagnostics": []}
