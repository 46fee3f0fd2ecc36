"""Forward + backward time of single layers, Ember against PyTorch in the same process.

Each layer is built in both frameworks with the same weights, run on the same batch of 128 and
back-propagated with the same upstream gradient. The two frameworks' steps are interleaved (so that the
machine's slow and fast moments fall on both alike), each timed on its own, and the medians over the
repeats are compared as the ratio Ember / PyTorch. Both use the same number of threads: PyTorch's
``set_num_threads`` is set to the BLAS thread count NumPy runs with (or ``--threads``). For the
convolutions and linear layers it also gives each framework's GFLOP/s and their share of the machine's
sgemm rate (NumPy's 4096^3 product, measured at the start and the end; ``arithmetic.py``): how near the
kernels themselves come to the peak a network's step is held against.

    python benchmarks/bench_layers.py               # every layer, prints a table, writes JSON
    python benchmarks/bench_layers.py --only conv   # layers whose name contains "conv"

Results go to ``benchmarks/results/bench_layers-<time>.json`` (machine, versions, every timing).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import ember
from arithmetic import sgemm_peak, training_flops
from ember import nn
from ember.nn import functional as F

BATCH = 128
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Case:
    """One layer: builds (ember_step, torch_step, flops), the steps zero-argument forwards + backwards, flops
    those of its products (``arithmetic.training_flops``; 0 for a layer without any)."""

    name: str
    shape: str
    build: Callable[[], tuple[Callable[[], Any], Callable[[], Any]]]
    note: str = ""


def module_step(
    ember_layer: nn.Module,
    torch_layer: torch.nn.Module,
    input_shape: tuple[int, ...],
    input_grad: bool = True,
) -> tuple[Callable[[], Any], Callable[[], Any], int]:
    """Steps that run the layer on a fixed input and back-propagate a fixed upstream gradient, and the
    floating-point operations of its products."""
    rng = np.random.default_rng(0)
    ember_layer.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_layer.state_dict().items()})
    x = rng.standard_normal(input_shape).astype(np.float32)
    with torch.no_grad():
        out_shape = tuple(torch_layer(torch.from_numpy(x)).shape)
    upstream = rng.standard_normal(out_shape).astype(np.float32)
    x_ember, x_torch = ember.tensor(x, requires_grad=input_grad), torch.tensor(x, requires_grad=input_grad)
    g_ember, g_torch = ember.tensor(upstream), torch.from_numpy(upstream)
    ember_params, torch_params = list(ember_layer.parameters()), list(torch_layer.parameters())

    def ember_step() -> None:
        for p in [*ember_params, x_ember]:
            p.grad = None
        ember_layer(x_ember).backward(g_ember)

    def torch_step() -> None:
        for p in [*torch_params, x_torch]:
            p.grad = None
        torch_layer(x_torch).backward(g_torch)

    return ember_step, torch_step, training_flops(ember_layer, x, input_grad)


def conv(
    c_in: int, c_out: int, k: int, size: int, input_grad: bool = True, **options: Any
) -> Callable[[], Any]:
    return lambda: module_step(
        nn.Conv2d(c_in, c_out, k, **options),
        torch.nn.Conv2d(c_in, c_out, k, **options),
        (BATCH, c_in, size, size),
        input_grad,
    )


def cross_entropy(classes: int) -> Callable[[], Any]:
    def build() -> tuple[Callable[[], Any], Callable[[], Any], int]:
        rng = np.random.default_rng(0)
        logits = rng.standard_normal((BATCH, classes)).astype(np.float32)
        target = rng.integers(0, classes, BATCH)
        x_ember, x_torch = ember.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
        t_ember, t_torch = ember.tensor(target), torch.from_numpy(target)

        def ember_step() -> None:
            x_ember.grad = None
            F.cross_entropy(x_ember, t_ember).backward()

        def torch_step() -> None:
            x_torch.grad = None
            torch.nn.functional.cross_entropy(x_torch, t_torch).backward()

        return ember_step, torch_step, 0

    return build


def pool(ember_layer: nn.Module, torch_layer: torch.nn.Module, shape: tuple[int, ...]) -> Callable[[], Any]:
    return lambda: module_step(ember_layer, torch_layer, shape)


CASES = [
    Case(
        "Linear 784-512",
        "128x784",
        lambda: module_step(nn.Linear(784, 512), torch.nn.Linear(784, 512), (BATCH, 784)),
    ),
    Case(
        "Linear 400-120",
        "128x400",
        lambda: module_step(nn.Linear(400, 120), torch.nn.Linear(400, 120), (BATCH, 400)),
    ),
    Case(
        "Conv2d LeNet C1 1-6 5x5 p2",
        "128x1x28x28",
        conv(1, 6, 5, 28, False, padding=2),
        "first layer: no input grad",
    ),
    Case("Conv2d LeNet C3 6-16 5x5", "128x6x14x14", conv(6, 16, 5, 14)),
    Case("Conv2d ResNet 16-16 3x3 p1", "128x16x32x32", conv(16, 16, 3, 32, padding=1, bias=False)),
    Case("Conv2d ResNet 32-32 3x3 p1", "128x32x16x16", conv(32, 32, 3, 16, padding=1, bias=False)),
    Case("Conv2d ResNet 64-64 3x3 p1", "128x64x8x8", conv(64, 64, 3, 8, padding=1, bias=False)),
    Case("Conv2d ResNet 16-32 3x3 s2", "128x16x32x32", conv(16, 32, 3, 32, stride=2, padding=1, bias=False)),
    Case("Conv2d ResNet 32-64 3x3 s2", "128x32x16x16", conv(32, 64, 3, 16, stride=2, padding=1, bias=False)),
    Case("Conv2d ResNet 16-32 1x1 s2", "128x16x32x32", conv(16, 32, 1, 32, stride=2, bias=False)),
    Case(
        "MaxPool2d 2x2 (LeNet S2)",
        "128x6x28x28",
        pool(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), (BATCH, 6, 28, 28)),
    ),
    Case(
        "MaxPool2d 2x2 (LeNet S4)",
        "128x16x10x10",
        pool(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), (BATCH, 16, 10, 10)),
    ),
    Case(
        "MaxPool2d 2x2 (VGG)",
        "128x64x32x32",
        pool(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), (BATCH, 64, 32, 32)),
    ),
    Case(
        "AvgPool2d 2x2 (LeNet-5 S2)",
        "128x6x28x28",
        pool(nn.AvgPool2d(2), torch.nn.AvgPool2d(2), (BATCH, 6, 28, 28)),
        "ember.models' LeNet-5",
    ),
    Case(
        "MaxPool2d 3x3 s2 p1",
        "128x64x32x32",
        pool(nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), (BATCH, 64, 32, 32)),
        "overlapping windows",
    ),
    Case(
        "BatchNorm2d 16",
        "128x16x32x32",
        pool(nn.BatchNorm2d(16), torch.nn.BatchNorm2d(16), (BATCH, 16, 32, 32)),
    ),
    Case(
        "BatchNorm2d 64", "128x64x8x8", pool(nn.BatchNorm2d(64), torch.nn.BatchNorm2d(64), (BATCH, 64, 8, 8))
    ),
    Case("cross_entropy 10 classes", "128x10", cross_entropy(10)),
    Case("cross_entropy 1000 classes", "128x1000", cross_entropy(1000)),
]


def blas_threads() -> int:
    return max((info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"), default=1)


def machine() -> dict[str, Any]:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    config = np.show_config(mode="dicts")
    blas = config.get("Build Dependencies", {}).get("blas", {})
    return {
        "cpu": fields.get("Model name", platform.processor()).strip(),
        "cpus": fields.get("CPU(s)", "").strip(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
        "blas_runtime": [
            {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for info in threadpool_info()
            if info["user_api"] == "blas"
        ],
        "torch": torch.__version__,
    }


def load() -> dict[str, Any]:
    """The machine's load: other processes running skew multi-threaded timings (PyTorch's most)."""
    state: dict[str, Any] = {}
    try:
        state["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
        state["cpu_pressure"] = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        pass
    return state


def measure(case: Case, repeats: int, warmup: int, clock: Callable[[], float]) -> dict[str, Any]:
    ember_step, torch_step, flops = case.build()
    for _ in range(warmup):
        ember_step()
        torch_step()
    times: dict[str, list[float]] = {"ember": [], "torch": []}
    for r in range(repeats):
        order = [("ember", ember_step), ("torch", torch_step)]
        for name, step in order if r % 2 == 0 else order[::-1]:
            start = clock()
            step()
            times[name].append(clock() - start)
    ember_ms = 1e3 * statistics.median(times["ember"])
    torch_ms = 1e3 * statistics.median(times["torch"])
    return {
        "layer": case.name,
        "input": case.shape,
        "note": case.note,
        "ember_ms": ember_ms,
        "torch_ms": torch_ms,
        "ratio": ember_ms / torch_ms,
        "gflop": flops / 1e9,
        "ember_gflops": flops / ember_ms / 1e6,
        "torch_gflops": flops / torch_ms / 1e6,
        "ember_all_ms": [1e3 * t for t in times["ember"]],
        "torch_all_ms": [1e3 * t for t in times["torch"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=21, help="timed steps per framework and layer")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="threads for both (default: NumPy's BLAS)")
    parser.add_argument("--only", default="", help="run only layers whose name contains this (any case)")
    parser.add_argument("--no-save", action="store_true", help="do not write the JSON result")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="with --threads 1: the calling thread's CPU time, not wall time (robust on a busy machine)",
    )
    args = parser.parse_args()
    if args.cpu_time and args.threads != 1:
        parser.error("--cpu-time measures one thread only; use it with --threads 1")
    clock = time.thread_time if args.cpu_time else time.perf_counter

    threads = args.threads or blas_threads()
    torch.set_num_threads(threads)
    cases = [c for c in CASES if args.only.lower() in c.name.lower()]
    rows = []
    before = load()
    with threadpool_limits(threads, user_api="blas"):
        info = machine()
        print(
            f"{info['cpu']} ({info['cpus']} CPUs), numpy {info['numpy']} ({info['blas']}), "
            f"torch {info['torch']}"
        )
        print(
            f"threads: {threads}, batch {BATCH}, median of {args.repeats} interleaved steps "
            f"(forward + backward), {'thread CPU time' if args.cpu_time else 'wall time'}\n"
        )
        peaks = [sgemm_peak()]
        print(f"the machine's sgemm ({threads} threads, 4096^3, NumPy's BLAS): {peaks[0]:.0f} GFLOP/s\n")
        header = (
            f"{'layer':<30} {'input':<14} {'Ember ms':>9} {'PyTorch ms':>11} {'ratio':>6} "
            f"{'GFLOP/s (E / T)':>16}"
        )
        print(header)
        print("-" * len(header))
        for case in cases:
            row = measure(case, args.repeats, args.warmup, clock)
            rows.append(row)
            rate = f"{row['ember_gflops']:.0f} / {row['torch_gflops']:.0f}" if row["gflop"] else "-"
            note = f"  ({case.note})" if case.note else ""
            print(
                f"{row['layer']:<30} {row['input']:<14} {row['ember_ms']:>9.2f} {row['torch_ms']:>11.2f} "
                f"{row['ratio']:>6.2f} {rate:>16}{note}",
                flush=True,
            )
        peaks.append(sgemm_peak())
    slowest = max(rows, key=lambda r: r["ratio"])
    print(f"\nslowest relative to PyTorch: {slowest['layer']} at {slowest['ratio']:.2f}x")
    products = [r for r in rows if r["gflop"]]
    if products:
        peak = max(peaks)  # the higher of the two: the harder bar
        for row in products:
            row["ember_of_peak"], row["torch_of_peak"] = (
                row["ember_gflops"] / peak,
                row["torch_gflops"] / peak,
            )
        shares = {
            name: f"{min(r[key] for r in products):.0%}-{max(r[key] for r in products):.0%}"
            for name, key in (("Ember", "ember_of_peak"), ("PyTorch", "torch_of_peak"))
        }
        print(
            f"the machine's sgemm at the start and the end: {peaks[0]:.0f}, {peaks[1]:.0f} GFLOP/s; "
            f"the products' share of the higher: Ember {shares['Ember']}, PyTorch {shares['PyTorch']}"
        )
    after = load()
    print(f"machine load before: {before.get('loadavg')}, after: {after.get('loadavg')} (1, 5, 15 min)")
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = RESULTS / f"bench_layers-{stamp}.json"
        result = {
            "machine": info,
            "threads": threads,
            "batch": BATCH,
            "repeats": args.repeats,
            "clock": "thread CPU time" if args.cpu_time else "wall time",
            "load_before": before,
            "load_after": after,
            "sgemm_peak_gflops": peaks,
            "layers": rows,
        }
        path.write_text(json.dumps(result, indent=1))
        print(f"written: {path}")


if __name__ == "__main__":
    main()
