"""Two runs of the suite: CI runs all of it (README's test command, which .ci/run runs as written),
and `-m "not slow"` is the quick subset README documents for working on netgen, without the tests
marked slow, which run whole networks end to end."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

FULL = "python -m pytest -n 2 -q"
QUICK = 'python -m pytest -n 2 -q -m "not slow"'


def test_ci_runs_everything_and_readme_documents_the_quick_subset():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```sh\n{FULL}\n```" in readme
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith(FULL)  # no -m: every test
    assert f"`{QUICK}`" in readme
    assert "slow: " in (ROOT / "pyproject.toml").read_text()


def _marked_slow(path, function: str) -> bool:
    """Whether `function` in the test file at `path` is marked slow, itself or with its whole module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def slow(node) -> bool:
        return any(isinstance(sub, ast.Attribute) and sub.attr == "slow" for sub in ast.walk(node))

    module = any(
        isinstance(node, ast.Assign)
        and any(getattr(target, "id", "") == "pytestmark" for target in node.targets)
        and slow(node)
        for node in tree.body
    )
    found = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function)
    return module or any(slow(decorator) for decorator in found.decorator_list)


def test_the_quick_subset_leaves_out_the_tests_that_run_whole_networks():
    for path, function in (
        ("tests/test_specs.py", "test_spec_verifies_and_its_module_runs_as_the_ir_says"),
        ("tests/backends/test_inference.py", "test_build_optimize_writes_both_and_loads_a_plain_checkpoint"),
        ("tests/backends/test_onnx.py", "test_onnx_runtime_matches_the_generated_pytorch_module"),
        ("tests/backends/test_pytorch.py", "test_a_few_sgd_steps_lower_the_weighted_loss"),
        ("tests/cli/test_ci_recipe.py", "test_the_recipe_passes_on_a_copy_of_every_shipped_spec"),
    ):
        assert _marked_slow(ROOT / path, function), f"{path}::{function}"
    assert not _marked_slow(ROOT / "tests" / "test_generated.py", "test_generated_is_up_to_date")
