"""Two runs of the suite: CI runs all of it (README's test command, which .ci/run runs as written),
and `-m "not slow"` is the quick subset README documents for working on netgen, without the tests
marked slow, which run whole networks end to end."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

FULL = "python -m pytest -n 2 -q"
QUICK = 'python -m pytest -n 2 -q -m "not slow"'


def test_ci_runs_everything_and_readme_documents_the_quick_subset():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```sh\n{FULL}\n```" in readme
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith(FULL)  # no -m: every test
    assert f"`{QUICK}`" in readme
    assert "slow: " in (ROOT / "pyproject.toml").read_text()


def test_the_quick_subset_leaves_out_the_tests_that_run_whole_networks():
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    collected = set(run.stdout.split())
    assert any(line.startswith("tests/test_specs.py::") for line in collected)
    for heavy in (
        "tests/test_specs.py::test_spec_verifies_and_its_module_runs_as_the_ir_says[specs/googlenet.yaml]",
        "tests/backends/test_inference.py::test_build_optimize_writes_both_and_loads_a_plain_checkpoint",
        "tests/cli/test_ci_recipe.py::test_the_recipe_passes_on_a_copy_of_every_shipped_spec",
    ):
        assert heavy not in collected
    assert "deselected" in run.stdout.splitlines()[-1]
