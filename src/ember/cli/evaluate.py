"""``ember eval CHECKPOINT``: measure a trained model on a split of its data set.

The checkpoint carries its run's configuration, so the model, the data set and the input pipeline are
rebuilt exactly as in training (the validation split is the same held-out images). Prints what the run's
task measures (``ember.train.tasks``; ``--json`` for a machine): a classifier's loss, top-1 and top-5
accuracy, the accuracy of each class and the confusion matrix; a segmentation's mean IoU (with and
without the background), pixel accuracy, IoU per class and pixel confusion matrix; a localizer's top-1,
mean box IoU and share of right classes with a box of IoU >= 0.5.

Several checkpoints are measured as an ensemble (``ember.train.ensemble``): each member's accuracy, then the
ensemble's (the average of their predicted distributions, or ``--combine geometric`` / ``logits``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ember.cli.common import OK, guarded
from ember.cli.parser import whole_number

COMBINE = ("mean", "geometric", "logits")  # ember.train.ensemble.COMBINE, without importing the train layer

SPLITS = ("test", "val", "train")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("eval", help="measure a checkpoint (or an ensemble of them) on a data split")
    parser.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        nargs="+",
        help="a .safetensors checkpoint or a run directory; several: their ensemble",
    )
    parser.add_argument(
        "--combine",
        choices=COMBINE,
        default="mean",
        help="how an ensemble averages: mean of probabilities (default), geometric mean, or mean logits",
    )
    parser.add_argument("--split", choices=SPLITS, default="test", help="which split (default test)")
    parser.add_argument("--data-root", metavar="DIR", help="folder holding the data set's files")
    parser.add_argument(
        "--batch-size",
        type=whole_number(1),
        default=None,
        metavar="N",
        help="images per forward pass (default 500 of 32x32 or less, as many pixels for larger images: 125 "
        "scenes of 64x64; the results do not depend on it, the memory does)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember.data import DataLoader
        from ember.train import recipes
        from ember.train.config import ConfigError
        from ember.train.memory import check_inference
        from ember.train.run import load_trained
        from ember.train.tasks import TASKS
        from ember.train.trainer import evaluate

        if len(args.checkpoint) > 1:
            return evaluate_ensemble(args)
        config, model, metadata, path = load_trained(args.checkpoint[0])
        if args.data_root:
            config.data_root = args.data_root
        data = recipes.load_data(config)
        dataset = {"test": data.test, "val": data.val, "train": data.train_eval}[args.split]
        if dataset is None:
            raise ConfigError([("--split", "this run has no validation split (val_size was 0)")])
        size = tuple(int(side) for side in metadata["input_size"])
        batch_size = args.batch_size or recipes.eval_images(size)
        check_inference(model, size, min(batch_size, len(dataset)), config.model)
        task = TASKS[config.task]
        result = evaluate(
            model,
            DataLoader(dataset, batch_size=batch_size, collate_fn=task.collate_fn()),
            recipes.build_loss(config),
            len(data.classes),
            task=task,
        )
        measured = task.summary(result, data.classes)
        if args.json:
            print(json.dumps({"checkpoint": str(path), "split": args.split, **measured}, indent=2))
            return OK
        print(f"checkpoint: {path} (epoch {metadata.get('epoch', '?')}, {config.model} on {config.dataset})")
        print("\n".join(task.eval_lines(result, data.classes, args.split)))
        return OK

    return guarded("eval", action)


def evaluate_ensemble(args: argparse.Namespace) -> int:
    """Each member's loss and accuracy on the split, then the ensemble's."""
    from ember.train.ensemble import describe, measure_ensemble

    report = measure_ensemble(args.checkpoint, args.split, args.combine, args.batch_size, args.data_root)
    print(json.dumps(report, indent=2) if args.json else describe(report))
    return OK
