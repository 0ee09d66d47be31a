"""README's check for a user's own CI: its GitHub Actions job and its pre-commit hook run one
command, which passes on a copy of this repository's specs/ and generated/, and fails (exit 3),
saying how to fix it, when a claim stops holding or a committed file is stale or missing."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, SPECS

README = ROOT / "README.md"


def recipe() -> tuple[str, str]:
    """The command the Actions job runs, and the pre-commit hook's entry."""
    texts = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    # README's other YAML examples elide with `...`; these two are whole files.
    blocks = [yaml.safe_load(text) for text in texts if "runs-on:" in text or "repos:" in text]
    job = next(block for block in blocks if "jobs" in block)
    steps = [step for job_steps in job["jobs"].values() for step in job_steps["steps"]]
    command = next(step["run"] for step in steps if step.get("run", "").startswith("netgen "))
    hooks = next(block for block in blocks if "repos" in block)["repos"][0]["hooks"]
    return command, hooks[0]["entry"]


def _copy(tmp_path, specs: list[str]):
    """A repository holding `specs` (with what they read) and their committed build and reports."""
    (tmp_path / "specs").mkdir()
    for name in specs:
        shutil.copy(SPECS / name, tmp_path / "specs" / name)
    for folder in ("reference", "blocks"):
        shutil.copytree(SPECS / folder, tmp_path / "specs" / folder)
    shutil.copy(SPECS / "netgen.schema.json", tmp_path / "specs")
    (tmp_path / "generated").mkdir()
    for name in specs:
        stem = name.removesuffix(".yaml").replace("-", "_")
        for path in (ROOT / "generated").glob(f"{stem}.*"):
            shutil.copy(path, tmp_path / "generated" / path.name)
    return tmp_path


def _run(command: str, cwd) -> subprocess.CompletedProcess:
    """The command as CI's shell runs it, with this environment's netgen on the PATH."""
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    env.pop("NETGEN_TRACEBACK", None)
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_job_and_the_hook_run_one_command_holding_claims_references_modules_and_builds():
    command, entry = recipe()
    assert shlex.split(entry) == ["bash", "-c", command]
    assert command == "netgen verify specs/*.yaml --runtime --generated generated"


@pytest.mark.slow
def test_the_recipe_passes_on_a_copy_of_every_shipped_spec(tmp_path):
    specs = sorted(path.name for path in SPECS.glob("*.yaml"))
    repository = _copy(tmp_path, specs)
    run = _run(recipe()[0], repository)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert run.stdout.rstrip().endswith(f"verified {len(specs)} specs: {len(specs)} ok")
    assert run.stdout.count("ok: every layer's real output shape and parameter count equal the IR's") == len(specs)


@pytest.mark.slow
def test_the_recipe_fails_with_the_way_out_on_a_broken_claim_and_a_stale_or_missing_build(tmp_path):
    command = recipe()[0]
    repository = _copy(tmp_path, ["inception-fact7-cifar10.yaml"])
    spec = repository / "specs" / "inception-fact7-cifar10.yaml"
    built = repository / "generated" / "inception_fact7_cifar10.py"
    passed = _run(command, repository)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "specs/inception-fact7-cifar10.yaml: generated/inception_fact7_cifar10.py, " in passed.stdout

    spec.write_text(spec.read_text().replace("macs: ≤ 300M", "macs: ≤ 200M"))
    broken = _run(command, repository)
    assert broken.returncode == 3
    assert "\nFAILED: 1 claim does not hold (6 of 7 hold)\n" in broken.stdout
    # The build is stale too: netgen embeds nothing of the claims, but the report lists them.
    assert (
        "specs/inception-fact7-cifar10.yaml: generated/inception_fact7_cifar10.md is stale; run: netgen report specs/inception-fact7-cifar10.yaml"
        in broken.stdout
    )

    spec.write_text(spec.read_text().replace("macs: ≤ 200M", "macs: ≤ 300M"))
    built.unlink()
    missing = _run(command, repository)
    assert missing.returncode == 3
    assert (
        "specs/inception-fact7-cifar10.yaml: generated/inception_fact7_cifar10.py is missing; "
        "run: netgen build specs/inception-fact7-cifar10.yaml"
    ) in missing.stdout
