"""``ember eval CHECKPOINT``: measure a trained model on a split of its data set.

The checkpoint carries its run's configuration, so the model, the data set and the input pipeline are
rebuilt exactly as in training (the validation split is the same held-out images). Prints the loss, top-1
and top-5 accuracy, the accuracy of each class and the confusion matrix (``--json`` for a machine).

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
        default=500,
        metavar="N",
        help="images per forward pass (default 500; the results do not depend on it, the memory does)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run)


def format_confusion(confusion: Any, width: int = 6) -> str:
    header = " " * 8 + "".join(f"{p:>{width}}" for p in range(len(confusion)))
    rows = [f"{t:>6}  " + "".join(f"{c:>{width}}" for c in row) for t, row in enumerate(confusion.tolist())]
    return "\n".join([header, *rows])


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember.data import DataLoader
        from ember.train import recipes
        from ember.train.config import ConfigError
        from ember.train.memory import check_inference
        from ember.train.run import load_trained
        from ember.train.tasks import require_classification
        from ember.train.trainer import evaluate

        if len(args.checkpoint) > 1:
            return evaluate_ensemble(args)
        config, model, metadata, path = load_trained(args.checkpoint[0])
        require_classification(config, "ember eval")
        if args.data_root:
            config.data_root = args.data_root
        data = recipes.load_data(config)
        dataset = {"test": data.test, "val": data.val, "train": data.train_eval}[args.split]
        if dataset is None:
            raise ConfigError([("--split", "this run has no validation split (val_size was 0)")])
        size = tuple(int(side) for side in metadata["input_size"])
        check_inference(model, size, min(args.batch_size, len(dataset)), config.model)
        result = evaluate(
            model,
            DataLoader(dataset, batch_size=args.batch_size),
            recipes.build_loss(config),
            len(data.classes),
        )
        measured = result.summary(data.classes)
        if args.json:
            print(json.dumps({"checkpoint": str(path), "split": args.split, **measured}, indent=2))
            return OK
        print(f"checkpoint: {path} (epoch {metadata.get('epoch', '?')}, {config.model} on {config.dataset})")
        print(f"{args.split} split: {result.count} images")
        print(f"loss {result.loss:.4f}  top-1 {100 * result.accuracy:.2f}%  top-5 {100 * result.top5:.2f}%")
        print("accuracy per class:")
        for index, (name, accuracy) in enumerate(measured["per_class_accuracy"].items()):
            print(f"  {index:>3} {name:<24} {100 * accuracy:6.2f}%")
        print("confusion matrix (rows: true class, columns: predicted class):")
        print(format_confusion(result.confusion))
        return OK

    return guarded("eval", action)


def evaluate_ensemble(args: argparse.Namespace) -> int:
    """Each member's loss and accuracy on the split, then the ensemble's."""
    from ember.train.ensemble import describe, measure_ensemble

    report = measure_ensemble(args.checkpoint, args.split, args.combine, args.batch_size, args.data_root)
    print(json.dumps(report, indent=2) if args.json else describe(report))
    return OK
