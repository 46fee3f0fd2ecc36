"""The memory a training run needs, estimated before it starts, and what this machine has to give.

A run's peak resident memory is, roughly (float32: 4 bytes a value; W the parameters' bytes, s the
optimizer's slots per parameter: SGD's momentum 1, Adam's moments 2):

    baseline                      the interpreter, NumPy, Ember, the libraries of a run, and the
                                  convolutions' reusable workspaces if the model has any (measured)
  + data set                      the training and test images, held whole as uint8
  + W x (2 + s)                   weights, gradients and the optimizer's state
  + 3 x the largest parameter     the temporaries of an optimizer step (weight decay, momentum)
  + workers x 2 x batch x input   the batches the loader prepares ahead
  + the largest of:
      batch x f x layer outputs   what the forward pass keeps for the backward one: every layer's output
                                  per image (``ember.summary``, in-place layers included) times f, for
                                  the masks, batch norm's normalized values and the gradients in flight
      2 x W x (1 + s)             writing a checkpoint (the file is built in memory, then written)
      eval batch x 3 x largest    validation and test, without a graph: about three of the largest layer
                                  outputs per image at a time

Calibration (``ember train`` on MNIST, peak RSS from ``/usr/bin/time``, 2 threads; 19 runs of 9 models
from the MLP to VGG-16, docs/training.md "Memory"): the estimate was 0.9 to 1.6 times the measured peak,
the high ratios for the smallest runs (a few hundred MB); the exception is MobileNet at batch 256, 0.6x:
its depthwise convolutions keep more than their outputs. So a run is refused only when the estimate
exceeds what is available, and warned about from ``WARN_FRACTION`` of it.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ember.errors import EmberError
from ember.train.registries import OPTIMIZERS

FLOAT = 4  # bytes of a float32
BASELINE = 200 * 2**20  # Python, NumPy, Ember, PyYAML, safetensors, matplotlib: measured 190-200 MB (MLP)
WORKSPACE = 256 * 2**20  # convolution workspaces and numba's kernels: measured 170-310 MB more
ACTIVATION_FACTOR = (
    3.0  # training bytes per image / layer-output bytes per image: measured 1.5-3.2 (MobileNet: 7)
)
OPTIMIZER_TEMPORARIES = 3  # temporaries of the largest parameter during a step (measured on VGG)
EVAL_FACTOR = 3  # inference: a layer's input, its output and a workspace of their order
PREFETCH = 2  # batches each loader worker prepares ahead (DataLoader's prefetch_factor)
WARN_FRACTION = 0.6  # warn from this share of the available memory (the estimate can be 40% low)

GB = 10**9


class InsufficientMemoryError(EmberError, MemoryError):
    """The configuration needs more memory than the machine has; the message says what to change."""

    exit_status = 2  # like a bad argument: change it and run again


@dataclass
class MemoryEstimate:
    """The parts of a run's peak memory, in bytes (see the module's docstring for each)."""

    baseline: int
    data: int
    parameters: int  # weights, gradients, optimizer state and a step's temporaries
    per_image: int  # training bytes per image of a batch (the loader's share included)
    batch_size: int  # the training batch (at most the training images)
    checkpoint: int
    eval_per_image: int
    eval_images: int  # the evaluation batch when the training batch is smaller

    @property
    def activations(self) -> int:
        return self.per_image * self.batch_size

    @property
    def evaluation(self) -> int:
        return self.eval_per_image * max(self.batch_size, self.eval_images)

    @property
    def fixed(self) -> int:
        """Everything that does not grow with the batch."""
        return self.baseline + self.data + self.parameters

    @property
    def total(self) -> int:
        return self.fixed + max(self.activations, self.checkpoint, self.evaluation)

    def describe(self) -> str:
        return (
            f"about {self.total / GB:,.1f} GB (a batch of {self.batch_size:,}: {self.activations / GB:,.2f} "
            f"GB, {self.per_image / 2**20:.2f} MiB per image; weights, gradients and optimizer state: "
            f"{self.parameters / GB:.2f} GB; data and libraries: {(self.baseline + self.data) / GB:.2f} GB)"
        )

    def largest_batch(self, budget: float) -> int:
        """The largest batch size whose estimate stays within ``budget`` bytes (0 if none does)."""
        room = budget - self.fixed
        if room < max(self.checkpoint, self.eval_per_image * self.eval_images):
            return 0
        return int(room // max(self.per_image, self.eval_per_image, 1))


def optimizer_slots(config: Any) -> int:
    settings = config.optimizer
    slots = OPTIMIZERS[settings.name].state_slots
    if settings.name == "sgd" and not settings.momentum:
        slots = 0
    if settings.name == "rmsprop":
        slots += bool(settings.momentum) + bool(settings.options.get("centered"))
    if settings.options.get("amsgrad"):
        slots += 1
    return slots


def estimate_training(config: Any, model_summary: Any, info: Any, eval_images: int) -> MemoryEstimate:
    """The estimate for ``config`` whose model is tabulated in ``model_summary`` (``ember.summary``);
    ``eval_images``: the evaluation batch when the training batch is smaller."""
    input_values = model_summary.input_values // model_summary.batch_size
    weights, slots = model_summary.parameter_bytes, optimizer_slots(config)
    prefetched = max(config.workers, 1) * PREFETCH * input_values
    images = info.train_images if config.subset is None else min(config.subset, info.train_images)
    return MemoryEstimate(
        baseline=baseline(model_summary),
        data=(info.train_images + info.test_images) * info.channels * info.size * info.size,
        parameters=weights * (2 + slots) + OPTIMIZER_TEMPORARIES * FLOAT * model_summary.largest_parameter,
        per_image=int(FLOAT * (ACTIVATION_FACTOR * model_summary.output_values + input_values + prefetched)),
        batch_size=min(config.batch_size, images),
        checkpoint=2 * weights * (1 + slots),
        eval_per_image=FLOAT * (EVAL_FACTOR * model_summary.largest_output_values + input_values),
        eval_images=min(eval_images, info.test_images),
    )


def baseline(model_summary: Any) -> int:
    """The libraries, and the convolutions' workspaces if the model has convolutions."""
    convolutional = any(layer.kind.startswith("Conv") for layer in model_summary.layers)
    return BASELINE + (WORKSPACE if convolutional else 0)


def estimate_inference(
    model_summary: Any,
    batch_size: int,
    keep_outputs: bool = False,
    scale: float = 1.0,
    scale_weights: bool = False,
) -> int:
    """Bytes to run the tabulated model on ``batch_size`` images without a graph.

    ``keep_outputs``: every layer's output is kept (as ``ember.summary`` keeps them). ``scale``: the
    images have ``scale`` times the pixels of the tabulated ones (activations grow with the pixels; so do
    the weights of a model built for one image size, ``scale_weights``: the MLP's first layer).
    """
    per_image = model_summary.output_values if keep_outputs else model_summary.largest_output_values
    values = (1 if keep_outputs else EVAL_FACTOR) * per_image
    images = model_summary.input_values // model_summary.batch_size
    weights = model_summary.parameter_bytes * (scale if scale_weights else 1)
    return int(baseline(model_summary) + weights + batch_size * scale * FLOAT * (values + images))


def check_training(config: Any, model: Any = None) -> MemoryEstimate:
    """Refuse a configuration that cannot fit in this machine's memory; warn when it is close.

    ``model`` is the run's (built from ``config`` if not given); it is tabulated by ``ember.summary`` at
    the size it will be trained at (eval mode, no graph, a zero input: its state and the random state are
    left as they were).
    """
    from ember.models.summary import summary
    from ember.train import recipes
    from ember.train.datasets import DATASETS

    info = DATASETS[config.dataset]
    size = recipes.model_input_size(config, info)
    if model is None:
        model = recipes.build_model(config, info.num_classes, size[0], size[1])
    estimate = estimate_training(config, summary(model, size), info, recipes.eval_images(size))
    available = available_memory()
    if available is None:
        return estimate
    shape = "x".join(map(str, size))
    what = f"{config.model} on {shape} inputs, batch size {config.batch_size}, needs {estimate.describe()}"
    batch = estimate.largest_batch(WARN_FRACTION * available) or estimate.largest_batch(available)
    if batch >= estimate.batch_size:  # the batch is not what is too large
        advice = (
            "Use a smaller model, or an optimizer with less state (sgd keeps 1 value per weight, adam 2)."
        )
    elif batch:
        advice = f"Use --batch-size {batch} or less, or a smaller model."
    else:
        advice = (
            f"The model alone (weights, gradients, optimizer state) needs {estimate.parameters / GB:.1f} GB: "
            "use a smaller model ('ember summary --list'; 'ember summary MODEL' shows its size)."
        )
    check(estimate.total, what, advice, available)
    return estimate


def check_inference(
    model: Any,
    input_size: tuple[int, ...],
    batch_size: int,
    name: str,
    advice: str = "Use a smaller --batch-size.",
) -> None:
    """Refuse (or warn about) running ``model`` on batches of ``batch_size`` that this machine cannot hold."""
    from ember.models.summary import summary

    need = estimate_inference(summary(model, input_size), batch_size)
    shape = "x".join(map(str, input_size))
    what = f"{name} on batches of {batch_size:,} images of {shape} needs about {need / GB:,.1f} GB"
    check(need, what, advice)


def available_memory() -> int | None:
    """Bytes this process can still use: what it holds plus the system's MemAvailable (or the free pages),
    bounded by a container's (cgroup's) limit. None if the system does not say."""
    available = _meminfo("MemAvailable")
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        room = _read_int(limit), _read_int(usage)
        if room[0] is not None and room[1] is not None:
            available = min(available, room[0] - room[1])
    return available + (_resident() or 0)


def check(estimate: int, what: str, advice: str, available: int | None = None) -> None:
    """Refuse (``InsufficientMemoryError``) if ``estimate`` bytes cannot fit, warn if it is close.

    ``what`` names the configuration ('vgg16 on 1x32x32 inputs, batch size 128, needs about ...'),
    ``advice`` says what to change. The warning is Python's (``ember`` prints it as one line).
    """
    available = available_memory() if available is None else available
    if available is None:
        return
    have = f"this machine has {available / GB:.1f} GB available"
    if estimate > available:
        raise InsufficientMemoryError(f"{what}, but {have}: it would be killed. {advice}")
    if estimate > WARN_FRACTION * available:
        message = f"{what}, and {have}: it may not fit (the estimate can be 40% low). {advice}"
        warnings.warn(message, stacklevel=2)


def _meminfo(field: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == field:
                return int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _resident() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None  # missing, or "max" (no limit)
