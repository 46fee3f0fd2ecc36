"""A training run from start to report: what ``ember train`` and ``ember resume`` do.

``start(config)`` builds every piece of the run first (``ember.train.recipes``: data, model, optimizer,
schedule), so that a configuration that cannot run (a validation split larger than the data, options a
model does not take) is refused before anything is written; then it makes the run directory (new or
empty, locked: ``ember.train.rundir``), writes the resolved configuration, trains with the standard
callbacks and finishes: the best checkpoint (by validation accuracy) is measured on the test split and the
report is written. ``resume(directory)`` continues the run in a directory from ``checkpoints/
last.safetensors``, bit for bit; what it accepts as changed and how it extends a run to more epochs is in
``ember.train.resuming``.

A run directory::

    config.yaml          every setting the run used (run it again with ember train --config)
    metrics.csv .jsonl   per epoch: training and validation loss and accuracy, learning rate, time
    steps.csv            per step: loss, batch accuracy, learning rate, images per second
    checkpoints/         last.safetensors (to resume), best.safetensors (the model to keep)
    snapshots/           --snapshots N: the model at each learning-rate cycle's end (a snapshot ensemble)
    summary.json         the test split's loss, top-1, top-5, per-class accuracy, confusion matrix
    report/              index.html and the PNG plots
    resumes.jsonl        one line per ember resume: when, from where, the settings changed
    lr_find.json         --lr auto: the range test's curve, candidates and verification runs
    monitor.jsonl        --monitor: per epoch, each layer's statistics (ember.train.doctor.Monitor)
    .lock                the lock of the process writing the run (see ember.train.rundir)

Every file written whole is written atomically (``ember.atomic``); a full disk or a read-only directory
stops the run with one message naming the file, and the last checkpoint is left intact to resume from.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ember
from ember.atomic import WriteError, atomic_write
from ember.train import distributed, memory, recipes, resuming, rundir
from ember.train.callbacks import (
    DivergenceGuard,
    EarlyStopping,
    MetricLogger,
    ModelCheckpoint,
    ProgressBar,
    SnapshotEnsemble,
)
from ember.train.callbacks.base import Callback
from ember.train.callbacks.checkpoint import LAST
from ember.train.callbacks.progress import duration
from ember.train.checkpoint import CheckpointError, load_checkpoint, read_metadata, require_safetensors
from ember.train.config import ConfigError, TrainConfig, dump_config, load_config_file, resolve_config
from ember.train.ensemble import measure_snapshots
from ember.train.metrics import EvaluationResult
from ember.train.recipes import load_trained
from ember.train.rundir import CONFIG_FILE, RunDirectoryError
from ember.train.tasks import TASKS
from ember.train.trainer import Trainer

SUMMARY_FILE = "summary.json"
SNAPSHOTS = "snapshots"  # snapshot-NN.safetensors at each learning-rate cycle's end (config.snapshots)
LR_FIND_FILE = "lr_find.json"  # the range test that chose the rate (ember train --lr auto)


def _stdout(message: str) -> None:
    print(message, file=sys.stdout, flush=True)


def _silent(message: str) -> None:
    pass


@dataclass
class RunResult:
    directory: Path
    config: TrainConfig
    history: list[dict[str, Any]]
    test: EvaluationResult | None
    best_epoch: int | None
    stop_reason: str | None
    diverged: bool
    interrupted: bool
    seconds: float
    report: Path | None
    signal: int | None = None  # the signal that interrupted the run (SIGINT, SIGTERM)

    @property
    def finished(self) -> bool:
        return not (self.diverged or self.interrupted)


@dataclass
class RunPieces:
    """Everything a run is built from, made (and so checked) before the run directory is touched."""

    data: recipes.RunData
    train_loader: Any
    val_loader: Any
    test_loader: Any
    model: Any
    optimizer: Any
    scheduler: Any
    world: Any = None  # the processes of a distributed run (ember.train.distributed)

    @property
    def lead(self) -> bool:
        """Whether this process writes the run (rank 0, or the only process)."""
        return self.world is None or self.world.rank == 0


def checkpoint_metadata(config: TrainConfig, data: recipes.RunData) -> dict[str, Any]:
    """What eval and predict need to rebuild the model and its input pipeline from a checkpoint alone."""
    return {
        "config": config.to_dict(),
        "classes": data.classes,
        "input_size": list(data.input_size),
        "ember_version": ember.__version__,
    }


def _count_parameters(model: Any) -> int:
    return sum(int(p.array.size) for p in model.parameters())


def build(config: TrainConfig, can_download: bool = False) -> RunPieces:
    """Load the data and build the model, optimizer and schedule: every check that needs the data or the
    zoo happens here, before a run directory exists."""
    require_safetensors()
    ember.manual_seed(config.seed)
    data = recipes.load_data(config, can_download=can_download)
    train_loader, val_loader, test_loader = recipes.loaders(config, data)
    if config.early_stopping and val_loader is None:
        raise ConfigError([("early_stopping", "needs a validation split (val_size > 0)")])
    world = distributed.process_group()
    if world.size > 1:  # mpirun -np N: this process's shard of each global batch
        distributed.check(config, world)
        train_loader = distributed.train_loader(config, data.train, world)
    model = recipes.build_model(config, len(data.classes), data.info.channels, data.input_size[1])
    if config.finetune.init_from:
        recipes.load_pretrained(config, model)
    memory.check_training(config, model)  # refuse what this machine cannot hold, before the directory
    optimizer = recipes.build_optimizer(config, model)
    scheduler = recipes.build_scheduler(config, optimizer, len(train_loader))
    model = distributed.parallel(model, world)
    return RunPieces(data, train_loader, val_loader, test_loader, model, optimizer, scheduler, world)


def execute(
    config: TrainConfig,
    pieces: RunPieces,
    directory: Path,
    resume_state: dict[str, Any] | None = None,
    echo: Callable[[str], None] = _stdout,
    progress: ProgressBar | None = None,
    note: str | None = None,
    resume_note: str | None = None,
    extra_callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train (from scratch, or from ``resume_state``) in ``directory`` and finish (test, summary, report).

    ``extra_callbacks`` join the standard ones (a search trial's pruning callback, for one)."""
    started = time.perf_counter()
    data = pieces.data
    task = TASKS[config.task]
    checkpoints = ModelCheckpoint(
        directory / "checkpoints",
        monitor=task.monitor if pieces.val_loader is not None else None,
        every_n_steps=config.checkpoint_every,
        metadata=checkpoint_metadata(config, data),
    )
    callbacks: list[Any] = [DivergenceGuard()]
    if pieces.lead:  # in a distributed run the other processes train silently
        progress = progress or ProgressBar()
        callbacks += [progress, MetricLogger(directory), checkpoints]
        if config.monitor:
            from ember.train.doctor import Monitor

            callbacks.append(Monitor(directory, echo=progress.write))
    else:
        echo = _silent
    if config.early_stopping:
        callbacks.append(EarlyStopping(task.monitor, patience=config.early_stopping))
    callbacks.extend(extra_callbacks)
    snapshots = None
    if config.snapshots and pieces.lead:  # written by the lead process only
        snapshots = SnapshotEnsemble(directory / SNAPSHOTS, metadata=checkpoint_metadata(config, data))
        callbacks.append(snapshots)
    trainer = Trainer(
        pieces.model,
        pieces.optimizer,
        recipes.build_loss(config),
        scheduler=pieces.scheduler,
        scheduler_interval=config.schedule.interval or "epoch",
        regularization=recipes.build_regularization(config),
        callbacks=callbacks,
        num_classes=len(data.classes),
        communicator=pieces.world,
        task=task,
    )
    held_out = len(data.val) if data.val is not None else 0
    splits = f"{len(data.train)} train / {held_out} val / {len(data.test)} test"
    echo(f"run directory: {directory}" + (f" ({note})" if note else ""))
    echo(f"data: {config.dataset}, {splits}, augmentation: {', '.join(config.augment)}")
    shape = recipes.describe_input(config, data.info, data.input_size)
    echo(f"model: {config.model}, {_count_parameters(pieces.model):,} parameters, {shape}")
    echo(describe_optimization(config))
    if pieces.world is not None and pieces.world.size > 1:
        size = pieces.world.size
        echo(f"processes: {size} (mpirun), {config.batch_size // size} images of each batch in each")
    if resume_state is not None:
        trainer.load_state_dict(resume_state)
        echo(f"resuming from {checkpoints.last_path} (epoch {trainer.epoch}, step {trainer.step})")
        if resume_note:
            echo(resume_note)
    trainer.fit(pieces.train_loader, pieces.val_loader, epochs=config.total_epochs)
    result = RunResult(
        directory=directory,
        config=config,
        history=trainer.history,
        test=None,
        best_epoch=checkpoints.best_epoch or None,
        stop_reason=trainer.stop_reason,
        diverged=trainer.diverged,
        interrupted=trainer.interrupted,
        seconds=time.perf_counter() - started,
        report=None,
        signal=trainer.interrupt_signal,
    )
    if not pieces.lead:
        return result  # rank 0 measures the model and writes the report
    if trainer.diverged:  # the progress callback has printed the diagnosis
        last = checkpoints.last_path
        echo(f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved before it")
        return result
    if trainer.interrupted:
        echo(f"continue with 'ember resume {directory}'")
        return result
    return finish(result, trainer, data, pieces.test_loader, checkpoints, echo, started, snapshots)


def describe_optimization(config: TrainConfig) -> str:
    opt = config.optimizer
    parts = [f"optimizer: {opt.name} lr {opt.lr:g}"]
    if opt.momentum:
        parts.append(f"momentum {opt.momentum:g}" + (" (Nesterov)" if opt.nesterov else ""))
    if opt.weight_decay:
        parts.append(f"weight decay {opt.weight_decay:g}")
    schedule = f"schedule: {config.schedule.name} per {config.schedule.interval}"
    if config.schedule.warmup_epochs:
        schedule += f" after {config.schedule.warmup_epochs} warm-up epochs"
    penalty = config.regularization
    extra = [f"L1 {penalty.l1:g}" if penalty.l1 else "", f"L2 {penalty.l2:g}" if penalty.l2 else ""]
    extra = [item for item in extra if item]
    tune = config.finetune
    if tune.init_from:
        schedule += (
            f"; fine-tuning ({tune.strategy}) from {tune.init_from}, pretrained layers at "
            f"{tune.backbone_lr:g} x lr"
        )
    return (
        ", ".join(parts)
        + f"; {schedule}; batch {config.batch_size}, {config.epochs} epochs"
        + ("; penalty " + " ".join(extra) if extra else "")
    )


def finish(
    result: RunResult,
    trainer: Trainer,
    data: recipes.RunData,
    test_loader: Any,
    checkpoints: ModelCheckpoint,
    echo: Callable[[str], None],
    started: float,
    snapshots: SnapshotEnsemble | None = None,
) -> RunResult:
    """Measure the best model on the test split (and the snapshot ensemble), write summary.json and the
    report."""
    chosen = checkpoints.best_path if checkpoints.best_path.exists() else checkpoints.last_path
    if chosen.exists():
        trainer.model.load_state_dict(load_checkpoint(chosen)["model"])
    test = trainer.evaluate(test_loader, keep_predictions=True)
    result.test = test
    result.seconds = time.perf_counter() - started
    summary = {
        "dataset": result.config.dataset,
        "model": result.config.model,
        "epochs": trainer.epoch,
        "best_epoch": result.best_epoch,
        "checkpoint": chosen.relative_to(result.directory).as_posix(),
        "stop_reason": result.stop_reason,
        "seconds": round(result.seconds, 1),
    }
    if snapshots is not None and snapshots.paths:
        summary["snapshot_ensemble"] = measure_snapshots(result.config, data, test_loader, snapshots, echo)
    task = trainer.task
    if result.config.task != "classify":
        summary["task"] = result.config.task
    write_summary(result.directory, summary, task.summary(test, data.classes))
    which = f"best epoch {result.best_epoch}" if result.best_epoch else f"epoch {trainer.epoch}"
    echo(f"{task.describe(test)}, {which}, {duration(result.seconds)}")
    if result.config.report:
        try:
            from ember.train.report import write_report

            result.report = write_report(
                result.directory, test=test, images=data.test_images, classes=data.classes
            )
            echo(f"report: {result.report}")
        except ImportError as error:
            echo(f"no report ({error}): pip install 'ember[train]' for matplotlib")
    return result


def write_summary(directory: Path, summary: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    """``summary.json``: the run's facts and its test-split measures (written atomically)."""
    summary = {**summary, "test": test}
    atomic_write(directory / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    return summary


@contextlib.contextmanager
def stops_cleanly(directory: Path, command: str) -> Iterator[None]:
    """A refused write (full disk, read-only folder) ends ``command`` with one message: which file, what
    happened, what to do, and what is intact (every file written whole is atomic, so all of them are)."""
    try:
        yield
    except WriteError as error:
        reporting = error.path == directory / SUMMARY_FILE or directory / "report" in error.path.parents
        if command == "report" or reporting:  # the run has finished: only its report is missing
            then = f"then run 'ember report {directory}' again (the files already there are intact)"
        else:
            then = "then start the run again (it had saved no checkpoint)"
            last = directory / "checkpoints" / LAST
            with contextlib.suppress(CheckpointError):
                saved = read_metadata(last)
                then = (
                    f"then continue with 'ember resume {directory}' (nothing was half-written: "
                    f"{last} is intact, epoch {saved.get('epoch')}, step {saved.get('step')})"
                )
        raise WriteError(error.path, error, advice=f"{error.advice}, {then}") from error


def rewrite_report(directory: str | Path, data_root: str | None = None) -> Path:
    """Evaluate the run's best checkpoint on the test split again and rewrite summary.json and report/."""
    from ember.data import DataLoader
    from ember.train.report import write_report
    from ember.train.trainer import evaluate

    directory = rundir.existing(directory)
    with rundir.RunLock.acquire(directory), stops_cleanly(directory, "report"):
        config, model, metadata, path = load_trained(directory)
        if data_root:
            config.data_root = data_root
        data = recipes.load_data(config)
        task = TASKS[config.task]
        loader = DataLoader(
            data.test, batch_size=recipes.eval_images(data.input_size), collate_fn=task.collate_fn()
        )
        test = evaluate(model, loader, recipes.build_loss(config), len(data.classes), True, task)
        summary_path = directory / SUMMARY_FILE
        previous = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        facts = {key: value for key, value in previous.items() if key != "test"}
        chosen = path.relative_to(directory).as_posix()
        facts.update(dataset=config.dataset, model=config.model, checkpoint=chosen)
        if config.task != "classify":
            facts["task"] = config.task
        facts.setdefault("epochs", metadata.get("epoch"))
        write_summary(directory, facts, task.summary(test, data.classes))
        return write_report(directory, test=test, images=data.test_images, classes=data.classes)


# ----------------------------------------------------------------------------------------------------------
# Entry points
def absolute(path: str | None) -> str | None:
    """A data folder as an absolute path, so a checkpoint finds its data from any working directory."""
    return os.path.abspath(os.path.expanduser(path)) if path else path


def start(config: TrainConfig, echo: Callable[[str], None] = _stdout, **options: Any) -> RunResult:
    """A new run of ``config`` in a new run directory (made only once every piece of the run is built)."""
    config.data_root = absolute(config.data_root)
    pieces = build(config, can_download=True)
    if not pieces.lead:  # rank 0 makes and writes the run directory
        return execute(config, pieces, Path(config.output), echo=echo, **options)
    found = None
    if config.lr_finder:  # --lr auto: the range test chooses the rate, config.yaml records the choice
        from ember.train.doctor.runner import choose_learning_rate

        found = choose_learning_rate(config, pieces, echo)
    directory, lock, note = rundir.create(config)
    with lock, stops_cleanly(directory, "train"):
        dump_config(config, directory / CONFIG_FILE)
        if found is not None:
            atomic_write(directory / LR_FIND_FILE, json.dumps(found.to_dict(), indent=2) + "\n")
        return execute(config, pieces, directory, echo=echo, note=note, **options)


def resume(
    directory: str | Path,
    epochs: int | None = None,
    data_root: str | None = None,
    echo: Callable[[str], None] = _stdout,
    **options: Any,
) -> RunResult:
    """Continue the run in ``directory`` from its last checkpoint (to ``epochs`` in all, if given).

    Refused, with the reason and what to do: a run in use by another process, a ``config.yaml`` changed in
    a field other than ``ember.train.resuming.OVERRIDABLE``, a finished run without more ``epochs``.
    """
    directory = rundir.existing(directory)
    lead = distributed.process_group().rank == 0  # rank 0 locks and writes; every rank reads
    lock = rundir.RunLock.acquire(directory) if lead else contextlib.nullcontext()
    with lock, stops_cleanly(directory, "resume"):
        config_path = directory / CONFIG_FILE
        config = resolve_config(load_config_file(config_path), str(config_path))
        if epochs is not None:
            config.epochs = epochs
        config.data_root = absolute(data_root) or config.data_root
        last = directory / "checkpoints" / LAST
        if not last.exists():
            raise RunDirectoryError(
                f"{last}: no checkpoint to resume from (the run stopped before its first save): start a "
                f"new run with its settings: ember train --config {config_path} --name NEW-NAME"
            )
        changes = resuming.check_changes(directory, read_metadata(last).get("config"), config)
        state = load_checkpoint(last)
        done, step = int(state["progress"]["epoch"]), int(state["progress"]["step"])
        extend = "epochs" in changes
        if config.total_epochs < done:
            raise RunDirectoryError(f"epochs {config.epochs}: the run has already done {done} epochs")
        stopped = state["progress"].get("stop_reason")
        if stopped and not extend:
            raise RunDirectoryError(f"{directory} finished ({stopped}): pass --epochs N to train it further")
        if done >= config.total_epochs and not extend:
            raise RunDirectoryError(
                f"{directory} has done its {done} epochs: pass --epochs N (more than {done}) to train "
                "it further"
            )
        pieces = build(config)
        note = None
        if extend:
            before = float(state["optimizer"]["param_groups"][0]["lr"])
            state = resuming.relay_schedule(pieces.scheduler, pieces.optimizer, state)
            after = float(state["optimizer"]["param_groups"][0]["lr"])
            note = (
                f"epochs {changes['epochs'][0]} -> {config.epochs}: the {config.schedule.name} schedule is "
                f"laid over {config.epochs} epochs; from step {step} the learning rate is the one a "
                f"{config.epochs}-epoch run has there: {after:.4g} (it was {before:.4g})"
            )
        if lead:
            dump_config(config, config_path)
            resuming.record_resume(directory, done, step, changes)
        return execute(config, pieces, directory, resume_state=state, echo=echo, resume_note=note, **options)
