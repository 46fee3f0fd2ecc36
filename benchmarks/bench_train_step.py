"""One training step (forward, cross-entropy, backward, SGD-momentum update) at batch 128, Ember vs PyTorch.

Four networks, the same architecture written once in each framework, PyTorch's initial weights copied into
Ember's model so that both compute the same step (the first losses are printed side by side as a check):

- MLP 784-512-256-10 (ReLU) on 784-vectors;
- LeNet-5: conv5x5 6 (pad 2), ReLU, max-pool, conv5x5 16, ReLU, max-pool, fc 120-84-10, on 1x28x28;
- ResNet-20 (He et al. 2016, CIFAR): conv3x3 16, three stages of three basic blocks (16, 32, 64 channels,
  batch norm, 1x1-conv projection where the shape changes), global average pool, fc 10, on 3x32x32;
- a VGG-style net: conv3x3 64-64-pool-128-128-pool-256-pool (ReLU), fc 10, on 3x32x32.

Both frameworks run in this process with the same number of threads (OpenBLAS for NumPy, intra-op for
PyTorch), interleaved in short blocks of steps (Ember's block, PyTorch's, Ember's, ... the order swapped
every round) so that the machine's noise (another process, a slow moment) hits both alike. Steps are
interleaved by blocks, not one by one, because each library's idle threads keep spinning for a while after
a parallel region and would steal the cores from the other's next step; a pause before each block and
50 ms of uncounted steps at its start let them settle. Each figure is the median over the counted steps.
Prints a table (ms per step and the ratio Ember / PyTorch) and writes JSON to
``benchmarks/results/bench_train_step.json``.

``--threads 1 --cpu-time`` times each step in CPU time instead (steadier on a busy machine); ``--memory``
adds each framework's peak resident memory over five steps, measured in a fresh process of its own.
``--apart`` runs each framework in a process of its own, as a user runs it, the blocks interleaved the same
way. In one process, oneDNN shares PyTorch's OpenMP runtime and the settings PyTorch loaded it with, not
the ones Ember gives it (``docs/performance.md``, "Two threads").

    PYTHONPATH=src python benchmarks/bench_train_step.py [--threads 2] [--only mlp,lenet5] [--memory]
    PYTHONPATH=src python benchmarks/bench_train_step.py --apart
    PYTHONPATH=src python benchmarks/bench_train_step.py --threads 1 --cpu-time
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys

NETWORKS = ("mlp", "lenet5", "resnet20", "vgg")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for both frameworks (default 2)")
    parser.add_argument("--rounds", type=int, default=0, help="blocks per framework (default: by size)")
    parser.add_argument("--block", type=int, default=0, help="steps per block (default: by size)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--only", default=",".join(NETWORKS), help="comma-separated: " + ", ".join(NETWORKS))
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time each step in the calling thread's CPU time (with --threads 1): steadier on a busy machine",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also measure peak resident memory over five steps, each framework in its own process",
    )
    parser.add_argument(
        "--apart",
        action="store_true",
        help="run each framework in a process of its own (as a user does), the blocks still interleaved",
    )
    parser.add_argument("--peak-rss-of", metavar="NETWORK:FRAMEWORK", help=argparse.SUPPRESS)  # the child
    parser.add_argument("--serve", metavar="NETWORK:FRAMEWORK", help=argparse.SUPPRESS)  # --apart's child
    parser.add_argument("--folder", help=argparse.SUPPRESS)  # where --apart's children share the weights
    parser.add_argument("--output", help="JSON file (default benchmarks/results/bench_train_step.json)")
    args = parser.parse_args()
    if args.cpu_time and args.threads != 1:
        parser.error("--cpu-time measures one thread only; use it with --threads 1")
    if args.cpu_time and args.apart:
        parser.error("--cpu-time measures this process's thread; it does not go with --apart")
    return args


ARGS = parse() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS reads its thread count when NumPy is first imported
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)
    # What `import ember` sets when it comes before NumPy (ember.threads): OpenBLAS's idle workers sleep at
    # once instead of spinning against the kernels' threads. Set here because NumPy is imported first.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from networks import BUILDERS, INPUTS, lenet5, mlp, resnet20, train_step, vgg  # noqa: E402, F401
from peers import Peer  # noqa: E402

# rounds, steps per block: a run's ratio moved by up to 0.3 between runs with 3-8 rounds on a quiet machine
PLAN = {"mlp": (24, 10), "lenet5": (24, 10), "resnet20": (10, 4), "vgg": (8, 3)}
PAUSE = 0.3  # seconds before each block: the other library's threads stop spinning
# seconds of uncounted steps (at least one) that start each block: after the pause a step at two threads
# takes up to 1.3x its time in continuous training for the first ~40 ms (see ``timed_block``)
WARM_UP = 0.05


def timed_block(step: Any, count: int, clock: Any) -> list[float]:
    """One block: steps not counted for WARM_UP seconds (at least one), then ``count`` steps timed by
    ``clock``. Measured on the AVX2 machine (medians over 12 blocks after a 0.3 s pause, two threads): the
    MLP's first steps took 5.9-6.5, 4.2-4.6, 3.8-4.3 ms ... settling at 3.5-3.7 ms after about ten steps
    (PyTorch's 6.7-6.8, 4.7-5.0, 4.4-4.8 ... 4.3-4.5); at one thread only the first step was slow. Idle
    cores wake slowly on these virtual machines, and a framework whose thread pools sleep between calls
    wakes them more often. Training runs its steps back to back, so the benchmark times them so."""
    import time

    start = time.perf_counter()
    step()
    while time.perf_counter() - start < WARM_UP:
        step()
    times = []
    for _ in range(count):
        begun = clock()
        step()
        times.append(clock() - begun)
    return times


# ----------------------------------------------------------------------------------------------------------
# Peak memory: one framework per process (the other is never imported), five steps after a first one
MEMORY_STEPS = 5


def status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS: resident now, VmHWM: its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status (Linux only)")


def peak_rss(spec: str, batch: int, threads: int) -> dict[str, float]:
    """Resident memory after imports and set-up, and its peak over MEMORY_STEPS steps after a first one (MiB).

    The growth (peak - set-up) is a step's own memory, including what the first step keeps (the kernels'
    workspace); the set-up holds the libraries' code and data (~300 MiB for PyTorch, ~50 MiB for NumPy +
    Ember). numba, which Ember's kernels import on their first call, is imported before the set-up is
    measured, so that it counts with the libraries as PyTorch's do; its own share is reported
    (``numba_mib``) and the growth with it counted in is printed too.
    """
    import numpy as np

    name, framework = spec.split(":")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *INPUTS[name])).astype(np.float32)
    y = rng.integers(0, 10, batch)
    if framework == "ember":
        import ember
        from ember import nn, optim

        imported = status_kib("VmRSS")
        with contextlib.suppress(ImportError):
            import numba  # noqa: F401 - the compiled kernels' runtime (the ``fast`` extra)
        numba_kib = status_kib("VmRSS") - imported
        model, wrap = BUILDERS[name](nn), ember.tensor
    else:
        import torch
        from torch import nn, optim  # type: ignore[no-redef]

        torch.set_num_threads(threads)
        model, wrap = BUILDERS[name](nn), torch.from_numpy
        numba_kib = 0
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    run = (model, optimizer, nn.CrossEntropyLoss(), wrap(x), wrap(y))
    before = status_kib("VmRSS")
    train_step(*run)  # the first step's transients (lazy imports, loading compiled kernels) are not its peak
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the resident size now
    for _ in range(MEMORY_STEPS):
        train_step(*run)
    peak = status_kib("VmHWM")
    return {
        "set_up_mib": round(before / 1024, 1),
        "peak_mib": round(peak / 1024, 1),
        "numba_mib": round(numba_kib / 1024, 1),
        "steps": MEMORY_STEPS,
    }


if ARGS is not None and ARGS.peak_rss_of:
    print(json.dumps(peak_rss(ARGS.peak_rss_of, ARGS.batch_size, ARGS.threads)))
    sys.exit(0)


def serve(spec: str, folder: Path, batch: int, threads: int, warmup: int) -> None:
    """``--apart``'s child: one framework's run of one network, imported alone. PyTorch's process writes its
    initial weights for Ember's. Prints the first loss, then for each line ``n`` read, the times (seconds)
    of n steps after one more that is not counted (it wakes the threads up)."""
    import time

    import numpy as np

    name, framework = spec.split(":")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *INPUTS[name])).astype(np.float32)
    y = rng.integers(0, 10, batch)
    weights = folder / f"{name}.npz"
    if framework == "ember":
        import ember
        from ember import nn, optim

        ember.set_num_threads(threads)
        model, wrap = BUILDERS[name](nn), ember.tensor
        saved = np.load(weights)
        model.load_state_dict({key: saved[key] for key in saved.files})
    else:
        import torch
        from torch import nn, optim  # type: ignore[no-redef]

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model, wrap = BUILDERS[name](nn), torch.from_numpy
        np.savez(weights, **{key: value.detach().numpy() for key, value in model.state_dict().items()})
    run = (
        model,
        optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
        nn.CrossEntropyLoss(),
        wrap(x),
        wrap(y),
    )
    print(json.dumps(train_step(*run)), flush=True)  # the same weights give the same first loss
    for _ in range(warmup):
        train_step(*run)
    step = functools.partial(train_step, *run)
    for line in sys.stdin:
        print(json.dumps(timed_block(step, int(line), time.perf_counter)), flush=True)


if ARGS is not None and ARGS.serve:
    serve(ARGS.serve, Path(ARGS.folder), ARGS.batch_size, ARGS.threads, ARGS.warmup)
    sys.exit(0)

import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ember  # noqa: E402
from arithmetic import sgemm_peak, training_flops  # noqa: E402
from ember import nn as enn  # noqa: E402
from ember import optim as eoptim  # noqa: E402


# ----------------------------------------------------------------------------------------------------------
# Steps
def measure(
    name: str, rounds: int, block: int, warmup: int, batch: int, clock: Any = time.perf_counter
) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *INPUTS[name])).astype(np.float32)
    y = rng.integers(0, 10, batch)
    torch.manual_seed(0)
    torch_model = BUILDERS[name](torch.nn)
    ember_model = BUILDERS[name](enn)
    ember_model.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_model.state_dict().items()})
    options = {"lr": 0.01, "momentum": 0.9}
    runs = {
        "ember": (ember_model, eoptim.SGD(ember_model.parameters(), **options), enn.CrossEntropyLoss(),
                  ember.tensor(x), ember.tensor(y)),
        "torch": (torch_model, torch.optim.SGD(torch_model.parameters(), **options),
                  torch.nn.CrossEntropyLoss(), torch.from_numpy(x), torch.from_numpy(y)),
    }  # fmt: skip
    first = {framework: train_step(*run) for framework, run in runs.items()}  # same weights, same loss
    for run in runs.values():
        for _ in range(warmup):
            train_step(*run)
    times: dict[str, list[float]] = {"ember": [], "torch": []}
    for round_ in range(rounds):
        for framework in ("ember", "torch") if round_ % 2 == 0 else ("torch", "ember"):
            time.sleep(PAUSE)
            times[framework] += timed_block(functools.partial(train_step, *runs[framework]), block, clock)
    return summary(name, batch, times, rounds, block, first)


def measure_apart(
    name: str, rounds: int, block: int, warmup: int, batch: int, threads: int
) -> dict[str, Any]:
    """``measure`` with each framework in a process of its own (``serve``), the blocks interleaved alike."""
    import tempfile

    times: dict[str, list[float]] = {"ember": [], "torch": []}
    peers: dict[str, Peer] = {}
    with tempfile.TemporaryDirectory(prefix="ember-step-") as folder:
        try:
            for framework in ("torch", "ember"):  # PyTorch first: it writes the initial weights
                command = [sys.executable, __file__, "--serve", f"{name}:{framework}", "--folder", folder]
                command += ["--threads", str(threads), "--batch-size", str(batch), "--warmup", str(warmup)]
                peers[framework] = Peer(command)  # ready: its first loss
            for round_ in range(rounds):
                for framework in ("ember", "torch") if round_ % 2 == 0 else ("torch", "ember"):
                    time.sleep(PAUSE)
                    times[framework] += peers[framework].ask(block)
        finally:
            for peer in peers.values():
                peer.close()
    first = {framework: peer.ready for framework, peer in peers.items()}
    return summary(name, batch, times, rounds, block, first)


def summary(
    name: str, batch: int, times: dict[str, list[float]], rounds: int, block: int, first: dict[str, float]
) -> dict[str, Any]:
    ember_ms = 1000 * statistics.median(times["ember"])
    torch_ms = 1000 * statistics.median(times["torch"])
    flops = step_flops(name, batch)
    return {
        "network": name,
        "input": list(INPUTS[name]),
        "batch_size": batch,
        "steps_counted": len(times["ember"]),
        "ember_ms": round(ember_ms, 2),
        "torch_ms": round(torch_ms, 2),
        "step_gflop": round(flops / 1e9, 3),
        "ember_gflops": round(flops / ember_ms / 1e6, 1),
        "torch_gflops": round(flops / torch_ms / 1e6, 1),
        "ratio": round(ember_ms / torch_ms, 2),
        "ratio_per_round": ratios_per_round(times, rounds, block),
        "first_loss": first,
    }


# ----------------------------------------------------------------------------------------------------------
# Arithmetic: the step's multiply-adds, and the machine's matrix-product peak to hold them against
def step_flops(name: str, batch: int) -> int:
    """Floating-point operations of one training step of network ``name`` (``arithmetic.training_flops``:
    its convolutions and matrix products, the first layer's input gradient left out)."""
    return training_flops(BUILDERS[name](enn), np.zeros((batch, *INPUTS[name]), np.float32))


def memory(name: str, batch: int, threads: int) -> dict[str, dict[str, float]]:
    """Peak resident memory of five steps, Ember and PyTorch each in a fresh process of this script."""
    figures = {}
    for framework in ("ember", "torch"):
        command = [sys.executable, __file__, "--peak-rss-of", f"{name}:{framework}"]
        command += ["--threads", str(threads), "--batch-size", str(batch)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        figures[framework] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def ratios_per_round(times: dict[str, list[float]], rounds: int, block: int) -> list[float]:
    """Ember / PyTorch of each round's block medians: the spread of the ratio within one run."""
    return [
        round(
            statistics.median(times["ember"][r * block : (r + 1) * block])
            / statistics.median(times["torch"][r * block : (r + 1) * block]),
            2,
        )
        for r in range(rounds)
    ]


def machine(threads: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "ember": ember.__version__,
    }


def main() -> int:
    args = ARGS or parse()
    torch.set_num_threads(args.threads)
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(NETWORKS))
    if unknown:
        print(f"unknown networks: {', '.join(unknown)}", file=sys.stderr)
        return 2
    rows = []
    peaks = [sgemm_peak()]
    print(f"the machine's sgemm ({args.threads} threads, 4096^3, NumPy's BLAS): {peaks[0]:.0f} GFLOP/s")
    print(
        f"{'network':<10} {'Ember ms':>10} {'PyTorch ms':>11} {'ratio':>7}   per round   first loss (E / T)"
        "   GFLOP/s (E / T)"
    )
    for name in names:
        rounds, block = PLAN[name]
        clock = time.thread_time if args.cpu_time else time.perf_counter
        rounds, block = args.rounds or rounds, args.block or block
        if args.apart:
            row = measure_apart(name, rounds, block, args.warmup, args.batch_size, args.threads)
        else:
            row = measure(name, rounds, block, args.warmup, args.batch_size, clock)
        if args.memory:
            row["memory_mib"] = memory(name, args.batch_size, args.threads)
        rows.append(row)
        losses = row["first_loss"]
        print(
            f"{name:<10} {row['ember_ms']:>10.1f} {row['torch_ms']:>11.1f} {row['ratio']:>6.2f}x"
            f"   {min(row['ratio_per_round']):.2f}-{max(row['ratio_per_round']):.2f}"
            f"   {losses['ember']:.5f} / {losses['torch']:.5f}"
            f"   {row['ember_gflops']:.0f} / {row['torch_gflops']:.0f}",
            flush=True,
        )
        if args.memory:
            figures = [row["memory_mib"][framework] for framework in ("ember", "torch")]
            peak = [m["peak_mib"] for m in figures]
            growth = [m["peak_mib"] - m["set_up_mib"] for m in figures]
            numba = figures[0]["numba_mib"]
            print(
                f"{'':<10} peak RSS over {MEMORY_STEPS} steps, own process: Ember {peak[0]:.0f} MiB, PyTorch "
                f"{peak[1]:.0f} MiB ({peak[0] / peak[1]:.2f}x); above the set-up: {growth[0]:.0f} vs "
                f"{growth[1]:.0f} MiB ({growth[0] / growth[1]:.2f}x; with numba's {numba:.0f} MiB counted "
                f"in Ember's growth, if it convolves or pools: {(growth[0] + numba) / growth[1]:.2f}x)",
                flush=True,
            )
    peaks.append(sgemm_peak())
    peak = max(peaks)  # the higher of the two: the harder bar
    for row in rows:
        row["ember_of_peak"] = round(row["ember_gflops"] / peak, 3)
        row["torch_of_peak"] = round(row["torch_gflops"] / peak, 3)
    print(
        f"the machine's sgemm at the start and the end: {peaks[0]:.0f}, {peaks[1]:.0f} GFLOP/s; "
        + "of the higher, "
        + ", ".join(f"{r['network']} {r['ember_of_peak']:.0%} / {r['torch_of_peak']:.0%}" for r in rows)
        + " (Ember / PyTorch)"
    )
    output = Path(args.output or Path(__file__).resolve().parent / "results" / "bench_train_step.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "train_step",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "clock": "thread CPU time" if args.cpu_time else "wall time",
        "processes": "one per framework" if args.apart else "one for both",
        "load_average": os.getloadavg(),
        "machine": machine(args.threads),
        "sgemm_peak_gflops": [round(p, 1) for p in peaks],
    }
    output.write_text(json.dumps({**result, "results": rows}, indent=2) + "\n")
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
