"""A long fuzzing campaign over both properties of tests/fuzz, from the repository root:

    python -m tests.fuzz.campaign --examples 100000 [--seed N] [--batch 1000]

About half the inputs are valid specs (checked against PyTorch and ONNX), half mutated ones
(which must compile or be refused with located diagnostics). Hypothesis runs them in batches,
each from a seed derived from N, so memory stays flat and a failure can be replayed with the
same N. Progress is printed after each batch; the last line reads

    campaign: 100000 inputs (50123 valid, 49877 invalid), 0 failures

On a failure hypothesis shrinks the input; the campaign prints the smallest failing spec and
the error, and exits with status 1.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections import Counter

import torch
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import invalid_specs, valid_specs
from tests.fuzz.test_invalid_specs import check_invalid_spec
from tests.fuzz.test_valid_specs import check_valid_spec

INPUTS = st.one_of(valid_specs().map(lambda text: ("valid", text)), invalid_specs().map(lambda data: ("invalid", data)))


class Failure(Exception):
    def __init__(self, kind: str, data: str | bytes, error: BaseException):
        super().__init__(kind)
        self.kind, self.data, self.error = kind, data, error


def run_batch(count: int, batch_seed: int, tally: Counter) -> Failure | None:
    """Run `count` inputs; return the smallest failing one hypothesis finds, if any."""
    latest: dict = {}
    shrinking = []  # set by the first failure: hypothesis then runs smaller variants of it, not counted

    @seed(batch_seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
    )
    @given(INPUTS)
    def campaign(case):
        kind, data = case
        latest["case"] = case
        if not shrinking:
            tally[kind] += 1
        try:
            refused = check_invalid_spec(data) if kind == "invalid" else check_valid_spec(data)
        except Exception:
            shrinking.append(case)
            raise
        if refused and not shrinking:
            tally["refused"] += 1

    try:
        campaign()
    except Exception as error:  # hypothesis re-raises the error of the smallest failing input, run last
        kind, data = latest["case"]
        return Failure(kind, data, error)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.campaign", description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000, help="how many inputs to run (default: 100000)")
    parser.add_argument("--seed", type=int, default=None, help="replay a campaign (default: a random seed)")
    parser.add_argument("--batch", type=int, default=1000, help="inputs per hypothesis run (default: 1000)")
    args = parser.parse_args(argv)
    base = args.seed if args.seed is not None else random.randrange(2**32)
    seeds = random.Random(base)
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and parallel campaigns do not fight
    print(f"campaign: {args.examples} inputs, seed {base}", flush=True)

    tally: Counter = Counter()
    start = time.monotonic()
    while (done := tally["valid"] + tally["invalid"]) < args.examples:
        failure = run_batch(min(args.batch, args.examples - done), seeds.getrandbits(64), tally)
        total = tally["valid"] + tally["invalid"]
        if failure is not None:
            print(f"campaign: {failure.kind} input failed after {total} inputs (seed {base})", flush=True)
            shown = failure.data if isinstance(failure.data, str) else failure.data.decode("utf-8", "backslashreplace")
            print(f"--- failing spec ---\n{shown}\n--- error ---", flush=True)
            traceback.print_exception(failure.error, file=sys.stdout)
            print(_summary(tally, failures=1), flush=True)
            return 1
        if total == done:
            break  # hypothesis ran out of inputs to try, which a strategy this large never should
        elapsed = time.monotonic() - start
        print(f"campaign: {total}/{args.examples} inputs, {1000 * elapsed / total:.1f} ms each", flush=True)
    print(f"campaign: {tally['refused']} of {tally['invalid']} invalid inputs refused, the rest compiled", flush=True)
    print(_summary(tally, failures=0), flush=True)
    return 0


def _summary(tally: Counter, failures: int) -> str:
    total = tally["valid"] + tally["invalid"]
    return f"campaign: {total} inputs ({tally['valid']} valid, {tally['invalid']} invalid), {failures} failure{'s' if failures != 1 else ''}"


if __name__ == "__main__":
    sys.exit(main())
