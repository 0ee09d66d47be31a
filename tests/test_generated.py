"""generated/ is the golden record: it must equal what every spec in specs/ builds to now, and
hold each spec's report as `netgen report` writes it. A stale file fails with the command that
rebuilds it on the first line, then which files differ, then the start of the most readable diff."""

import pytest

from netgen.build import output_stem, produce, stale
from netgen.compile import compile_file
from netgen.report import report_artifact
from tests.conftest import ROOT, SPECS

SPEC_FILES = sorted(SPECS.glob("*.yaml"))
SHOWN_LINES = 40  # of the first diff; the ONNX graph's text can differ by thousands


def stale_message(spec: str, command: str, diffs: list[str]) -> str:
    """The command that fixes a stale golden file first, then the files and the count of changed
    lines of each, then the beginning of the Python diff (or the first), never the whole of it."""
    lines = [f"generated/ is stale for {spec}; run: netgen {command} {spec}"]
    for diff in diffs:
        name = diff.splitlines()[1].removeprefix("+++ ").removesuffix(" (rebuilt)")
        changed = sum(1 for line in diff.splitlines()[2:] if line[:1] in "+-")
        lines.append(f"  {name}: {changed} changed lines")
    first = next((diff for diff in diffs if ".py " in diff.splitlines()[1]), diffs[0])
    shown = first.splitlines()
    lines += ["", *shown[:SHOWN_LINES]]
    if len(shown) > SHOWN_LINES:
        lines.append(f"... {len(shown) - SHOWN_LINES} more lines; `netgen {command} {spec} --check` prints the diffs")
    return "\n".join(lines)


def test_every_spec_is_covered():
    assert len(SPEC_FILES) >= 5


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda path: path.name)
def test_generated_is_up_to_date(spec):
    relative = spec.relative_to(ROOT)
    diffs = stale(ROOT / "generated", produce(str(relative)))
    if diffs:
        pytest.fail(stale_message(str(relative), "build", diffs), pytrace=False)


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda path: path.name)
def test_report_is_up_to_date(spec, monkeypatch):
    monkeypatch.chdir(ROOT)  # the report names its spec and reference as a clone's relative paths
    relative = spec.relative_to(ROOT).as_posix()
    diffs = stale(ROOT / "generated", [report_artifact(*compile_file(relative), output_stem(relative))])
    if diffs:
        pytest.fail(stale_message(relative, "report", diffs), pytrace=False)


def test_a_stale_file_leads_with_the_command_that_fixes_it(tmp_path):
    """A spec whose .py and ONNX text are stale: the command first, the ONNX diff never in full."""
    spec = "specs/googlenet-cifar10.yaml"
    artifacts = produce(str(ROOT / spec))
    for artifact in artifacts:
        data = artifact.data.replace(b"GoogLeNetCIFAR10", b"OldName") if artifact.golden else artifact.data
        (tmp_path / artifact.name).write_bytes(data)
    diffs = stale(tmp_path, artifacts)
    message = stale_message(spec, "build", diffs).splitlines()
    assert message[0] == f"generated/ is stale for {spec}; run: netgen build {spec}"
    assert message[1].startswith(f"  {tmp_path / 'googlenet_cifar10.py'}: ") and message[1].endswith(" changed lines")
    assert message[2].startswith(f"  {tmp_path / 'googlenet_cifar10.onnx.txt'}: ")
    assert message[4] == f"--- {tmp_path / 'googlenet_cifar10.py'}"
    assert len(message) <= 5 + SHOWN_LINES + 1
