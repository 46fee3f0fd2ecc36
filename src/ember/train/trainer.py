"""``Trainer``: the lectures' training loop, written out once, with callbacks for everything around it.

The loop is the one every lecture draws: sample a mini-batch, forward it through the network, compute the
loss, backpropagate, update the weights; after each epoch, measure the loss and accuracy on a held-out
validation split (the "beyond training error" picture: the gap between training and validation accuracy is
what regularization closes). ``training_step`` is those four lines and ``fit`` the two loops around it, so a
reader can see that the Trainer adds nothing they could not write by hand with the same pieces (a model, a
loss, an optimizer from ``ember.optim``, a loader from ``ember.data``).

What the Trainer adds is bookkeeping: the step and epoch counters, a learning-rate schedule stepped after
each iteration (``scheduler_interval="step"``, as cosine or one-cycle schedules over the whole run expect)
or after each epoch (``"epoch"``; a scheduler whose ``needs_metric`` is true, as ``ReduceLROnPlateau``, is
given the validation loss), the per-epoch
``history``, a ``state_dict`` that holds everything needed to continue a run bit for bit, and the callback
hooks (progress bar, logs, checkpoints, early stopping, the divergence guard; ``ember.train.callbacks``).

Resuming: ``load_state_dict`` restores the model, the optimizer, the scheduler, the counters, the random
number generators (Ember's default one, NumPy's global one, and the training loader's, which is applied when
``fit`` receives the loader) and the callbacks' own state. A run stopped between two steps (Ctrl-C, or a
checkpoint taken every N steps) continues mid-epoch with the same batches it would have seen. Ctrl-C and
SIGTERM both stop the loop after the step under way (``interrupted``, ``interrupt_signal``).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

import ember.random
from ember.autograd import Tensor, from_numpy, no_grad
from ember.nn.module import Module
from ember.train.callbacks.base import BatchLogs, Callback, CallbackList
from ember.train.metrics import ClassificationMetrics
from ember.train.tasks import TASKS

INTERVALS = ("step", "epoch")
STOP_SIGNALS: dict[int, str] = {signal.SIGINT.value: "Ctrl-C", signal.SIGTERM.value: "SIGTERM"}


def quiet_floats() -> np.errstate:
    """No NumPy overflow warnings: a diverging run is reported once, by the divergence guard."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def needs_metric(scheduler: Any) -> bool:
    """Whether ``scheduler`` declares that it is stepped with a metric, once per epoch
    (``LRScheduler.needs_metric``: ``ReduceLROnPlateau`` does)."""
    return bool(getattr(scheduler, "needs_metric", False))


def _split_batch(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, list | tuple) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(
        f"the Trainer expects batches of (inputs, targets), got a {type(batch).__name__}"
        + (f" of {len(batch)} items" if isinstance(batch, list | tuple) else "")
    )


class Trainer:
    """Train a classifier with ``fit``, measure it with ``evaluate``, use it with ``predict``.

    ``loss_fn`` maps (scores, targets) to a mean loss (``nn.CrossEntropyLoss()`` by default);
    ``regularization`` maps the model to a penalty added to the loss that is minimized (the lecture's
    ``L = data loss + lambda R(W)``; see ``ember.nn.regularization``). The logged training loss is the data
    loss, comparable with the validation loss.
    """

    def __init__(
        self,
        model: Module,
        optimizer: Any,
        loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
        *,
        scheduler: Any = None,
        scheduler_interval: str = "epoch",
        regularization: Callable[[Module], Tensor] | None = None,
        callbacks: Iterable[Callback] = (),
        num_classes: int | None = None,
        communicator: Any = None,
        task: Any = None,
    ) -> None:
        if scheduler_interval not in INTERVALS:
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}")
        if needs_metric(scheduler) and scheduler_interval != "epoch":
            raise ValueError(
                f"{type(scheduler).__name__} watches the validation loss (needs_metric): step it per epoch"
            )
        if loss_fn is None:
            from ember.nn import CrossEntropyLoss

            loss_fn = CrossEntropyLoss()
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.scheduler, self.scheduler_interval = scheduler, scheduler_interval
        self.regularization = regularization
        self.callbacks = CallbackList(callbacks)
        self.num_classes = num_classes
        # What is measured (ember.train.tasks: classification unless a run segments or localizes).
        self.task: Any = task if task is not None else TASKS["classify"]
        # The processes of a distributed run (ember.train.distributed): logs summed, stops agreed.
        self.communicator: Any = communicator if communicator is not None and communicator.size > 1 else None
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.history: list[dict[str, Any]] = []
        self.max_epochs = 0
        self.train_loader: Any = None
        self.should_stop = False
        self.stop_reason: str | None = None
        self.diverged = False
        self.interrupted = False
        self.interrupt_signal: int | None = None  # the signal that stopped the run (SIGINT or SIGTERM)
        self._interrupt_requested: int | None = None
        self._epoch_totals = self._fresh_totals()
        self._loader_state: dict[str, Any] | None = None

    # ----------------------------------------------------------------------------------------------
    # The loop
    def training_step(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One iteration: forward, loss, backward, update. Returns (scores, data loss, objective)."""
        scores = self.task.forward(self.model, inputs, targets)  # forward
        loss = self.loss_fn(scores, targets)  # data loss
        objective = loss + self.regularization(self.model) if self.regularization is not None else loss
        self.optimizer.zero_grad()
        objective.backward()  # backward: gradients of the objective w.r.t. every parameter
        self.optimizer.step()  # update
        return scores, loss, objective

    def fit(self, train_loader: Any, val_loader: Any = None, epochs: int = 1) -> list[dict[str, Any]]:
        """Train until ``epochs`` epochs are complete (counting those before a resume) or a callback stops.

        Returns the history: one record per epoch with the training and validation loss and accuracy.
        """
        self.train_loader, self.max_epochs = train_loader, epochs
        self.should_stop, self.stop_reason, self.diverged, self.interrupted = False, None, False, False
        self.interrupt_signal = None
        if self._loader_state is not None and hasattr(train_loader, "load_state_dict"):
            train_loader.load_state_dict(self._loader_state)
        self._loader_state = None
        self.callbacks.on_fit_start(self)
        try:
            with self._graceful_interrupt():
                while self.epoch < epochs and not self.should_stop:
                    self._train_epoch(train_loader)
                    if self.should_stop:  # stopped between two steps: the epoch is not complete
                        break
                    self._end_epoch(val_loader)
                    self._honour_interrupt()  # a signal during validation: stop at the epoch's end
                    self._agree_to_stop()
        finally:
            self.callbacks.on_fit_end(self)
        return self.history

    def _train_epoch(self, train_loader: Any) -> None:
        self.model.train()
        self.callbacks.on_epoch_start(self)
        totals = self._epoch_totals
        batches = len(train_loader)  # a resumed epoch yields only the batches it has not done yet
        set_epoch = getattr(getattr(train_loader, "sampler", None), "set_epoch", None)
        if set_epoch is not None:
            set_epoch(self.epoch)  # a DistributedSampler's order is a function of the epoch
        tick = time.perf_counter()
        for batch in train_loader:
            inputs, targets = _split_batch(batch)
            lr = self.lr  # the rate this step uses (the scheduler moves it after the step)
            with quiet_floats():
                scores, loss, objective = self.training_step(inputs, targets)
            self.step += 1
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            correct, size = self.task.batch_correct(scores, targets)
            terms = self.task.loss_terms(scores)  # a detector's losses, whose sum is the loss
            measured = (float(loss.item()), float(objective.item()), correct, size)
            if self.communicator is not None:
                measured = self._summed_over_processes(*measured)
                terms = self._terms_over_processes(terms, size, measured[3])
            now = time.perf_counter()
            logs = BatchLogs(
                step=self.step,
                epoch=self.epoch,
                batch=totals["batches"],
                batches=batches,
                loss=measured[0],
                objective=measured[1],
                correct=measured[2],
                size=measured[3],
                lr=lr,
                seconds=now - tick,
            )
            totals["batches"] += 1
            totals["loss"] += logs.loss * logs.size
            if logs.correct is None or totals["correct"] is None:  # the task counts no accuracy
                totals["correct"] = None
            else:
                totals["correct"] += logs.correct
            totals["count"] += logs.size
            for name, value in terms.items():
                totals["terms"][name] = totals["terms"].get(name, 0.0) + value * logs.size
            totals["seconds"] += logs.seconds
            totals["lr"] = lr
            tick = now
            self.callbacks.on_train_batch_end(self, logs)
            self._honour_interrupt()
            self._agree_to_stop()
            if self.should_stop:
                return

    def _honour_interrupt(self) -> None:
        if self._interrupt_requested and not self.should_stop:
            self.interrupted, self.interrupt_signal = True, self._interrupt_requested
            self.stop(f"interrupted ({STOP_SIGNALS[self._interrupt_requested]})")

    def _summed_over_processes(
        self, loss: float, objective: float, correct: float | None, size: int
    ) -> tuple[float, float, float | None, int]:
        """The global batch's mean loss and objective, correct count (None: not counted) and size (each
        process has a part)."""
        totals = np.array([loss * size, objective * size, correct or 0.0, size], dtype=np.float64)
        self.communicator.allreduce(totals)
        count = int(totals[3])
        summed = None if correct is None else float(totals[2])
        return float(totals[0] / count), float(totals[1] / count), summed, count

    def _terms_over_processes(self, terms: dict[str, float], size: int, count: int) -> dict[str, float]:
        """The global batch's mean of each loss term (every process has the same terms)."""
        names = sorted(terms)
        values = np.array([terms[name] * size for name in names], dtype=np.float64)
        if len(values):
            self.communicator.allreduce(values)
        return {name: float(value / count) for name, value in zip(names, values, strict=True)}

    def _agree_to_stop(self) -> None:
        """In a distributed run every process stops after the same step: if any one stops (divergence,
        early stopping, a signal), all do, for its reason."""
        if self.communicator is None:
            return
        flags = np.array([self.should_stop, self.diverged, self.interrupt_signal or 0], dtype=np.float64)
        self.communicator.allreduce(flags, "max")
        if flags[0] and not self.should_stop:
            signal_number = int(flags[2])
            if flags[1]:
                self.stop("the loss diverged in another process", diverged=True)
            elif signal_number:
                self.interrupted, self.interrupt_signal = True, signal_number
                self.stop(f"interrupted ({STOP_SIGNALS[signal_number]}, in another process)")
            else:
                self.stop("stopped by another process")

    def _end_epoch(self, val_loader: Any) -> None:
        totals = self._epoch_totals
        count = max(totals["count"], 1)
        self.epoch += 1
        record: dict[str, Any] = {
            "epoch": self.epoch,
            "step": self.step,
            "lr": totals["lr"] if totals["lr"] is not None else self.lr,  # the rate of the epoch's last step
            "train_loss": totals["loss"] / count,
        }
        if totals["correct"] is not None:  # a detector counts no training accuracy
            record["train_accuracy"] = totals["correct"] / count
        record.update({f"train_{name}": value / count for name, value in totals["terms"].items()})
        started = time.perf_counter()
        if val_loader is not None:
            record.update(self.task.validation(self.evaluate(val_loader)))
        record["seconds"] = totals["seconds"] + time.perf_counter() - started
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            if needs_metric(self.scheduler):
                self.scheduler.step(record.get("val_loss", record["train_loss"]))
            else:
                self.scheduler.step()
        self.history.append(record)
        self._epoch_totals = self._fresh_totals()
        self.callbacks.on_epoch_end(self, record)

    @staticmethod
    def _fresh_totals() -> dict[str, Any]:
        return {"batches": 0, "loss": 0.0, "correct": 0, "count": 0, "seconds": 0.0, "lr": None, "terms": {}}

    def stop(self, reason: str, diverged: bool = False) -> None:
        """Ask the loop to stop after the current step (a callback's way to end the run)."""
        self.should_stop = True
        self.stop_reason = self.stop_reason or reason
        self.diverged = self.diverged or diverged

    @contextlib.contextmanager
    def _graceful_interrupt(self) -> Iterator[None]:
        """The first Ctrl-C or SIGTERM (what ``kill``, a job scheduler or a container stop sends) stops the
        run after the current step, a consistent state to checkpoint; a second one aborts at once."""
        self._interrupt_requested = None
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self._interrupt_requested:
                raise KeyboardInterrupt
            self._interrupt_requested = signum
            name = STOP_SIGNALS[signum]
            print(f"\nstopping after this step ({name}; {name} again to abort at once)", file=sys.stderr)

        previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
        try:
            yield
        finally:
            for number, action in previous.items():
                signal.signal(number, action)

    @property
    def lr(self) -> float:
        """The learning rate of the optimizer's first parameter group."""
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def batches_done(self) -> int:
        """Steps taken in the epoch under way (more than 0 at the start of a resumed epoch)."""
        return int(self._epoch_totals["batches"])

    @property
    def finished(self) -> bool:
        """True when the run has done all its epochs or was stopped for good (early stopping, divergence)."""
        return self.epoch >= self.max_epochs or (self.should_stop and not self.interrupted)

    # ----------------------------------------------------------------------------------------------
    # Measuring and using the model
    def evaluate(self, loader: Any, keep_predictions: bool = False) -> Any:
        """Loss, top-1/top-5 accuracy and the confusion matrix of the model (in eval mode) on ``loader``
        (a segmentation or localization task's own measures: ``ember.train.tasks``)."""
        return evaluate(self.model, loader, self.loss_fn, self.num_classes, keep_predictions, self.task)

    def predict(self, data: Any, batch_size: int = 256) -> Any:
        """Class scores (N x C) for a batch tensor, an array, or every batch of a loader, in eval mode."""
        return predict(self.model, data, batch_size)

    # ----------------------------------------------------------------------------------------------
    # State
    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint needs to continue this run exactly (see ``ember.train.checkpoint``)."""
        loader = self.train_loader
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "progress": {
                "epoch": self.epoch,
                "step": self.step,
                "epoch_totals": {**self._epoch_totals, "terms": dict(self._epoch_totals["terms"])},
                "history": [dict(record) for record in self.history],
                "stop_reason": self.stop_reason if not self.interrupted else None,
            },
            "loader": loader.state_dict() if loader is not None and hasattr(loader, "state_dict") else None,
            "callbacks": self.callbacks.state_dict(),
            "rng": {"ember": ember.random.get_rng_state(), "numpy": np.random.get_state()},  # noqa: NPY002
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; the loader's part is applied to the loader that ``fit`` receives."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        progress = state["progress"]
        self.epoch, self.step = int(progress["epoch"]), int(progress["step"])
        self._epoch_totals = {**self._fresh_totals(), **progress.get("epoch_totals", {})}
        self.history = [dict(record) for record in progress.get("history", [])]
        self.stop_reason = progress.get("stop_reason")
        self._loader_state = state.get("loader")
        self.callbacks.load_state_dict(state.get("callbacks", {}))
        rng = state.get("rng", {})
        if "ember" in rng:
            ember.random.set_rng_state(rng["ember"])
        if "numpy" in rng:
            np.random.set_state(rng["numpy"])  # noqa: NPY002 - the legacy global state, if a user draws from it


@contextlib.contextmanager
def _inference(model: Module) -> Iterator[None]:
    """Eval mode (dropout off, batch norm's running statistics) and no graph; the mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with no_grad(), quiet_floats():
            yield
    finally:
        model.train(was_training)


def evaluate(
    model: Module,
    loader: Any,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    num_classes: int | None = None,
    keep_predictions: bool = False,
    task: Any = None,
) -> Any:
    """Measure ``model`` on every (inputs, targets) batch of ``loader`` (cross-entropy loss by default):
    an ``EvaluationResult``, or what ``task`` measures (``ember.train.tasks``)."""
    if loss_fn is None:
        from ember.nn import CrossEntropyLoss

        loss_fn = CrossEntropyLoss()
    metrics: Any = None
    with _inference(model):
        for batch in loader:
            inputs, targets = _split_batch(batch)
            scores = model(inputs) if task is None else task.forward(model, inputs, targets)
            loss = loss_fn(scores, targets)
            if metrics is None:
                if task is None:
                    metrics = ClassificationMetrics(num_classes or scores.shape[1], keep_predictions)
                else:
                    metrics = task.metrics(num_classes or len(scores[0]), keep_predictions)
            metrics.update(scores, targets, float(loss.item()))
    if metrics is None:
        raise ValueError("evaluate: the loader yielded no batches")
    return metrics.compute()


def predict(model: Module, data: Any, batch_size: int = 256) -> Any:
    """Class scores (N x C) of ``model`` for a batch tensor, an array, or every batch of a loader (a model
    with several outputs, a localizer's scores and boxes: a tuple of them)."""
    outputs: list[Any] = []
    with _inference(model):
        if isinstance(data, Tensor | np.ndarray):
            array = data.array if isinstance(data, Tensor) else np.asarray(data, dtype=np.float32)
            for start in range(0, len(array), batch_size):
                outputs.append(model(from_numpy(array[start : start + batch_size])))
        else:
            for batch in data:
                outputs.append(model(batch[0] if isinstance(batch, list | tuple) else batch))
    if outputs and isinstance(outputs[0], list):  # a detector's: one dict of detections per image
        return [found for batch in outputs for found in batch]
    if outputs and isinstance(outputs[0], tuple):
        return tuple(
            from_numpy(np.concatenate([out[k].array for out in outputs])) for k in range(len(outputs[0]))
        )
    return from_numpy(np.concatenate([out.array for out in outputs]))
