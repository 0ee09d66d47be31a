"""generated/ is the golden record: it must equal what every spec in specs/ builds to now, and
hold each spec's report as `netgen report` writes it."""

import pytest

from netgen.build import output_stem, produce, stale
from netgen.compile import compile_file
from netgen.report import report_artifact
from tests.conftest import ROOT, SPECS

SPEC_FILES = sorted(SPECS.glob("*.yaml"))


def test_every_spec_is_covered():
    assert len(SPEC_FILES) >= 5


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda path: path.name)
def test_generated_is_up_to_date(spec):
    relative = spec.relative_to(ROOT)
    diffs = stale(ROOT / "generated", produce(str(relative)))
    assert not diffs, f"generated/ is stale for {relative}; run: netgen build {relative}\n" + "".join(diffs)[:4000]


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda path: path.name)
def test_report_is_up_to_date(spec, monkeypatch):
    monkeypatch.chdir(ROOT)  # the report names its spec and reference as a clone's relative paths
    relative = spec.relative_to(ROOT).as_posix()
    diffs = stale(ROOT / "generated", [report_artifact(*compile_file(relative), output_stem(relative))])
    assert not diffs, f"generated/ is stale for {relative}; run: netgen report {relative}\n" + "".join(diffs)[:4000]
