"""`netgen bench`'s tables as text: one row per backend and batch size, and with --per-layer a
Table-1-like table per batch size with the measured time beside each row's multiply-adds."""

from __future__ import annotations

from typing import Any

from netgen.bench.per_layer import FAR_ABOVE, MIN_SHARE

MIB = 2**20


def render(result: dict[str, Any]) -> str:
    lines = _header(result)
    lines += ["", *_table(_backend_header(), [_backend_cells(row) for row in result["results"]], range(1, 9))]
    for skipped in result["skipped"]:
        lines.append(f"left out: {skipped['label']}: {skipped['reason']}")
    lines.append(_footnote(result))
    for table in result["per_layer"]:
        lines += ["", *_per_layer(table, result)]
    return "\n".join(lines)


def _header(result: dict[str, Any]) -> list[str]:
    load = result["load_average"]
    mode = "training step (forward, training_loss, backward, SGD)" if result["mode"] == "train" else "inference"
    layout = ", channels_last" if result["channels_last"] else ""
    return [
        f"{result['name']} ({result['spec']}), input {'x'.join(map(str, result['input']))}: {mode}, "
        f"{result['precision']}{layout}",
        f"{result['device']}: {result['machine']}, {_plural(result['threads'], 'thread')}; "
        + ", ".join(f"{name} {version}" for name, version in result["versions"].items()),
        f"multiply-adds per image: {result['macs_per_image']:,} (GFLOP/s counts {result['flops_per_mac']} per multiply-add)",
        f"load average over a minute: {load['before'][0]:.2f} before, {load['after'][0]:.2f} after "
        "(other processes on this machine slow every backend)",
    ]


def _backend_header() -> list[str]:
    return ["backend", "batch", "median ms", "IQR ms", "images/s", "GFLOP/s", "peak MiB", "first call ms", "compile s"]


def _backend_cells(row: dict[str, Any]) -> list[str]:
    if not row["ok"]:
        return [row["label"], str(row["batch"]), f"failed: {row['error']}"]
    peak = row["peak_memory_bytes"]
    return [
        row["label"],
        str(row["batch"]),
        f"{row['median_ms']:.1f}",
        f"{row['iqr_ms']:.1f}",
        f"{row['images_per_s']:.1f}",
        f"{row['gflops']:.1f}",
        "" if peak is None else f"{peak / MIB:.1f}" if peak < 100 * MIB else f"{peak / MIB:.0f}",
        f"{row['first_call_ms']:.0f}",
        f"{row['compile_s']:.1f}" if "compile_s" in row else "",
    ]


def _footnote(result: dict[str, Any]) -> str:
    methods = sorted({row["memory_method"] for row in result["results"] if row["ok"]})
    return (
        f"median and interquartile range of {_plural(result['repeats'], 'timed call')} per backend, interleaved, "
        f"after {_plural(result['warmup'], 'warm-up call')} (the first timed as 'first call'); compile s: the first call "
        "less a timed one; peak MiB: weights, buffers and optimizer state held, plus the most one call allocates "
        f"on top ({'; '.join(methods) or 'not measured'})"
    )


def _per_layer(table: dict[str, Any], result: dict[str, Any]) -> list[str]:
    header = ["name", "type", "patch/stride", "output size", "MACs", "ms", "time %", "MAC %", "GFLOP/s", ""]
    lines = []
    for row in table["rows"]:
        c, h, w = row["output"]
        measured = row["ms"] is not None
        lines.append(
            [
                row["name"],
                row["type"] + (" (head)" if row["head"] else ""),
                row["patch"] or "",
                f"{h}x{w}x{c}",
                f"{row['macs']:,}" if row["macs"] else "",
                f"{row['ms']:.2f}" if measured else "-",
                f"{row['time_share']:.1%}" if measured else "",
                f"{row['mac_share']:.1%}" if measured and row["macs"] else "",
                f"{row['gflops']:.1f}" if row["gflops"] is not None else "",
                "<- far above its MAC share" if row["far_above"] else "",
            ]
        )
    what = "forward and backward of each row" if result["mode"] == "train" else "each row of forward()"
    out = [f"per layer, batch {table['batch']}: {what}, eager module built with --profile, under the profiler"]
    out += _table(header, lines, range(4, 9))
    out.append(
        f"rows: {table['rows_ms']:.2f} ms; outside the rows: {table['outside_ms']:.2f} ms; "
        f"one call under the profiler: {table['call_ms']:.2f} ms"
    )
    if table["far_above"]:
        named = ", ".join(
            f"{row['name']} ({row['time_share']:.1%} of the time, {row['mac_share']:.1%} of the multiply-adds)"
            for row in table["rows"]
            if row["far_above"]
        )
        out.append(
            f"far above their share of the multiply-adds (time share >= {FAR_ABOVE:g}x, and >= {MIN_SHARE:.0%}): {named}"
        )
    if table["not_run"]:
        mode = "training" if result["mode"] == "train" else "eval"
        out.append(
            f"not run by forward() in {mode} mode (a final softmax is predict()'s): {', '.join(table['not_run'])}"
        )
    return out


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _table(header: list[str], lines: list[list[str]], numbers: range) -> list[str]:
    """Columns aligned, the `numbers` columns to the right; a short line (a failure) runs on past
    the columns from its last cell."""
    full = [line for line in [header, *lines] if len(line) == len(header)]
    widths = [max(len(line[index]) for line in full) for index in range(len(header))]

    def fmt(line: list[str]) -> str:
        cells = []
        for index, cell in enumerate(line):
            if len(line) < len(header) and index == len(line) - 1:
                cells.append(cell)
            elif index in numbers:
                cells.append(cell.rjust(widths[index]))
            else:
                cells.append(cell.ljust(widths[index]))
        return "  ".join(cells).rstrip()

    return [fmt(header), "  ".join("-" * width for width in widths), *(fmt(line) for line in lines)]
