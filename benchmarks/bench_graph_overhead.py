"""The graph's own cost per operation: a chain of tiny operations, forward and backward, Ember vs PyTorch.

On 4-element tensors the arithmetic is nothing, so the time per operation is the framework's bookkeeping:
wrapping the result, recording the node (forward), and the walk that visits it (backward). Three chains of
``--length`` operations on a leaf that requires grad: ``relu`` (one input), ``add`` (x + w, two inputs, one
a parameter, as a bias), ``mixed`` (relu, x * w, x + w, tanh in turn, what a small network's graph looks
like). Both frameworks run in this process on one thread, interleaved in blocks (the order swapped every
round), each timed in CPU time; the figures are medians of microseconds per operation.

    PYTHONPATH=src python benchmarks/bench_graph_overhead.py [--length 200] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ember  # noqa: E402

CHAINS = ("relu", "add", "mixed")


def chain(kind: str, lib: Any, x: Any, w: Any, length: int) -> Any:
    """``length`` operations of ``kind`` applied one after the other to x (w is a second leaf)."""
    relu, tanh = lib.relu, lib.tanh
    for step in range(length):
        if kind == "relu":
            x = relu(x)
        elif kind == "add":
            x = x + w
        else:
            x = (relu, lambda a: a * w, lambda a: a + w, tanh)[step % 4](x)
    return x


def time_chain(kind: str, lib: Any, length: int, repeats: int) -> tuple[list[float], list[float]]:
    """Forward and backward CPU seconds of ``repeats`` chains."""
    values = np.linspace(0.5, 1.0, 4, dtype=np.float32)
    if lib is torch:
        x = torch.tensor(values, requires_grad=True)
        w = torch.tensor(values * 0.01, requires_grad=True)
    else:
        x = ember.tensor(values, requires_grad=True)
        w = ember.tensor(values * 0.01, requires_grad=True)
    forward, backward = [], []
    for _ in range(repeats):
        start = time.thread_time()
        out = chain(kind, lib, x, w, length).sum()
        middle = time.thread_time()
        out.backward()
        end = time.thread_time()
        forward.append(middle - start)
        backward.append(end - middle)
        x.grad = w.grad = None
    return forward, backward


def measure(kind: str, length: int, rounds: int, repeats: int) -> dict[str, Any]:
    times: dict[str, dict[str, list[float]]] = {
        name: {"forward": [], "backward": []} for name in ("ember", "torch")
    }
    libraries: dict[str, Any] = {"ember": ember, "torch": torch}
    for lib in libraries.values():  # warm up
        time_chain(kind, lib, length, 3)
    for round_ in range(rounds):
        for name in ("ember", "torch") if round_ % 2 == 0 else ("torch", "ember"):
            forward, backward = time_chain(kind, libraries[name], length, repeats)
            times[name]["forward"] += forward
            times[name]["backward"] += backward

    def per_op(seconds: list[float]) -> float:  # the chain's operations and the final sum
        return round(1e6 * statistics.median(seconds) / (length + 1), 2)

    row: dict[str, Any] = {"chain": kind, "length": length}
    for name in ("ember", "torch"):
        for phase in ("forward", "backward"):
            row[f"{name}_{phase}_us"] = per_op(times[name][phase])
    for phase in ("forward", "backward"):
        row[f"{phase}_ratio"] = round(row[f"ember_{phase}_us"] / row[f"torch_{phase}_us"], 2)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=200, help="operations per chain (default 200)")
    parser.add_argument("--rounds", type=int, default=7, help="blocks per framework (default 7)")
    parser.add_argument("--repeats", type=int, default=20, help="chains per block (default 20)")
    parser.add_argument("--output", help="JSON file (default benchmarks/results/bench_graph_overhead.json)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'chain':<7} {'forward us/op: Ember':>21} {'PyTorch':>8} {'ratio':>6}   {'backward: Ember':>15} "
          f"{'PyTorch':>8} {'ratio':>6}")  # fmt: skip
    rows = []
    for kind in CHAINS:
        row = measure(kind, args.length, args.rounds, args.repeats)
        rows.append(row)
        print(
            f"{kind:<7} {row['ember_forward_us']:>21.2f} {row['torch_forward_us']:>8.2f} "
            f"{row['forward_ratio']:>5.2f}x   {row['ember_backward_us']:>15.2f} "
            f"{row['torch_backward_us']:>8.2f} {row['backward_ratio']:>5.2f}x",
            flush=True,
        )
    output = Path(args.output or Path(__file__).resolve().parent / "results" / "bench_graph_overhead.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "graph_overhead",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "clock": "thread CPU time, one thread",
        "load_average": os.getloadavg(),
        "versions": {"numpy": np.__version__, "torch": torch.__version__, "ember": ember.__version__},
        "results": rows,
    }
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
