"""Data-parallel scaling on this machine, and a model of what N machines would give (docs/distributed.md).

Three measurements, each in fresh processes started by ``mpirun``:

- ``bandwidth``: one allreduce of float32 buffers from 4 KB to 64 MB between 2 ranks (mpi4py's buffer
  interface, in place, Open MPI's default algorithms over shared memory), the median of repeated calls:
  time, and the "bus bandwidth" 2 (n - 1) / n x bytes / time that a ring allreduce moves per link.
- ``train``: training steps (forward, backward, averaged gradients, SGD with momentum) of a zoo model at a
  global batch of 128: 1 rank with 1 and with 2 BLAS threads, 2 ranks with 1 thread each (the machine has
  2 cores: 2 ranks of 2 threads would only fight over them). Median step time, images per second, and the
  time each step spends in the gradient allreduces (``DistributedDataParallel``'s buckets), with the
  allreduces at the end of backward and overlapped with it.
- the model: a step on N machines takes compute(B / N) + allreduce(N), with the compute per image of the
  one-process run and a ring allreduce costing 2 (N - 1) latencies plus 2 (N - 1) / N x bytes / bandwidth,
  latency and bandwidth fitted to the measured curve (and, for a network, a stated bandwidth).

    PYTHONPATH=src python benchmarks/bench_distributed.py [--models small_cnn,resnet20] [--steps 12]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SIZES = [2**k for k in range(12, 27, 2)]  # 4 KB ... 64 MB
GLOBAL_BATCH = 128
INPUTS = {"small_cnn": (1, 28, 28), "mlp": (1, 28, 28), "resnet20": (3, 32, 32), "lenet5": (1, 32, 32)}
NETWORKS = {"10 GbE": 1.25e9, "100 Gb/s InfiniBand": 12.5e9}  # bytes per second, for the model


# ----------------------------------------------------------------------------------------------------------
# Run in each rank
def worker_bandwidth(repeats: int) -> dict[str, Any]:
    from ember import distributed as dist

    world = dist.init_process_group("mpi")
    rows = []
    for size in SIZES:
        buffer = np.ones(size // 4, dtype=np.float32)
        world.allreduce(buffer)
        times = []
        for _ in range(repeats if size < 2**24 else max(3, repeats // 4)):
            world.barrier()
            started = time.perf_counter()
            world.allreduce(buffer)
            times.append(time.perf_counter() - started)
        rows.append({"bytes": size, "seconds": float(np.median(times))})
    return {"rank": world.rank, "size": world.size, "rows": rows}


def worker_train(model_name: str, steps: int, overlap: bool) -> dict[str, Any]:
    import ember
    from ember import distributed as dist
    from ember import models, nn, optim

    world = dist.init_process_group()
    ember.manual_seed(0)
    shape = INPUTS[model_name]
    model = models.create(model_name, num_classes=10, in_channels=shape[0])
    timed = Timed(world)
    parallel = dist.DistributedDataParallel(model, timed, overlap=overlap)
    optimizer = optim.SGD(parallel.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    part = GLOBAL_BATCH // world.size
    random = np.random.default_rng(world.rank)
    x = ember.from_numpy(random.standard_normal((part, *shape)).astype(np.float32))
    y = ember.from_numpy(random.integers(0, 10, part))
    step_times, reduce_times = [], []
    for step in range(steps + 3):
        world.barrier()
        timed.seconds = 0.0
        started = time.perf_counter()
        loss = loss_fn(parallel(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= 3:  # the first steps warm the caches and the allocator
            step_times.append(time.perf_counter() - started)
            reduce_times.append(timed.seconds)
    gradient_bytes = sum(p.array.nbytes for p in model.parameters())
    return {
        "rank": world.rank,
        "size": world.size,
        "step": float(np.median(step_times)),
        "allreduce": float(np.median(reduce_times)),
        "gradient_bytes": gradient_bytes,
        "buckets": len(parallel.buckets),
    }


class Timed:
    """A communicator that adds up the time spent in the gradient allreduces."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.rank, self.size, self.seconds = inner, inner.rank, inner.size, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _timed(self, name: str, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return getattr(self.inner, name)(*args)
        finally:
            self.seconds += time.perf_counter() - started

    def allreduce(self, array: Any, op: str = "sum") -> Any:
        return self._timed("allreduce", array, op)

    def start_allreduce(self, array: Any) -> Any:
        return self._timed("start_allreduce", array)

    def wait(self, handles: Any) -> None:
        self._timed("wait", handles)

    def test(self, handles: Any) -> None:
        self._timed("test", handles)


def worker(args: argparse.Namespace) -> None:
    if args.task == "bandwidth":
        result = worker_bandwidth(args.repeats)
    else:
        result = worker_train(args.task, args.steps, args.overlap)
    if result["rank"] == 0:
        Path(args.output).write_text(json.dumps(result))


# ----------------------------------------------------------------------------------------------------------
# The driver
def launch(ranks: int, threads: int, arguments: list[str]) -> dict[str, Any]:
    output = ROOT / "benchmarks" / "results" / f".worker-{os.getpid()}.json"
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "OPENBLAS_NUM_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    exported = [
        flag for name in ("PYTHONPATH", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") for flag in ("-x", name)
    ]
    mpirun = shutil.which("mpirun") or "mpirun"
    command = [mpirun, "--allow-run-as-root", "--oversubscribe", *exported, "-np", str(ranks)]
    command += [sys.executable, __file__, "--worker", *arguments, "--output", str(output)]
    subprocess.run(command, check=True, env=environment)
    result = json.loads(output.read_text())
    output.unlink()
    return dict(result)


def fit_ring(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Latency and bandwidth of t = 2 (n - 1) alpha + 2 (n - 1) / n bytes / beta, for n = 2, by least
    squares on the measured times."""
    sizes = np.array([row["bytes"] for row in rows], dtype=np.float64)
    times = np.array([row["seconds"] for row in rows], dtype=np.float64)
    design = np.stack([np.full_like(sizes, 2.0), sizes], axis=1)  # n = 2: 2 alpha + bytes / beta
    (alpha, inverse_beta), *_ = np.linalg.lstsq(design, times, rcond=None)
    return float(max(alpha, 0.0)), float(1.0 / inverse_beta)


def ring_seconds(n: int, nbytes: float, alpha: float, beta: float) -> float:
    return 0.0 if n == 1 else 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / beta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="small_cnn,resnet20,mlp")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--overlap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    load = os.getloadavg()
    results: dict[str, Any] = {"machine": platform.processor() or platform.machine(), "load_before": load}
    bandwidth = launch(2, 1, ["--task", "bandwidth", "--repeats", str(args.repeats)])
    alpha, beta = fit_ring(bandwidth["rows"])
    results["bandwidth"] = bandwidth["rows"]
    results["fit"] = {"latency_seconds": alpha, "bandwidth_bytes_per_second": beta}
    print("| message | allreduce ms | bus bandwidth GB/s |\n| ---: | ---: | ---: |")
    for row in bandwidth["rows"]:
        bus = row["bytes"] / row["seconds"] / 1e9  # 2 (n - 1) / n = 1 for n = 2
        print(f"| {row['bytes'] / 2**20:g} MB | {1e3 * row['seconds']:.3f} | {bus:.2f} |")
    print(f"fit: latency {1e6 * alpha:.1f} us, bandwidth {beta / 1e9:.2f} GB/s\n")

    print("| model | ranks x threads | step ms | images/s | allreduce ms/step | gradients MB |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    results["train"] = []
    for name in args.models.split(","):
        runs = [(1, 1, False), (1, 2, False), (2, 1, False), (2, 1, True)]
        for ranks, threads, overlap in runs:
            arguments = ["--task", name, "--steps", str(args.steps)] + (["--overlap"] if overlap else [])
            measured = launch(ranks, threads, arguments)
            measured.update(model=name, ranks=ranks, threads=threads, overlap=overlap)
            results["train"].append(measured)
            label = f"{ranks} x {threads}" + (" (overlap)" if overlap else "")
            step = measured["step"]
            print(
                f"| {name} | {label} | {1e3 * step:.1f} | {GLOBAL_BATCH / step:.0f} | "
                f"{1e3 * measured['allreduce']:.2f} | {measured['gradient_bytes'] / 2**20:.2f} |",
                flush=True,
            )
    print()
    print_model(results, alpha, beta)
    results["load_after"] = os.getloadavg()
    out = ROOT / "benchmarks" / "results" / "bench_distributed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average {load[0]:.1f} before, {results['load_after'][0]:.1f} after; {out}")


def print_model(results: dict[str, Any], alpha: float, beta: float) -> None:
    """Images per second on N machines of this one (1 process of 2 threads each), global batch 128."""
    machines = [1, 2, 4, 8, 16, 32]
    links = {"shared memory (measured)": beta, **NETWORKS}
    print("| model | link | " + " | ".join(f"N={n}" for n in machines) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in machines) + " |")
    for name in dict.fromkeys(row["model"] for row in results["train"]):
        alone = next(
            r for r in results["train"] if r["model"] == name and r["ranks"] == 1 and r["threads"] == 2
        )
        per_image = alone["step"] / GLOBAL_BATCH
        for link, bandwidth in links.items():
            speeds = []
            for n in machines:
                step = per_image * GLOBAL_BATCH / n + ring_seconds(
                    n, alone["gradient_bytes"], alpha, bandwidth
                )
                speeds.append(GLOBAL_BATCH / step)
            print(f"| {name} | {link} | " + " | ".join(f"{s:.0f}" for s in speeds) + " |")


if __name__ == "__main__":
    main()
