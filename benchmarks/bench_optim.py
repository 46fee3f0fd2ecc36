"""One optimizer step, Ember against PyTorch, in one process with the steps interleaved.

Two parameter sets: the 784-512-256-10 MLP (6 tensors, 535,818 parameters) and a ~1M-parameter set of 62
tensors shaped like a small ResNet's (conv weights, batch-norm scales and shifts, a classifier), where the
per-tensor overhead shows. Optimizers: SGD with momentum 0.9 and Adam, both with weight decay off (the common
case), on fixed random gradients. Each figure is the median over repeats of a block of steps; Ember's and
PyTorch's blocks alternate (the machine is shared and noisy: compare ratios, not absolute times).

Threads: NumPy's elementwise ufuncs run on one thread, whatever its BLAS uses; PyTorch's run on
``torch.get_num_threads()``. PyTorch is measured both with NumPy's BLAS thread count (as set up by default on
this machine) and with one thread, the like-for-like comparison of the arithmetic.

"flat" rows answer whether handling all parameters of a group at once would pay: the same update on a single
parameter holding all the values (what an optimizer could do if the parameters lived in one flat buffer),
against the per-tensor loop.

    PYTHONPATH=src python benchmarks/bench_optim.py [--repeats 15] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_info

import ember
import ember.nn
import ember.optim

MLP_SHAPES = [(512, 784), (512,), (256, 512), (256,), (10, 256), (10,)]


def resnet_like_shapes() -> list[tuple[int, ...]]:
    """Conv weights 3x3 over widths 16-32-64-128 with a batch norm each, and a classifier: ~1.0M values."""
    shapes: list[tuple[int, ...]] = [(16, 3, 3, 3), (16,), (16,)]
    previous = 16
    for width in (16, 32, 64, 128):
        for _ in range(5):
            shapes += [(width, previous, 3, 3), (width,), (width,)]
            previous = width
    return [*shapes, (10, 128), (10,)]


def make(shapes: list[tuple[int, ...]], flat: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in shapes]
    if flat:
        return [np.concatenate([v.ravel() for v in values])], [np.concatenate([g.ravel() for g in grads])]
    return values, grads


def ember_step(
    values: list[np.ndarray], grads: list[np.ndarray], name: str, options: dict[str, Any]
) -> Callable[[], Any]:
    params = [ember.nn.Parameter(ember.tensor(v)) for v in values]
    for param, grad in zip(params, grads, strict=True):
        param.grad = ember.tensor(grad)
    return getattr(ember.optim, name)(params, **options).step


def torch_step(
    values: list[np.ndarray], grads: list[np.ndarray], name: str, options: dict[str, Any]
) -> Callable[[], Any]:
    params = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
    for param, grad in zip(params, grads, strict=True):
        param.grad = torch.from_numpy(grad.copy())
    return getattr(torch.optim, name)(params, **options).step


def time_blocks(
    steps: dict[str, Callable[[], Any]], repeats: int, block: int, threads: dict[str, int]
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall-clock and CPU ms per step of each callable, their blocks of ``block`` steps interleaved.

    CPU time is the process's (all its threads): like for like only for the single-threaded runs, but on a
    loaded machine it leaves out the time spent waiting for a core.
    """
    wall: dict[str, list[float]] = {key: [] for key in steps}
    cpu: dict[str, list[float]] = {key: [] for key in steps}
    for key, step in steps.items():  # warm up: state allocation, scratch buffers
        torch.set_num_threads(threads[key])
        step()
        step()
    for _ in range(repeats):
        for key, step in steps.items():
            torch.set_num_threads(threads[key])
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(block):
                step()
            wall[key].append((time.perf_counter() - start) / block * 1e3)
            cpu[key].append((time.process_time() - start_cpu) / block * 1e3)
    return (
        {key: statistics.median(values) for key, values in wall.items()},
        {key: statistics.median(values) for key, values in cpu.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    args = parser.parse_args()
    blas_threads = max((info["num_threads"] for info in threadpool_info()), default=1)

    sets = {"MLP 784-512-256-10": MLP_SHAPES, "ResNet-like, 62 tensors": resnet_like_shapes()}
    optimizers = {"SGD momentum": ("SGD", {"lr": 0.01, "momentum": 0.9}), "Adam": ("Adam", {"lr": 1e-3})}
    rows = []
    for set_name, shapes in sets.items():
        count = sum(int(np.prod(s)) for s in shapes)
        for label, (name, options) in optimizers.items():
            values, grads = make(shapes, flat=False)
            flat_values, flat_grads = make(shapes, flat=True)
            steps = {
                "ember": ember_step(values, grads, name, options),
                "ember_flat": ember_step(flat_values, flat_grads, name, options),
                "torch": torch_step(values, grads, name, options),
                "torch_1thread": torch_step(values, grads, name, options),
            }
            threads = {"ember": 1, "ember_flat": 1, "torch": blas_threads, "torch_1thread": 1}
            ms, cpu_ms = time_blocks(steps, args.repeats, args.steps, threads)
            rows.append(
                {
                    "parameters": set_name,
                    "tensors": len(shapes),
                    "values": count,
                    "optimizer": label,
                    **{f"{key}_ms": round(value, 4) for key, value in ms.items()},
                    "ratio_vs_torch": round(ms["ember"] / ms["torch"], 3),
                    "ratio_vs_torch_1thread": round(ms["ember"] / ms["torch_1thread"], 3),
                    "flat_over_per_tensor": round(ms["ember_flat"] / ms["ember"], 3),
                    **{
                        f"{key}_cpu_ms": round(cpu_ms[key], 4)
                        for key in ("ember", "ember_flat", "torch_1thread")
                    },
                    "cpu_ratio_vs_torch_1thread": round(cpu_ms["ember"] / cpu_ms["torch_1thread"], 3),
                    "cpu_flat_over_per_tensor": round(cpu_ms["ember_flat"] / cpu_ms["ember"], 3),
                }
            )

    header = (
        f"{'parameters':<26}{'optimizer':<14}{'ember ms':>9}{'torch ms':>9}{'ratio':>7}"
        f"{'torch 1t':>9}{'ratio 1t':>9}{'ember flat':>11}{'flat/loop':>10}"
    )
    print(
        f"torch threads {blas_threads} (NumPy's BLAS) and 1; NumPy ufuncs 1 thread; median of {args.repeats}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['parameters']:<26}{r['optimizer']:<14}{r['ember_ms']:>9.3f}{r['torch_ms']:>9.3f}"
            f"{r['ratio_vs_torch']:>7.2f}{r['torch_1thread_ms']:>9.3f}{r['ratio_vs_torch_1thread']:>9.2f}"
            f"{r['ember_flat_ms']:>11.3f}{r['flat_over_per_tensor']:>10.2f}"
        )
    print("CPU ms per step (single-threaded runs)")
    print(
        f"{'parameters':<26}{'optimizer':<14}{'ember':>9}{'torch 1t':>9}{'ratio':>7}"
        f"{'ember flat':>11}{'flat/loop':>10}"
    )
    for r in rows:
        print(
            f"{r['parameters']:<26}{r['optimizer']:<14}{r['ember_cpu_ms']:>9.3f}{r['torch_1thread_cpu_ms']:>9.3f}"
            f"{r['cpu_ratio_vs_torch_1thread']:>7.2f}{r['ember_flat_cpu_ms']:>11.3f}{r['cpu_flat_over_per_tensor']:>10.2f}"
        )
    out = Path(__file__).resolve().parent / "results" / "bench_optim.json"
    out.parent.mkdir(exist_ok=True)
    meta = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "blas_threads": blas_threads,
        "repeats": args.repeats,
        "steps_per_block": args.steps,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
