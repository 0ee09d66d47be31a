"""What the command-line tests that write files share: a folder holding a small spec, its listing,
and the one-line refusal of a usage error."""

from __future__ import annotations

import pytest

from tests.conftest import SMALL_SPEC


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "small.yaml").write_text(SMALL_SPEC)
    return tmp_path


def listing(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def refused(run, message: str) -> None:
    assert (run.returncode, run.stdout, run.stderr) == (2, "", f"netgen: error: {message}\n")
