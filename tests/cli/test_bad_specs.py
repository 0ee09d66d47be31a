"""Bad input never hurts: every malformed spec in tests/specs/bad/ is refused by `netgen check`
with exactly the diagnostics in the `.expected` file beside it, with no traceback, and without
a file written anywhere.

Each case runs in that folder with a relative file name, so the expected output holds no
absolute path. To add a case, add NAME.yaml and NAME.expected (the exact stderr); a case that
needs another command than `check` gives its arguments in NAME.args (`verify {spec}`). The block
libraries the cases `use:` are in blocks/, and a diagnostic may point into one of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import GOOGLENET, ROOT

BAD = Path(__file__).resolve().parents[1] / "specs" / "bad"
CASES = sorted(path.name for path in BAD.glob("*.yaml"))


def _env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "NETGEN_TRACEBACK"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, encoding="utf-8", timeout=120
    )


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {path.relative_to(folder).as_posix(): (path.stat().st_mtime_ns, path.stat().st_size) for path in folder.rglob("*")}


def _arguments(name: str) -> list[str]:
    args = (BAD / name).with_suffix(".args")
    if not args.exists():
        return ["check", name]
    return [word.replace("{spec}", name) for word in args.read_text(encoding="utf-8").split()]


def test_every_case_has_its_expected_output():
    specs = {path.stem for path in BAD.glob("*.yaml")}
    expected = {path.stem for path in BAD.glob("*.expected")}
    assert specs and specs == expected


@pytest.mark.parametrize("name", CASES)
def test_bad_spec_is_refused_with_located_diagnostics(name):
    before = _listing(BAD)
    run = _python("-m", "netgen", *_arguments(name), cwd=BAD)
    assert _listing(BAD) == before, "netgen wrote into the spec's folder"
    assert "Traceback" not in run.stdout + run.stderr
    assert run.returncode == 1, run.stderr
    assert run.stdout == ""
    assert run.stderr == (BAD / name).with_suffix(".expected").read_text(encoding="utf-8")
    # Every diagnostic is located and every error has a code, whatever its wording.
    *lines, count = run.stderr.splitlines()
    location = rf"(?:{re.escape(name)}|blocks/[\w.-]+\.yaml):\d+:\d+: "
    for line in lines:
        assert re.fullmatch(location + r"(error: .+ \[[a-z0-9-]+\]|note: .+)", line), line
    errors = sum(line.split(": ", 2)[1].startswith("error") for line in lines)
    assert count == f"{errors} error{'s' if errors != 1 else ''}"


def test_check_does_not_import_torch():
    """`check` runs both backends in memory but stays fast: importing torch would take longer than the check."""
    script = textwrap.dedent(
        """
        import sys
        from netgen.cli import app
        codes = []
        for spec in sys.argv[1:]:
            try:
                app(["check", spec])
            except SystemExit as stop:
                codes.append(stop.code)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnxruntime"))
        print(codes, heavy)
        """
    )
    # A good spec runs every pass; the collision case fails in the last one, the names pass.
    good = str(GOOGLENET.relative_to(ROOT))
    collision = str((BAD / "names-collide-after-sanitising.yaml").relative_to(ROOT))
    run = _python("-c", script, good, collision, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "[0, 1] []"


def test_an_internal_error_is_one_message_not_a_traceback(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        import netgen.compile
        from netgen.cli import main

        def broken(*args):
            raise RuntimeError("stage exploded")

        netgen.compile.compile_file = broken
        sys.argv = ["netgen", "check", "any.yaml"]
        main()
        """
    )
    (tmp_path / "any.yaml").write_text("name: Any\n")
    run = _python("-c", script, cwd=tmp_path)
    assert run.returncode == 70
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("netgen: internal error: RuntimeError: stage exploded\n")
    assert "NETGEN_TRACEBACK=1" in run.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["any.yaml"]
