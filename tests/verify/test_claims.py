"""A design's own claims: held by `netgen check` (an error at each claim that does not hold), listed
by `netgen verify` beside the network's values (exit 3 when one fails), and shown in the report.
A spec with claims and no reference verifies, with or without --runtime."""

from __future__ import annotations

import json

import pytest

from netgen.verify.claims import check_claims, claim_problems, counts
from tests.conftest import ROOT, SPECS, netgen_cli

CLAIMED = """\
name: Claimed
input: [3, 32, 32]
num_classes: 10
claims:
  params: ≈ 4K ± 5%
  params_with_heads: 4,510
  macs: ≤ 3.5M
  macs_with_heads: < 4M
  depth: 2
  depth_with_pooling: ≥ 2
  output: 1x1x10
  sizes:
    conv1: 32x32x16
    aux: [10, 1, 1]
    block1.branch_a: 32x32x8
layers:
  conv1: {conv: {out: 16, kernel: 3, pad: 1, act: relu}}
  block1: {pair: [8]}
  pool: {global_avgpool: }
  flatten: {flatten: }
  fc: {linear: {out: num_classes}}
blocks:
  pair:
    params: [n]
    concat:
      branch_a: [conv: {out: n, kernel: 1}]
      branch_b: [conv: {out: n, kernel: 1}]
  tail:
    params: []
    layers:
      pool: {global_avgpool: }
      flatten: {flatten: }
      fc: {linear: {out: num_classes}}
heads:
  aux: {tail: [], from: conv1, loss_weight: 0.3}
"""


@pytest.fixture
def claimed(write_spec):
    return write_spec(CLAIMED, "claimed.yaml")


def test_every_claim_is_judged_against_the_counts_summary_prints(claimed, compile_text):
    spec, graph = compile_text(CLAIMED)
    found = counts(graph)
    # conv1 448 + two 1x1 convs of 16 -> 8 (136 each) + fc 170 = 890; the head's fc adds 170.
    assert found["params"] == 448 + 2 * 136 + 170
    assert found["params_with_heads"] == found["params"] + 170
    checks, problems = check_claims(spec, graph)
    assert problems == []
    assert [(check.label, check.computed, check.ok) for check in checks] == [
        ("params", "890", False),
        ("params with heads", "1,060", False),
        ("multiply-adds", f"{found['macs']:,}", True),
        ("multiply-adds with heads", f"{found['macs_with_heads']:,}", True),
        ("depth", "3", False),
        ("depth with pooling", "4", True),
        ("output size", "1x1x10", True),
        ("conv1 output size", "32x32x16", True),
        ("aux output size", "1x1x10", True),
        ("block1.branch_a output size", "32x32x8", True),
    ]
    assert checks[0].detail == "-77.8% from 4,000"


def test_check_reports_each_claim_that_does_not_hold_at_the_claim(claimed):
    run = netgen_cli("check", "claimed.yaml", cwd=claimed.parent)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.splitlines() == [
        "claimed.yaml:5:11: error: claims: params is 890 (-77.8% from 4,000), but '≈ 4K ± 5%' allows 3,800 to 4,200; "
        "change the network, or the claim [claim-failed]",
        "claimed.yaml:6:22: error: claims: params with heads is 1,060, not 4,510 as claimed; change the network, or the claim [claim-failed]",
        "claimed.yaml:9:10: error: claims: depth is 3, not 2 as claimed; change the network, or the claim [claim-failed]",
        "3 errors",
    ]


def test_claims_that_hold_pass_check_and_verify_with_and_without_runtime(claimed):
    text = claimed.read_text().replace("≈ 4K ± 5%", "≈ 890").replace("4,510", "1,060").replace("depth: 2", "depth: 3")
    claimed.write_text(text)
    checked = netgen_cli("check", "claimed.yaml", cwd=claimed.parent)
    assert (checked.returncode, checked.stderr) == (0, "")
    assert checked.stdout == "claimed.yaml: ok (Claimed, output 1x1x10, 10 claims hold)\n"
    for extra in ([], ["--runtime"]):
        run = netgen_cli("verify", "claimed.yaml", *extra, cwd=claimed.parent)
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stdout.startswith(
            "Claimed (claimed.yaml): its claims; counts are exact, and a claim's K, M, G are 10^3, 10^6, 10^9\n"
        )
        assert "\nok: every claim holds (10 claims)\n" in run.stdout
    assert run.stdout.rstrip().endswith("ok: every layer's real output shape and parameter count equal the IR's")
    # --input compiles another network: the claims stay with the spec's own input.
    other = netgen_cli("check", "claimed.yaml", "--input", "3,64,64", cwd=claimed.parent)
    assert other.returncode == 0 and other.stdout == "claimed.yaml: ok (Claimed, output 1x1x10)\n"


def test_verify_lists_every_claim_and_exits_three_when_one_fails(claimed):
    run = netgen_cli("verify", "claimed.yaml", "--json", cwd=claimed.parent)
    assert run.returncode == 3, run.stderr
    document = json.loads(run.stdout)
    assert document["ok"] is False and document["verify"] is None
    claims = document["claims"]
    assert [claim["claim"] for claim in claims if not claim["ok"]] == ["params", "params with heads", "depth"]
    assert claims[0] == {
        "claim": "params",
        "stated": "≈ 4K ± 5%",
        "computed": "890",
        "ok": False,
        "where": "claimed.yaml:5:11",
    }
    text = netgen_cli("verify", "claimed.yaml", cwd=claimed.parent).stdout
    assert "  FAILED  claimed.yaml:9:10: depth is 3, not 2 as claimed; change the network, or the claim" in text
    assert text.rstrip().endswith("FAILED: 3 claims do not hold (7 of 10 hold)")


def test_a_size_claim_naming_no_layer_is_an_error_in_check_and_verify(write_spec):
    spec = write_spec(CLAIMED.replace("block1.branch_a:", "block1.brnch_a:"), "claimed.yaml")
    for command in ("check", "verify"):
        run = netgen_cli(command, "claimed.yaml", cwd=spec.parent)
        assert run.returncode == 1
        assert (
            "claimed.yaml:15:5: error: claims: sizes: 'block1.brnch_a' names no layer of the network; "
            "did you mean 'block1.branch_a'? [unknown-layer]"
        ) in run.stderr


def test_the_report_shows_the_claims_and_the_verdict(claimed, tmp_path):
    run = netgen_cli("report", "claimed.yaml", "--out", str(tmp_path / "out"), cwd=claimed.parent)
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "out" / "claimed.md").read_text(encoding="utf-8")
    assert "## Claims" in text
    assert "| params | `≈ 4K ± 5%` | 890 (-77.8% from 4,000) | **FAILED** |" in text
    assert "| conv1 output size | `32x32x16` | 32x32x16 | holds |" in text
    assert "Verdict: 7 of 10 claims hold." in text


def test_the_shipped_claims_only_spec_holds_its_claims():
    spec = SPECS / "inception-fact7-cifar10.yaml"
    assert "\nreference:" not in spec.read_text() and "\nclaims:" in spec.read_text()
    run = netgen_cli("check", str(spec.relative_to(ROOT)), cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.endswith("claims hold)\n")


def test_claims_problems_are_empty_without_claims(googlenet):
    assert claim_problems(*googlenet) == []
