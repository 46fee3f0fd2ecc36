"""Model ensembles: train several models, average their predictions at test time.

The lecture's rule ("Model Ensembles": train multiple independent models, at test time average their
results, take the argmax; enjoy about 2% extra performance) is ``Ensemble(models)``. Its output is the
*log* of the combined class distribution, so everything that takes class scores works on it unchanged:
the argmax is the ensemble's prediction, ``softmax`` of it is the combined distribution, and the
cross-entropy loss of it is the negative log-likelihood of that distribution (``Trainer.evaluate``,
``ember eval`` and ``ember predict`` with several checkpoints). ``combine`` chooses the average:

- ``"mean"`` (default, the lecture's): the arithmetic mean of the members' softmax distributions;
- ``"geometric"``: the normalized geometric mean of the distributions (the mean of log-probabilities);
- ``"logits"``: the softmax of the mean of the members' scores (before softmax).

``weights`` (one per member, normalized to sum 1) weigh the averages. The members of a *snapshot
ensemble* (Huang et al., *Snapshot Ensembles: Train 1, get M for free*, ICLR 2017) come from one run with
warm restarts (``ember.train.callbacks.SnapshotEnsemble``); ``load_ensemble`` reads any list of
checkpoints of runs on the same data set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import ember
from ember.autograd import Tensor
from ember.errors import EmberError
from ember.nn import ModuleList
from ember.nn.functional import log_softmax
from ember.nn.module import Module

COMBINE = ("mean", "geometric", "logits")


class EnsembleError(EmberError, ValueError):
    """Models or checkpoints that cannot be combined; the message says which and why."""


class Ensemble(Module):
    """Average the predictions of ``models``; returns the log-probabilities (N x C) of the average."""

    def __init__(
        self, models: Iterable[Module], combine: str = "mean", weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        members = list(models)
        if not members:
            raise EnsembleError("Ensemble: needs at least one model")
        if combine not in COMBINE:
            raise EnsembleError(f"Ensemble: combine must be one of {', '.join(COMBINE)}, got {combine!r}")
        if weights is None:
            weights = [1.0] * len(members)
        if len(weights) != len(members) or not all(math.isfinite(w) and w >= 0 for w in weights):
            raise EnsembleError(
                f"Ensemble: weights must be {len(members)} numbers >= 0 (one per model), got {list(weights)}"
            )
        total = float(sum(weights))
        if total <= 0:
            raise EnsembleError("Ensemble: the weights sum to 0")
        self.members = ModuleList(members)
        self.combine = combine
        self.weights = [float(w) / total for w in weights]

    def forward(self, x: Tensor) -> Tensor:
        scores = ember.stack([member(x) for member in self.members])  # K x N x C
        weights = ember.from_numpy(np.asarray(self.weights, dtype=scores.array.dtype).reshape(-1, 1, 1))
        if self.combine == "logits":
            return log_softmax((scores * weights).sum(0), dim=1)
        log_probabilities = log_softmax(scores, dim=2)
        if self.combine == "geometric":
            return log_softmax((log_probabilities * weights).sum(0), dim=1)
        with np.errstate(divide="ignore"):  # a weight of 0: log 0 = -inf, that member counts for nothing
            log_weights = ember.from_numpy(np.log(weights.array))
        return (log_probabilities + log_weights).logsumexp(0)  # log sum_k w_k p_k, computed stably

    def extra_repr(self) -> str:
        return f"combine={self.combine!r}, weights={[round(w, 4) for w in self.weights]}"


def load_ensemble(
    paths: Sequence[str | os.PathLike[str]], combine: str = "mean"
) -> tuple[Any, Ensemble, dict[str, Any], list[Path]]:
    """(config of the first, Ensemble of the checkpoints' models in eval mode, its metadata, their paths).

    Each path is a checkpoint or a run directory (its best checkpoint). The checkpoints must come from runs
    on the same data set with the same classes and input size; their models may differ.
    """
    from ember.train.recipes import load_trained
    from ember.train.tasks import require_classification

    loaded = [load_trained(Path(path)) for path in paths]
    for found_config, _, _, path in loaded:
        require_classification(found_config, f"an ensemble ({path})")
    config, _, metadata, first = loaded[0]
    for other_config, _, other, path in loaded[1:]:
        for key, label in (("classes", "classes"), ("input_size", "input size")):
            if other[key] != metadata[key]:
                raise EnsembleError(
                    f"{path}: cannot join an ensemble with {first}: its {label} differ "
                    f"({other[key]} vs {metadata[key]}); ensemble checkpoints of the same data set"
                )
        if other_config.dataset != config.dataset:
            raise EnsembleError(
                f"{path}: trained on {other_config.dataset}, {first} on {config.dataset}: ensemble "
                "checkpoints of the same data set"
            )
    ensemble = Ensemble([model for _, model, _, _ in loaded], combine=combine)
    ensemble.eval()
    return config, ensemble, metadata, [path for _, _, _, path in loaded]


def measure_ensemble(
    paths: Sequence[str | os.PathLike[str]],
    split: str = "test",
    combine: str = "mean",
    batch_size: int | None = None,
    data_root: str | None = None,
) -> dict[str, Any]:
    """Each checkpoint's loss and accuracy on ``split`` of its data set, then their ensemble's (a report)."""
    from ember.data import DataLoader
    from ember.train import recipes
    from ember.train.config import ConfigError
    from ember.train.memory import check_inference
    from ember.train.trainer import evaluate

    config, ensemble, metadata, found = load_ensemble(paths, combine)
    if data_root:
        config.data_root = data_root
    data = recipes.load_data(config)
    dataset = {"test": data.test, "val": data.val, "train": data.train_eval}[split]
    if dataset is None:
        raise ConfigError([("--split", "the first run has no validation split (val_size was 0)")])
    size = tuple(int(side) for side in metadata["input_size"])
    batch_size = batch_size or recipes.eval_images(size)
    check_inference(ensemble, size, min(batch_size, len(dataset)), "the ensemble")
    loader = DataLoader(dataset, batch_size=batch_size)
    loss, classes = recipes.build_loss(config), len(data.classes)
    members = [evaluate(member, loader, loss, classes) for member in ensemble.members]
    result = evaluate(ensemble, loader, loss, classes)
    return {
        "dataset": config.dataset,
        "split": split,
        "count": result.count,
        "combine": combine,
        "members": [
            {"checkpoint": str(path), "loss": m.loss, "accuracy": m.accuracy, "top5": m.top5}
            for path, m in zip(found, members, strict=True)
        ],
        "ensemble": {"loss": result.loss, "accuracy": result.accuracy, "top5": result.top5},
        "mean_member_accuracy": sum(m.accuracy for m in members) / len(members),
    }


def describe(report: dict[str, Any]) -> str:
    """``measure_ensemble``'s report as lines of text."""
    ensemble = report["ensemble"]
    gain = ensemble["accuracy"] - report["mean_member_accuracy"]
    lines = [f"{report['split']} split: {report['count']} images, {len(report['members'])} models "
             f"({report['dataset']})"]  # fmt: skip
    lines += [
        f"  {row['checkpoint']}: loss {row['loss']:.4f}  top-1 {100 * row['accuracy']:.2f}%"
        for row in report["members"]
    ]
    lines.append(
        f"ensemble ({report['combine']}): loss {ensemble['loss']:.4f}  "
        f"top-1 {100 * ensemble['accuracy']:.2f}%  top-5 {100 * ensemble['top5']:.2f}% "
        f"({100 * gain:+.2f} points over the members' mean)"
    )
    return "\n".join(lines)


def measure_snapshots(
    config: Any, data: Any, test_loader: Any, snapshots: Any, echo: Callable[[str], None]
) -> dict[str, Any]:
    """The test accuracy of each snapshot (a ``SnapshotEnsemble``'s) and of the ensemble of the last
    ``config.snapshots`` of them (``ember train --snapshots N``)."""
    from ember.train import recipes
    from ember.train.checkpoint import load_weights
    from ember.train.trainer import evaluate

    loss, classes = recipes.build_loss(config), len(data.classes)
    models = []
    for path in snapshots.paths[-config.snapshots :]:
        model = recipes.build_model(config, classes, data.info.channels, data.input_size[1])
        load_weights(path, model)
        models.append(model)
    each = [evaluate(model, test_loader, loss, classes).accuracy for model in models]
    ensemble = evaluate(Ensemble(models), test_loader, loss, classes)
    echo(
        f"snapshot ensemble of the last {len(models)} of {snapshots.count} snapshots: test accuracy "
        f"{100 * ensemble.accuracy:.2f}% (loss {ensemble.loss:.4f}; the snapshots alone: "
        + ", ".join(f"{100 * value:.2f}%" for value in each)
        + ")"
    )
    return {
        "snapshots": [path.relative_to(snapshots.directory.parent).as_posix() for path in snapshots.paths],
        "members": len(models),
        "member_accuracy": each,
        "accuracy": ensemble.accuracy,
        "loss": ensemble.loss,
    }
