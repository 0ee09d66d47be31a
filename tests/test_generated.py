"""generated/ is the golden record: it must equal what every spec in specs/ builds to now."""

import pytest

from netgen.build import produce, stale
from tests.conftest import ROOT, SPECS

SPEC_FILES = sorted(SPECS.glob("*.yaml"))


def test_every_spec_is_covered():
    assert len(SPEC_FILES) >= 5


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda path: path.name)
def test_generated_is_up_to_date(spec):
    relative = spec.relative_to(ROOT)
    diffs = stale(ROOT / "generated", produce(str(relative)))
    assert not diffs, f"generated/ is stale for {relative}; run: netgen build {relative}\n" + "".join(diffs)[:4000]
