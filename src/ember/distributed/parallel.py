"""``DistributedDataParallel``: the same model in every process, each on its own part of the batch.

Data parallelism (the lectures' "distributed training", PyTorch's ``DistributedDataParallel``): every
process holds a replica of the model and computes the loss and gradients on its shard of the global batch
(``DistributedSampler``); the gradients are then averaged across the processes with allreduce, so each
replica takes the same optimizer step and the replicas stay identical. With a loss that is a mean over
the batch, the averaged gradient is the gradient of the global batch's loss: N processes at B / N samples
each compute what one process at B samples computes, up to the order of float32 additions.

- At construction, rank 0's parameters and buffers are broadcast, so every replica starts the same.
- Before each training forward pass, rank 0's buffers are broadcast (``broadcast_buffers``): batch norm's
  running statistics are computed per rank, on the rank's own samples (PyTorch's default), and rank 0's
  are the model's. ``SyncBatchNorm`` computes the statistics over the whole global batch instead.
- Gradients are packed into buckets of about ``bucket_cap_mb`` MB (in reverse order of the parameters,
  roughly the order backward produces them) and each bucket is averaged with one allreduce: a few large
  messages instead of one per parameter, since each message costs a latency. A gradient hook on each
  parameter notes when backward has produced it; when the last one has, the buckets are reduced and the
  averages written back into ``.grad``, before ``backward()`` returns, so the training loop is the usual
  ``loss.backward(); optimizer.step()``. With ``overlap=True`` a bucket's allreduce starts as soon as its
  gradients are ready, while backward goes on (``benchmarks/bench_distributed.py`` measures whether that
  pays: MPI moves a non-blocking collective forward only inside MPI calls, and on a machine whose cores
  are all computing there is no idle core to do it).

Every parameter that requires grad must receive its gradient in each backward pass (an unused one is
reported at the next forward), and a parameter used twice must receive both parts before the last
parameter's. ``state_dict`` is the wrapped module's, without PyTorch's ``module.`` prefix: a checkpoint
of a distributed run loads into the plain model and back.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ember.autograd import Tensor, is_grad_enabled
from ember.distributed.communicator import Communicator, DistributedError
from ember.distributed.group import get_world
from ember.nn.module import IncompatibleKeys, Module
from ember.nn.parameter import Parameter


@dataclass
class Bucket:
    """Parameters whose gradients travel in one allreduce, and the flat buffer they are packed in."""

    parameters: list[Parameter]
    buffer: np.ndarray
    offsets: list[int]
    ready: int = 0  # parameters whose gradient backward has produced in this pass
    handle: Any = None  # the begun allreduce (overlap)
    started: bool = False

    def pack(self) -> None:
        for parameter, offset in zip(self.parameters, self.offsets, strict=True):
            grad = parameter.grad
            piece = self.buffer[offset : offset + parameter.array.size]
            if grad is None:
                piece[...] = 0
            else:
                piece[...] = grad.array.reshape(-1)

    def unpack(self, scale: float) -> None:
        self.buffer *= self.buffer.dtype.type(scale)
        for parameter, offset in zip(self.parameters, self.offsets, strict=True):
            average = self.buffer[offset : offset + parameter.array.size].reshape(parameter.array.shape)
            if parameter.grad is None:
                parameter.grad = Tensor(average.copy())
            else:
                parameter.grad.array[...] = average


def make_buckets(parameters: list[Parameter], cap_bytes: int) -> list[Bucket]:
    """Consecutive parameters of one dtype, up to ``cap_bytes`` a bucket (a larger one alone)."""
    buckets: list[Bucket] = []
    group: list[Parameter] = []

    def close() -> None:
        if group:
            offsets = list(np.cumsum([0] + [p.array.size for p in group[:-1]]))
            size = sum(p.array.size for p in group)
            buckets.append(Bucket(list(group), np.zeros(size, group[0].dtype), [int(o) for o in offsets]))
            group.clear()

    for parameter in parameters:
        if group and (
            parameter.dtype != group[0].dtype
            or sum(p.array.nbytes for p in group) + parameter.array.nbytes > cap_bytes
        ):
            close()
        group.append(parameter)
    close()
    return buckets


@dataclass
class Pass:
    """The bookkeeping of one backward pass."""

    reported: set[int] = field(default_factory=set)  # ids of parameters whose hook has run
    done: bool = False
    next_bucket: int = 0  # buckets are started in order, the same on every rank
    previous: int | None = None  # the parameter that reported last (overlap)


class DistributedDataParallel(Module):
    """Wrap ``module`` so that backward averages its gradients across the processes of ``communicator``."""

    def __init__(
        self,
        module: Module,
        communicator: Communicator | None = None,
        bucket_cap_mb: float = 25,
        broadcast_buffers: bool = True,
        overlap: bool = False,
    ) -> None:
        super().__init__()
        self.module = module
        self.communicator = communicator if communicator is not None else get_world()
        self.broadcast_buffers, self.overlap = broadcast_buffers, overlap
        self.names = {id(p): name for name, p in module.named_parameters()}
        trained = [p for p in module.parameters() if p.requires_grad]
        self.buckets = make_buckets(list(reversed(trained)), int(bucket_cap_mb * 2**20))
        self.bucket_of = {id(p): i for i, bucket in enumerate(self.buckets) for p in bucket.parameters}
        self.position = {id(p): i for i, p in enumerate(reversed(trained))}
        self.pass_ = Pass(done=True)
        self.synchronize_state(buffers_only=False)
        if self.communicator.size > 1:
            for parameter in trained:
                parameter.register_hook(self.hook_for(parameter))

    # ----------------------------------------------------------------------------------------------
    def synchronize_state(self, buffers_only: bool) -> None:
        """Broadcast rank 0's parameters (at the start) and buffers, packed by type: one message each."""
        if self.communicator.size == 1:
            return
        tensors: Iterable[Tensor] = self.module.buffers()
        if not buffers_only:
            tensors = [*self.module.parameters(), *tensors]
        by_type: dict[np.dtype[Any], list[Tensor]] = {}
        for tensor in tensors:
            by_type.setdefault(tensor.array.dtype, []).append(tensor)
        for group in by_type.values():
            flat = np.concatenate([t.array.reshape(-1) for t in group])
            self.communicator.broadcast(flat)
            offset = 0
            for tensor in group:
                tensor.array[...] = flat[offset : offset + tensor.array.size].reshape(tensor.array.shape)
                offset += tensor.array.size

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.module.training and is_grad_enabled() and self.communicator.size > 1:
            self.start_pass()
            if self.broadcast_buffers:
                self.synchronize_state(buffers_only=True)
        return self.module(*args, **kwargs)

    def start_pass(self) -> None:
        missing = [p for b in self.buckets for p in b.parameters if id(p) not in self.pass_.reported]
        if self.pass_.reported and not self.pass_.done:
            names = ", ".join(self.names[id(p)] for p in missing[:5])
            raise DistributedError(
                f"DistributedDataParallel: {len(missing)} parameters received no gradient in the last "
                f"backward pass ({names}), so the gradients were not averaged; every parameter that "
                "requires grad must be used in each forward pass (freeze the others: requires_grad_(False))"
            )
        self.pass_ = Pass()
        for bucket in self.buckets:
            bucket.ready, bucket.started, bucket.handle = 0, False, None

    # ----------------------------------------------------------------------------------------------
    def hook_for(self, parameter: Parameter) -> Any:
        key = id(parameter)

        def hook(grad: Tensor) -> Any:
            return self.gradient_arrived(key, parameter, grad)

        return hook

    def gradient_arrived(self, key: int, parameter: Parameter, grad: Tensor) -> Any:
        """A parameter's gradient (before it is added into ``.grad``): the last one reduces everything."""
        state = self.pass_
        bucket = self.buckets[self.bucket_of[key]]
        if state.done or bucket.started:
            raise DistributedError(
                f"DistributedDataParallel: {self.names[key]} received a gradient after its bucket was "
                "averaged (a parameter used more than once in the forward pass?), or backward ran twice "
                "after one forward pass"
            )
        if key in state.reported:
            return None  # a second part of a shared parameter's gradient: added into .grad as usual
        state.reported.add(key)
        if len(state.reported) < len(self.bucket_of):
            if self.overlap:
                self.start_ready_buckets(key)
            return None
        # The last gradient: it is not in .grad yet, so it is put there first, then everything is reduced.
        parameter.grad = Tensor(grad.array if parameter.grad is None else parameter.grad.array + grad.array)
        self.reduce_all()
        state.done = True
        final = parameter.grad
        parameter.grad = None  # the engine sets .grad to the value returned
        return final

    def start_ready_buckets(self, key: int) -> None:
        """Begin the allreduce of each bucket, in order, whose gradients are all in ``.grad``. A hook runs
        before its gradient is added, and the engine adds it before going on: so when ``key`` reports,
        the parameter that reported before it is complete."""
        state = self.pass_
        if state.previous is not None:
            self.buckets[self.bucket_of[state.previous]].ready += 1
        state.previous = key
        while state.next_bucket < len(self.buckets):
            bucket = self.buckets[state.next_bucket]
            if bucket.ready < len(bucket.parameters):
                break
            bucket.pack()
            bucket.handle = self.communicator.start_allreduce(bucket.buffer)
            bucket.started = True
            state.next_bucket += 1
        self.communicator.test([b.handle for b in self.buckets if b.handle is not None])

    def reduce_all(self) -> None:
        state = self.pass_
        for bucket in self.buckets[state.next_bucket :]:
            bucket.pack()
            if self.overlap:
                bucket.handle = self.communicator.start_allreduce(bucket.buffer)
            else:
                self.communicator.allreduce(bucket.buffer)
            bucket.started = True
        state.next_bucket = len(self.buckets)
        self.communicator.wait([b.handle for b in self.buckets if b.handle is not None])
        for bucket in self.buckets:
            bucket.unpack(1.0 / self.communicator.size)

    # ----------------------------------------------------------------------------------------------
    # The wrapped module's state, without a prefix
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        return self.module.state_dict(prefix, keep_vars)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        return self.module.load_state_dict(state_dict, strict)
