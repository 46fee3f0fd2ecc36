"""Data-parallel scaling on this machine, and a model of what N machines would give (docs/distributed.md).

Three measurements, each in fresh processes started by ``mpirun``:

- ``bandwidth``: one allreduce of float32 buffers from 4 KB to 64 MB between 2 ranks (mpi4py's buffer
  interface, in place, Open MPI's default algorithms over shared memory), the median and the fastest of
  repeated calls (on a shared machine the median includes waiting for a descheduled rank; the fastest is
  what the link does), and the "bus bandwidth" 2 (n - 1) / n x bytes / time that a ring moves per link.
- ``train``: training steps (forward, backward, averaged gradients, SGD with momentum) of a zoo model at a
  global batch of 128: 1 rank with 1 and with 2 BLAS threads, 2 ranks with 1 thread each (the machine has
  2 cores: 2 ranks of 2 threads would only fight over them). Median step time (wall clock), images per
  second, the time each step spends in the gradient allreduces (``DistributedDataParallel``'s buckets;
  this includes waiting for the slower rank), with the allreduces at the end of backward and overlapped
  with it; and each rank's processor time for the step outside the collectives ("compute CPU"), which other
  tenants of a shared machine do not inflate as they do the wall clock.
- the model: a step on N machines takes compute(B / N) + allreduce(N), with the compute CPU time per image
  of the one-rank, one-thread run and a ring allreduce costing 2 (N - 1) latencies plus
  2 (N - 1) / N x bytes / bandwidth: latency and bandwidth fitted to the measured curve (relative error),
  and for networks a stated latency and bandwidth (``NETWORKS``).

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
# (latency s, bandwidth B/s) for the model: typical MPI figures of TCP over 10 GbE and of 100 Gb/s InfiniBand
NETWORKS = {"10 GbE (25 us, 1.2 GB/s)": (25e-6, 1.2e9), "InfiniBand 100 Gb/s (2 us, 12 GB/s)": (2e-6, 12e9)}


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
        rows.append({"bytes": size, "seconds": float(np.median(times)), "best": float(np.min(times))})
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
    step_times, reduce_times, compute_cpu = [], [], []
    for step in range(steps + 3):
        world.barrier()
        timed.seconds = timed.cpu = 0.0
        started, cpu = time.perf_counter(), time.process_time()
        loss = loss_fn(parallel(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= 3:  # the first steps warm the caches and the allocator
            step_times.append(time.perf_counter() - started)
            reduce_times.append(timed.seconds)
            compute_cpu.append(time.process_time() - cpu - timed.cpu)
    gradient_bytes = sum(p.array.nbytes for p in model.parameters())
    if world.size > 1:  # the slower rank's compute sets the pace
        slowest = world.allreduce(np.array([float(np.median(compute_cpu))]), "max")
        compute_cpu = [float(slowest[0])]
    return {
        "rank": world.rank,
        "size": world.size,
        "step": float(np.median(step_times)),
        "allreduce": float(np.median(reduce_times)),
        "compute_cpu": float(np.median(compute_cpu)),
        "gradient_bytes": gradient_bytes,
        "buckets": len(parallel.buckets),
    }


class Timed:
    """A communicator that adds up the time (wall clock and processor) spent in the gradient allreduces."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.rank, self.size, self.seconds, self.cpu = inner, inner.rank, inner.size, 0.0, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _timed(self, name: str, *args: Any) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return getattr(self.inner, name)(*args)
        finally:
            self.seconds += time.perf_counter() - started
            self.cpu += time.process_time() - cpu

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
    squares on the relative error (each size counts alike, not the largest alone)."""
    sizes = np.array([row["bytes"] for row in rows], dtype=np.float64)
    times = np.array([row["best"] for row in rows], dtype=np.float64)
    design = np.stack([np.full_like(sizes, 2.0), sizes], axis=1)  # n = 2: 2 alpha + bytes / beta
    (alpha, inverse_beta), *_ = np.linalg.lstsq(design / times[:, None], np.ones_like(times), rcond=None)
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
    print("| message | allreduce ms (median) | fastest | bus bandwidth GB/s (median) | fastest |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for row in bandwidth["rows"]:
        bus = [row["bytes"] / row[key] / 1e9 for key in ("seconds", "best")]  # 2 (n - 1) / n = 1 for n = 2
        print(
            f"| {row['bytes'] / 2**10:g} KB | {1e3 * row['seconds']:.3f} | {1e3 * row['best']:.3f} | "
            f"{bus[0]:.2f} | {bus[1]:.2f} |"
        )
    print(f"fit: latency {1e6 * alpha:.1f} us, bandwidth {beta / 1e9:.2f} GB/s\n")

    print(
        "| model | ranks x threads | step ms | images/s | allreduce ms/step | compute CPU ms | gradients MB |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
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
                f"{1e3 * measured['allreduce']:.2f} | {1e3 * measured['compute_cpu']:.1f} | "
                f"{measured['gradient_bytes'] / 2**20:.2f} |",
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
    """Images per second on N machines, one rank each computing as this machine's one-thread rank does
    when it has its core (its processor time per image): at a global batch of 128 (strong scaling: the
    run of one process, spread), and at 128 images per machine (weak scaling: a larger global batch)."""
    machines = [1, 2, 4, 8, 16, 32]
    links = {"shared memory (fitted here)": (alpha, beta), **NETWORKS}
    for title, per_machine in (("global batch 128", False), ("128 images per machine", True)):
        print(f"{title}\n| model | link | " + " | ".join(f"N={n}" for n in machines) + " |")
        print("| --- | --- | " + " | ".join("---:" for _ in machines) + " |")
        for name in dict.fromkeys(row["model"] for row in results["train"]):
            rows = results["train"]
            alone = next(r for r in rows if r["model"] == name and r["ranks"] == 1 and r["threads"] == 1)
            per_image = alone["compute_cpu"] / GLOBAL_BATCH
            for link, (latency, bandwidth) in links.items():
                speeds = []
                for n in machines:
                    batch = GLOBAL_BATCH * n if per_machine else GLOBAL_BATCH
                    reduce = ring_seconds(n, alone["gradient_bytes"], latency, bandwidth)
                    speeds.append(batch / (per_image * batch / n + reduce))
                print(f"| {name} | {link} | " + " | ".join(f"{s:.0f}" for s in speeds) + " |")
        print()


if __name__ == "__main__":
    main()
