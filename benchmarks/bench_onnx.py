"""Every zoo model exported to ONNX and run by onnxruntime: the table of docs/onnx.md.

For each model, as ``tests/onnx/test_zoo.py`` does it (the same small input, 10 classes, batch norm set as
in a trained network, the same inputs): the ONNX nodes and operator types, the file size, the time to
export, and onnxruntime's largest difference from Ember's output at batch 1 and 7, relative to the output's
scale. Also how far Ember's own float32 output is from the exact (float64) one: where the ONNX difference
passes 1e-5, float32 arithmetic itself is that far off in that network. Prints a Markdown table and writes
JSON to ``benchmarks/results/bench_onnx.json``.

    PYTHONPATH=src python benchmarks/bench_onnx.py [--only resnet,vgg11]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

import ember
import ember.onnx
from ember import models

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' own input sizes and batch-norm statistics
from tests.onnx.conftest import batch, calibrate  # noqa: E402
from tests.onnx.test_zoo import errors_from_exact, small_input  # noqa: E402


def measure(name: str, folder: Path) -> dict[str, Any]:
    shape = small_input(name)
    ember.manual_seed(0)
    model = calibrate(models.create(name, num_classes=10, in_channels=shape[0]), batch(shape, 8, seed=1))
    path = folder / f"{name}.onnx"
    started = time.perf_counter()
    proto = ember.onnx.export(model, batch(shape, 1), path)
    seconds = time.perf_counter() - started
    data = path.read_bytes()
    inputs = [batch(shape, 1, seed=2), batch(shape, 7, seed=3)]
    difference = ember.onnx.compare(model, data, inputs)
    ours, theirs = errors_from_exact(model, data, np.concatenate(inputs))
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    path.unlink()
    return {
        "model": name,
        "input": "x".join(map(str, shape)),
        "nodes": len(proto.graph.node),
        "ops": dict(sorted(counts.items())),
        "max_difference": difference,
        "ember_from_exact": ours,
        "onnxruntime_from_exact": theirs,
        "megabytes": len(data) / 1e6,
        "export_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated parts of model names")
    args = parser.parse_args()
    names = sorted(models.list_models())
    if args.only:
        names = [n for n in names if any(part in n for part in args.only.split(","))]
    load = os.getloadavg()[0]
    rows = []
    print("| model | input | nodes | operators | max diff | Ember from exact | file MB | export s |")
    print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            row = measure(name, Path(folder))
            rows.append(row)
            ops = ", ".join(row["ops"])
            print(
                f"| {name} | {row['input']} | {row['nodes']} | {ops} | {row['max_difference']:.1e} | "
                f"{row['ember_from_exact']:.1e} | {row['megabytes']:.1f} | {row['export_seconds']:.1f} |",
                flush=True,
            )
    results = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "load_average": [load, os.getloadavg()[0]],
        "rows": rows,
    }
    out = ROOT / "benchmarks" / "results" / "bench_onnx.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after; {out}")


if __name__ == "__main__":
    main()
