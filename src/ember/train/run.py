"""A training run from start to report: what ``ember train`` and ``ember resume`` do.

``start(config)`` makes the run directory, writes the resolved configuration, builds the pieces
(``ember.train.recipes``), trains with the standard callbacks and finishes: the best checkpoint (by
validation accuracy) is measured on the test split and the report is written. ``resume(directory)`` reads
the directory's configuration and ``checkpoints/last.safetensors`` and continues the same run, bit for bit.

A run directory::

    config.yaml          every setting the run used (run it again with ember train --config)
    metrics.csv .jsonl   per epoch: training and validation loss and accuracy, learning rate, time
    steps.csv            per step: loss, batch accuracy, learning rate, images per second
    checkpoints/         last.safetensors (to resume), best.safetensors (the model to keep)
    summary.json         the test split's loss, top-1, top-5, per-class accuracy, confusion matrix
    report/              index.html and the PNG plots
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ember
from ember.train import recipes
from ember.train.callbacks import DivergenceGuard, EarlyStopping, MetricLogger, ModelCheckpoint, ProgressBar
from ember.train.callbacks.checkpoint import BEST, LAST
from ember.train.checkpoint import CheckpointError, load_checkpoint, read_metadata, require_safetensors
from ember.train.config import ConfigError, TrainConfig, dump_config, load_config_file, resolve_config
from ember.train.metrics import EvaluationResult
from ember.train.trainer import Trainer

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"


def _stdout(message: str) -> None:
    print(message, file=sys.stdout, flush=True)


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

    @property
    def finished(self) -> bool:
        return not (self.diverged or self.interrupted)


def new_directory(config: TrainConfig) -> Path:
    """``output/name`` (default name: dataset-model-date-time); refuses to overwrite a run that saved."""
    name = config.name or f"{config.dataset}-{config.model}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    directory = Path(config.output) / name
    if (directory / "checkpoints" / LAST).exists():
        raise ConfigError(
            [
                (
                    "name",
                    f"{directory} already holds a run: continue it with 'ember resume {directory}' "
                    "or choose another --name",
                )
            ]
        )
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def checkpoint_metadata(config: TrainConfig, data: recipes.RunData) -> dict[str, Any]:
    """What eval and predict need to rebuild the model and its input pipeline from a checkpoint alone."""
    return {
        "config": config.to_dict(),
        "classes": data.classes,
        "input_size": list(data.input_size),
        "ember_version": ember.__version__,
    }


def _count_parameters(model: Any) -> int:
    return sum(int(p.data.size) for p in model.parameters())


def _adjust_schedule_state(trainer: Trainer, state: dict[str, Any]) -> None:
    """Extending a run (more epochs): keep the schedule's position but the new schedule's length."""
    if trainer.scheduler is None or state.get("scheduler") is None:
        return
    fresh = trainer.scheduler.state_dict()
    position = ("last_epoch", "_step_count", "_last_lr", "_get_lr_called_within_step", "last_epoch_")
    state["scheduler"] = {**fresh, **{k: v for k, v in state["scheduler"].items() if k in position}}


def execute(
    config: TrainConfig,
    directory: Path,
    resume_from: Path | None = None,
    resume_state: dict[str, Any] | None = None,
    extend: bool = False,
    echo: Callable[[str], None] = _stdout,
    progress: ProgressBar | None = None,
) -> RunResult:
    """Build the run's pieces, train (from scratch or from a checkpoint), finish (test, summary, report)."""
    started = time.perf_counter()
    require_safetensors()
    ember.manual_seed(config.seed)
    data = recipes.load_data(config)
    train_loader, val_loader, test_loader = recipes.loaders(config, data)
    model = recipes.build_model(config, len(data.classes), data.info.channels, data.input_size[1])
    optimizer = recipes.build_optimizer(config, model)
    scheduler = recipes.build_scheduler(config, optimizer, len(train_loader))
    checkpoints = ModelCheckpoint(
        directory / "checkpoints",
        monitor="val_accuracy" if val_loader is not None else None,
        every_n_steps=config.checkpoint_every,
        metadata=checkpoint_metadata(config, data),
    )
    callbacks: list[Any] = [
        DivergenceGuard(),
        progress or ProgressBar(),
        MetricLogger(directory),
        checkpoints,
    ]
    if config.early_stopping:
        if val_loader is None:
            raise ConfigError([("early_stopping", "needs a validation split (val_size > 0)")])
        callbacks.append(EarlyStopping("val_accuracy", patience=config.early_stopping))
    trainer = Trainer(
        model,
        optimizer,
        recipes.build_loss(config),
        scheduler=scheduler,
        scheduler_interval=config.schedule.interval or "epoch",
        regularization=recipes.build_regularization(config),
        callbacks=callbacks,
        num_classes=len(data.classes),
    )
    held_out = len(data.val) if data.val is not None else 0
    splits = f"{len(data.train)} train / {held_out} val / {len(data.test)} test"
    echo(f"run directory: {directory}")
    echo(f"data: {config.dataset}, {splits}, augmentation: {', '.join(config.augment)}")
    shape = recipes.describe_input(config, data.info, data.input_size)
    echo(f"model: {config.model}, {_count_parameters(model):,} parameters, {shape}")
    echo(describe_optimization(config))
    if resume_from is not None:
        state = resume_state if resume_state is not None else load_checkpoint(resume_from)
        if extend:
            _adjust_schedule_state(trainer, state)
        trainer.load_state_dict(state)
        echo(f"resuming from {resume_from} (epoch {trainer.epoch}, step {trainer.step})")
    trainer.fit(train_loader, val_loader, epochs=config.total_epochs)
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
    )
    if trainer.diverged:
        last = checkpoints.last_path
        kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved before it"
        echo(f"{trainer.stop_reason}\n{kept}")
        return result
    if trainer.interrupted:
        echo(f"interrupted: continue with 'ember resume {directory}'")
        return result
    return finish(result, trainer, data, test_loader, checkpoints, echo, started)


def duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


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
) -> RunResult:
    """Measure the best model on the test split, write summary.json and the report."""
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
        "checkpoint": str(chosen),
        "stop_reason": result.stop_reason,
        "seconds": round(result.seconds, 1),
    }
    write_summary(result.directory, summary, test, data.classes)
    which = f"best epoch {result.best_epoch}" if result.best_epoch else f"epoch {trainer.epoch}"
    echo(
        f"test accuracy {100 * test.accuracy:.2f}% (top-5 {100 * test.top5:.2f}%, loss {test.loss:.4f}) "
        f"on {test.count} test images, {which}, {duration(result.seconds)}"
    )
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


def write_summary(
    directory: Path, summary: dict[str, Any], test: EvaluationResult, classes: list[str]
) -> dict[str, Any]:
    """``summary.json``: the run's facts and its test-split measures."""
    summary = {
        **summary,
        "test": {
            "loss": test.loss,
            "accuracy": test.accuracy,
            "top5": test.top5,
            "count": test.count,
            "per_class_accuracy": dict(zip(classes, map(float, test.per_class_accuracy), strict=True)),
            "confusion_matrix": test.confusion.tolist(),
        },
    }
    (directory / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def rewrite_report(directory: Path, data_root: str | None = None) -> Path:
    """Evaluate the run's best checkpoint on the test split again and rewrite summary.json and report/."""
    from ember.data import DataLoader
    from ember.train.report import write_report
    from ember.train.trainer import evaluate

    config, model, metadata, path = load_trained(directory)
    if data_root:
        config.data_root = data_root
    data = recipes.load_data(config)
    test = evaluate(
        model, DataLoader(data.test, batch_size=500), recipes.build_loss(config), len(data.classes), True
    )
    summary_path = directory / SUMMARY_FILE
    previous = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    facts = {key: value for key, value in previous.items() if key != "test"}
    facts.update(dataset=config.dataset, model=config.model, checkpoint=str(path))
    facts.setdefault("epochs", metadata.get("epoch"))
    write_summary(directory, facts, test, data.classes)
    return write_report(directory, test=test, images=data.test_images, classes=data.classes)


# ----------------------------------------------------------------------------------------------------------
# Entry points
def start(config: TrainConfig, echo: Callable[[str], None] = _stdout, **options: Any) -> RunResult:
    """A new run of ``config`` in a new run directory."""
    require_safetensors()
    directory = new_directory(config)
    dump_config(config, directory / CONFIG_FILE)
    return execute(config, directory, echo=echo, **options)


def resume(
    directory: str | Path,
    epochs: int | None = None,
    echo: Callable[[str], None] = _stdout,
    **options: Any,
) -> RunResult:
    """Continue the run in ``directory`` from its last checkpoint (to ``epochs`` in all, if given)."""
    directory = Path(directory)
    if directory.is_file():  # a checkpoint inside a run directory
        directory = directory.parent.parent
    config_path = directory / CONFIG_FILE
    if not config_path.exists():
        raise ConfigError([("", f"{directory} is not a run directory (no {CONFIG_FILE})")])
    config = resolve_config(load_config_file(config_path), str(config_path))
    last = directory / "checkpoints" / LAST
    if not last.exists():
        raise CheckpointError(f"{last}: no checkpoint to resume from (the run stopped before its first save)")
    state = load_checkpoint(last)
    done, state_reason = int(state["progress"]["epoch"]), state["progress"].get("stop_reason")
    extend = epochs is not None and epochs != config.epochs
    if epochs is not None:
        if epochs < done:
            raise ConfigError([("epochs", f"the run has already done {done} epochs")])
        config.epochs = epochs
        dump_config(config, config_path)
    if state_reason and not extend:
        raise ConfigError([("", f"{directory} finished ({state_reason}); pass --epochs to train it further")])
    if done >= config.total_epochs and not extend:
        raise ConfigError(
            [("", f"{directory} has done its {config.epochs} epochs; pass --epochs to train it further")]
        )
    return execute(
        config, directory, resume_from=last, resume_state=state, extend=extend, echo=echo, **options
    )


def checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file, or a run directory's best checkpoint (its last if there is no best)."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / "checkpoints" / BEST, path / "checkpoints" / LAST, path / BEST, path / LAST):
            if candidate.exists():
                return candidate
        raise CheckpointError(
            f"{path}: no checkpoint in this folder (looked for checkpoints/{BEST} and {LAST})"
        )
    return path


def load_trained(path: str | Path) -> tuple[TrainConfig, Any, dict[str, Any], Path]:
    """(config, model with the checkpoint's weights in eval mode, checkpoint metadata, checkpoint path)."""
    path = checkpoint_path(path)
    metadata = read_metadata(path)
    if "config" not in metadata or "classes" not in metadata:
        raise CheckpointError(f"{path}: a checkpoint without its run's configuration (saved by hand?)")
    config = resolve_config(metadata["config"], f"{path} (metadata)")
    channels, side = int(metadata["input_size"][0]), int(metadata["input_size"][1])
    model = recipes.build_model(config, len(metadata["classes"]), channels, side)
    model.load_state_dict(load_checkpoint(path)["model"])
    model.eval()
    return config, model, metadata, path
