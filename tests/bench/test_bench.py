"""`netgen bench`: the shape of what it reports, never how fast anything was.

The command runs on tests/bench/tiny.yaml, a network of milliseconds with every kind of row
(layers, block uses, a `sequential:` group, a head, a final softmax), with --quick and one thread.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from netgen.bench.candidates import Backend, BackendUnavailable, Settings
from netgen.bench.per_layer import row_table
from netgen.bench.run import Plan, bench, choose_backends, training_batch_problem
from netgen.bench.subject import built_subject
from netgen.bench.timing import Timing, interleaved_timings
from netgen.compile import compile_file
from netgen.summary import summarize
from tests.conftest import GOOGLENET, ROOT, netgen_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = Path(__file__).with_name("tiny.yaml")
TINY_ROWS = ["stem", "mixed1", "pool", "mixed2", "gap", "flatten", "fc", "softmax"]
RESULT_KEYS = {
    "backend", "label", "batch", "ok", "first_call_ms", "precision", "median_ms", "q1_ms", "q3_ms", "iqr_ms",
    "samples", "images_per_s", "gflops", "peak_memory_bytes", "memory_method",
}  # fmt: skip
ROW_KEYS = {"name", "type", "patch", "output", "head", "macs", "ms", "time_share", "mac_share", "gflops", "far_above"}
CPU = Settings("cpu", train=False, bf16=False, channels_last=False, threads=1)


def bench_json(*args: str) -> dict:
    result = netgen_cli("bench", str(TINY), "--quick", "--threads", "1", "--json", *args, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    spec, graph = compile_file(str(TINY))
    return built_subject(spec, graph, "tiny", tmp_path_factory.mktemp("tiny"), profile=True)


def test_inference_json_has_every_backend_at_every_batch_and_rows_cover_the_spec():
    document = bench_json("--batch", "1,3", "--per-layer", "--backend", "eager,optimize,onnxruntime")
    assert document["ok"] and document["diagnostics"] == []
    assert document["name"] == "Tiny" and document["input"] == [3, 16, 16] and document["mode"] == "inference"
    assert document["device"] == "cpu" and document["threads"] == 1 and document["precision"] == "float32"
    assert document["repeats"] == 3 and document["warmup"] == 1 and document["batches"] == [1, 3]
    assert set(document["load_average"]) == {"before", "after"}
    assert {"python", "torch", "onnxruntime"} <= set(document["versions"])
    results = document["results"]
    assert [(row["backend"], row["batch"]) for row in results] == [
        (backend, batch) for batch in (1, 3) for backend in ("eager", "optimize", "onnxruntime")
    ]
    for row in results:
        assert row["ok"] and set(row) == RESULT_KEYS | {"max_difference"}, row
        assert row["samples"] == 3 and row["q1_ms"] <= row["median_ms"] <= row["q3_ms"]
        assert row["images_per_s"] == pytest.approx(row["batch"] / row["median_ms"] * 1e3)
        assert row["max_difference"] < 1e-4  # the same logits as the plain module
    assert all(row["peak_memory_bytes"] > 0 for row in results if row["backend"] != "onnxruntime")
    assert [table["batch"] for table in document["per_layer"]] == [1, 3]
    for table in document["per_layer"]:
        assert [row["name"] for row in table["rows"]] == TINY_ROWS  # no head: eval mode skips it
        assert all(set(row) == ROW_KEYS for row in table["rows"])
        assert table["not_run"] == ["softmax"]  # predict() applies it, not forward()
        ran = [row for row in table["rows"] if row["ms"] is not None]
        assert sum(row["time_share"] for row in ran) == pytest.approx(1.0)
        assert sum(row["mac_share"] for row in ran) == pytest.approx(1.0)
        assert set(table["far_above"]) == {row["name"] for row in table["rows"] if row["far_above"]}


def test_training_json_measures_eager_and_attributes_heads():
    document = bench_json("--train", "--per-layer")
    assert document["mode"] == "train" and document["batches"] == [2]
    assert [row["backend"] for row in document["results"]] == ["eager"]
    assert set(document["results"][0]) == RESULT_KEYS  # a training step has no logits to compare
    assert document["skipped"][0]["backend"] == "compile" and "--quick" in document["skipped"][0]["reason"]
    (table,) = document["per_layer"]
    assert [row["name"] for row in table["rows"]] == [*TINY_ROWS, "aux"]
    assert table["rows"][-1]["head"] and table["rows"][-1]["ms"] is not None
    assert document["macs_per_image"] > 0 and document["flops_per_mac"] == 6


def test_heads_among_the_layers_that_run_in_eval_mode_have_rows_and_logits_compare(tmp_path):
    """A spec with timm's interface (no final softmax), its head written among the layers and
    `outputs: {when: always}`: forward() returns the outputs tuple in eval mode, the head's time
    is measured, and each backend's logits are the tuple's logits field."""
    source = TINY.read_text(encoding="utf-8").replace("  softmax: {softmax: }\n", "")
    source = source.replace(
        "  pool: {maxpool:", "  aux: {aux: [], head: true, from: mixed1, loss_weight: 0.3}\n  pool: {maxpool:"
    )
    source = (
        source.split("heads:")[0]
        + "outputs:\n  class: TinyOutputs\n  fields: {aux_logits: aux, logits: fc}\n  when: always\n"
    )
    spec = tmp_path / "tiny_always.yaml"
    spec.write_text(source, encoding="utf-8")
    result = netgen_cli(
        "bench",
        str(spec),
        "--quick",
        "--threads",
        "1",
        "--json",
        "--per-layer",
        "--backend",
        "eager,optimize,onnxruntime",
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] and all(row["ok"] and row["max_difference"] < 1e-4 for row in document["results"])
    (table,) = document["per_layer"]
    assert [row["name"] for row in table["rows"]] == [*TINY_ROWS[:-1], "aux"]
    assert table["not_run"] == [] and all(row["ms"] is not None for row in table["rows"])
    assert table["rows"][-1]["head"]
    totals = summarize(*compile_file(str(spec)))["totals"]
    assert document["macs_per_image"] == totals["macs_with_heads"] > totals["macs"]  # the heads run in eval mode


def test_text_output_names_each_backend_and_row():
    result = netgen_cli("bench", str(TINY), "--quick", "--threads", "1", "--per-layer", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "median ms" in result.stdout and "onnxruntime" in result.stdout and "--optimize" in result.stdout
    assert "left out: torch.compile" in result.stdout
    for row in TINY_ROWS:
        assert f"\n{row} " in result.stdout
    assert result.stderr == ""  # no progress bar off a terminal, nor the profiler's own lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train", "--backend", "onnxruntime"], "onnxruntime runs inference only"),
        (["--train", "--batch", "1"], "--train needs batches of 2 or more"),
        (["--batch", "0"], "expected batch sizes"),
        (["--backend", "tensorrt"], "got 'tensorrt'"),
    ],
)
def test_usage_errors(args, message):
    result = netgen_cli("bench", str(TINY), "--quick", *args, cwd=ROOT)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_usage_error():
    result = netgen_cli("bench", str(TINY), "--device", "cuda", cwd=ROOT)
    assert result.returncode == 2 and "PyTorch sees no GPU" in result.stderr


def test_compile_reports_its_compile_time_apart(tiny):
    # TorchDynamo's 'eager' backend runs the compile path in seconds; inductor's C++ takes minutes here.
    settings = Settings("cpu", False, False, False, 1, compile_backend="eager")
    result = bench(tiny, Plan((2,), (Backend.EAGER, Backend.COMPILE), settings, repeats=2, warmup=1))
    eager, compiled = result["results"]
    assert eager["ok"] and compiled["ok"], result
    assert "compile_s" in compiled and "compile_s" not in eager
    assert compiled["max_difference"] < 1e-4


def test_a_backend_that_gives_other_logits_fails_and_the_others_are_measured(tiny, monkeypatch):
    plain = tiny.from_plain

    def wrong(state_dict):
        model = plain(state_dict)
        with torch.no_grad():
            next(model.parameters()).mul_(1.5)
        return model

    monkeypatch.setattr(tiny, "from_plain", wrong)
    result = bench(tiny, Plan((1,), (Backend.EAGER, Backend.OPTIMIZE), CPU, repeats=1, warmup=1))
    eager, optimized = result["results"]
    assert eager["ok"] and not optimized["ok"]
    assert "differ from the plain module's" in optimized["error"]


def test_a_backend_that_raises_is_reported(tiny, monkeypatch):
    def broken(state_dict):
        raise RuntimeError("no kernel for this\nsecond line")

    monkeypatch.setattr(tiny, "from_plain", broken)
    result = bench(tiny, Plan((1,), (Backend.OPTIMIZE, Backend.EAGER), CPU, repeats=1, warmup=1))
    assert result["results"][0]["error"] == "RuntimeError: no kernel for this"
    assert result["results"][1]["ok"]


def test_quick_leaves_compile_out_and_train_keeps_training_backends(tiny):
    chosen, skipped = choose_backends(tiny, None, CPU, quick=True)
    assert chosen == (Backend.EAGER, Backend.OPTIMIZE, Backend.ONNXRUNTIME)
    assert [backend for backend, _ in skipped] == [Backend.COMPILE]
    training = Settings("cpu", True, False, False, 1)
    assert choose_backends(tiny, None, training, quick=False) == ((Backend.EAGER, Backend.COMPILE), ())
    with pytest.raises(BackendUnavailable, match="inference only"):
        choose_backends(tiny, [Backend.OPTIMIZE], training, quick=False)


def test_training_batch_rule_applies_to_batch_norm_only():
    _, googlenet = compile_file(str(GOOGLENET))  # no batch norm: trains at batch 1
    _, tiny_graph = compile_file(str(TINY))
    assert training_batch_problem(googlenet, (1, 8)) is None
    assert training_batch_problem(tiny_graph, (2, 8)) is None
    assert "batch norm" in training_batch_problem(tiny_graph, (1, 8))


def test_rows_far_above_their_mac_share():
    summary = {
        "rows": [
            {"name": name, "type": "conv", "patch": None, "output": [1, 1, 1], "macs": macs}
            for name, macs in [("conv", 970), ("pool", 0), ("fc", 30), ("tiny", 0)]
        ],
        "heads": [],
    }
    table = row_table(summary, {"conv": 80.0, "pool": 15.0, "fc": 4.0, "tiny": 1.0}, 101.0, 1, "inference")
    # pool: 15% of the time, no multiply-adds; fc: 4% against 3%, not twice; tiny: 1%, below the floor.
    assert table["far_above"] == ["pool"]
    assert table["rows_ms"] == 100.0 and table["outside_ms"] == pytest.approx(1.0)
    assert table["rows"][0]["gflops"] == pytest.approx(2 * 970 / 0.080 / 1e9)


def test_interleaved_rounds_rotate_and_count():
    order = []
    calls = {label: (lambda label=label: order.append(label)) for label in "abc"}
    heard = []
    timings = interleaved_timings(calls, repeats=3, warmup=1, on_call=heard.append)
    assert order == ["a", "b", "c", "a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert heard == order and all(len(timing.seconds) == 3 for timing in timings.values())


def test_timing_statistics():
    timing = Timing((1.0, 2.0, 3.0, 4.0, 100.0))
    assert timing.median == 3.0 and timing.quartiles == (2.0, 4.0) and timing.iqr == 2.0
    assert Timing((5.0,)).quartiles == (5.0, 5.0)
