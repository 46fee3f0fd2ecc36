"""``doctor(config, pieces=...)``: the whole checklist on what a configuration describes.

What ``ember doctor`` runs. The pieces are built as ``ember train`` builds them (``ember.train.run.build``:
the same model, initialization, optimizer, loaders and penalty), but no run directory is made and no
model is trained for keeps: every check puts everything back. The checks run in the lectures' order:

1. ``initial-loss``    check the initial loss with no regularization
2. ``regularization``  increase regularization, loss should increase
3. ``overfit``         check you can overfit a small portion of the data (with a label-shuffle control)
4. ``lr-find``         find the learning rate that makes the loss go down (range test, verified)
5. ``layers``          activation and gradient statistics, update/weight ratios

The findings are printed as they come, and written with their pictures to a report folder:
``findings.json``, the PNGs and ``index.html`` (``ember.train.doctor.page``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ember
from ember.atomic import atomic_write
from ember.errors import EmberError
from ember.train import recipes
from ember.train.callbacks.progress import duration
from ember.train.config import TrainConfig
from ember.train.doctor.checks import check_initial_loss, check_regularization
from ember.train.doctor.findings import Finding
from ember.train.doctor.overfit import overfit_small_sample
from ember.train.doctor.range_test import RangeTest, lr_find
from ember.train.doctor.statistics import LayerReport, layer_statistics

CHECKS = ("initial-loss", "regularization", "overfit", "lr-find", "layers")
FINDINGS_FILE = "findings.json"


@dataclass
class DoctorOptions:
    """The checks' budgets (the defaults take about a minute on the default CNN, 2 cores)."""

    batches: int = 4  # initial loss and regularization: batches measured
    overfit_size: int = 50
    overfit_steps: int = 150
    held_out: int = 500
    lr_iterations: int = 100
    verify_steps: int = 40
    val_batches: int = 2
    statistics_batches: int = 3


@dataclass
class DoctorReport:
    """The findings in order, how long each check took, and where the report was written."""

    config: TrainConfig
    findings: list[Finding] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    directory: Path | None = None
    page: Path | None = None

    @property
    def ok(self) -> bool:
        return all(finding.ok for finding in self.findings)

    @property
    def flagged(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.ok]

    def get(self, check: str) -> Finding | None:
        return next((finding for finding in self.findings if finding.check == check), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "model": self.config.model,
            "dataset": self.config.dataset,
            "seconds": {key: round(value, 2) for key, value in self.seconds.items()},
            "findings": [finding.to_dict() for finding in self.findings],
        }


def _stdout(message: str) -> None:
    print(message, file=sys.stdout, flush=True)


def doctor(
    config: TrainConfig,
    checks: Sequence[str] = CHECKS,
    directory: str | Path | None = None,
    echo: Callable[[str], None] = _stdout,
    options: DoctorOptions | None = None,
    *,
    pieces: Any,
) -> DoctorReport:
    """Run ``checks`` on what ``config`` describes; write the report into ``directory`` if given.

    ``pieces`` are the run's model, optimizer and loaders as ``ember.train.run.build(config)`` makes them
    (the caller builds them: the doctor sits below the run, which uses its range test for ``--lr auto``).
    """
    from ember.data import DataLoader

    options = options or DoctorOptions()
    unknown = [name for name in checks if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}")
    started = time.perf_counter()
    report = DoctorReport(config)
    loss_fn, penalty = recipes.build_loss(config), recipes.build_regularization(config)
    model, optimizer, loader, data = pieces.model, pieces.optimizer, pieces.train_loader, pieces.data
    classes = len(data.classes)
    plain = DataLoader(  # the training images without augmentation, for the small sample
        data.train_eval, batch_size=config.batch_size, shuffle=True, generator=ember.Generator(config.seed)
    )
    parameters = sum(int(p.array.size) for p in model.parameters())
    echo(
        f"doctor: {config.model} ({parameters:,} parameters) on {config.dataset} ({len(data.train)} training "
        f"images), {config.optimizer.name} lr {config.optimizer.lr:g}, batch {config.batch_size}"
    )
    runs: dict[str, Callable[[], Finding]] = {
        "initial-loss": lambda: check_initial_loss(model, loader, loss_fn, classes, batches=options.batches),
        "regularization": lambda: check_regularization(
            model, loader, loss_fn, penalty, config.optimizer.weight_decay or 0.0, batches=options.batches
        ),
        "overfit": lambda: overfit_small_sample(
            model,
            plain,
            optimizer,
            loss_fn,
            size=options.overfit_size,
            max_steps=options.overfit_steps,
            held_out=options.held_out,
        ),
        "lr-find": lambda: lr_find(
            model,
            loader,
            optimizer,
            loss_fn,
            num_iter=options.lr_iterations,
            verify=options.verify_steps,
            val_loader=pieces.val_loader or plain,
            val_batches=options.val_batches,
            penalty=penalty,
        ),
        "layers": lambda: layer_statistics(
            model, loader, loss_fn, optimizer, batches=options.statistics_batches, penalty=penalty
        ),
    }
    for number, name in enumerate([name for name in CHECKS if name in checks], 1):
        tick = time.perf_counter()
        finding = runs[name]()
        report.seconds[name] = time.perf_counter() - tick
        report.findings.append(finding)
        first, *causes = str(finding).splitlines()
        echo("\n".join([f"[{number}/{len(checks)}] {first}  ({duration(report.seconds[name])})", *causes]))
    report.seconds["total"] = time.perf_counter() - started
    if directory is not None:
        write_doctor_report(report, Path(directory))
    return report


class NoLearningRate(EmberError, RuntimeError):
    """``--lr auto``: the range test found no rate at which the loss goes down."""


def choose_learning_rate(
    config: TrainConfig,
    pieces: Any,
    echo: Callable[[str], None] = _stdout,
    options: DoctorOptions | None = None,
) -> RangeTest:
    """``ember train --lr auto``: run the range test on the run's pieces, verify its suggestion, and set
    ``config.optimizer.lr`` to the rate that trained best; the optimizer and schedule are rebuilt for it.

    Everything the test touched is restored first, so the run that follows is the run ``--lr RATE``
    would make (``config.yaml`` records the rate, and ``lr_finder`` false, to repeat it as it was).
    """
    options = options or DoctorOptions()
    echo(
        f"lr auto: the range test from 1e-07 to 10 ({options.lr_iterations} steps at most), then "
        f"{options.verify_steps} steps at 1/10x, 1x and 10x its suggestion"
    )
    found = lr_find(
        pieces.model,
        pieces.train_loader,
        pieces.optimizer,
        recipes.build_loss(config),
        num_iter=options.lr_iterations,
        verify=options.verify_steps,
        val_loader=pieces.val_loader,
        val_batches=options.val_batches,
        penalty=recipes.build_regularization(config),
    )
    chosen = found.verified_lr
    if chosen is None:
        raise NoLearningRate(f"--lr auto: {found.message}; {'; '.join(found.causes)}")
    config.optimizer.lr, config.lr_finder = chosen, False
    pieces.optimizer = recipes.build_optimizer(config, pieces.model)
    pieces.scheduler = recipes.build_scheduler(config, pieces.optimizer, len(pieces.train_loader))
    echo(f"lr auto: {found.message}; training at lr {chosen:g}")
    return found


def write_doctor_report(report: DoctorReport, directory: Path) -> Path:
    """``findings.json`` always; the PNGs and ``index.html`` if matplotlib is installed."""
    directory.mkdir(parents=True, exist_ok=True)
    report.directory = directory
    atomic_write(directory / FINDINGS_FILE, json.dumps(report.to_dict(), indent=2) + "\n")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return directory / FINDINGS_FILE
    from ember.train.doctor import plots
    from ember.train.doctor.page import render_doctor_page

    pictures: dict[str, Path] = {}
    for finding in report.findings:
        if isinstance(finding, RangeTest) and finding.lrs:
            pictures[finding.check] = directory / "lr_find.png"
            plots.plot_range_test(finding, pictures[finding.check])
        elif isinstance(finding, LayerReport) and finding.layers:
            pictures[finding.check] = directory / "layer_statistics.png"
            plots.plot_layer_statistics(finding, pictures[finding.check])
        elif finding.check == "overfit a small sample" and "losses" in finding.numbers:
            pictures[finding.check] = directory / "overfit.png"
            plots.plot_overfit(finding, pictures[finding.check])
    report.page = atomic_write(directory / "index.html", render_doctor_page(report, pictures))
    return report.page
