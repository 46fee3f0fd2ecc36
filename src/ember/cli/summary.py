"""``ember summary MODEL --input 3x224x224``: print a zoo model's table of layers, memory and multiply-adds.

``ember summary --list`` names the models. The model is built by ``ember.models.create`` (freshly
initialized: no weights are loaded) and tabulated by ``ember.summary``.
"""

from __future__ import annotations

import argparse


def parse_size(text: str) -> tuple[int, ...]:
    """'3x224x224' -> (3, 224, 224)."""
    try:
        size = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        size = ()
    if not size or any(part <= 0 for part in size):
        raise argparse.ArgumentTypeError(f"expected sizes like 3x224x224, got {text!r}")
    return size


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "summary", help="print a model's layers: output shapes, parameters, memory, multiply-adds"
    )
    parser.add_argument("model", nargs="?", help="a model name (see --list)")
    parser.add_argument("--input", type=parse_size, help="C x H x W, e.g. 3x224x224 (default: the model's)")
    parser.add_argument("--num-classes", type=int, help="number of classes (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=1, help="images in the forward pass (default 1)")
    parser.add_argument("--list", action="store_true", help="list the models and exit")


def run(args: argparse.Namespace) -> int:
    from ember import models
    from ember.models.summary import summary

    if args.list or not args.model:
        for name, description in models.list_models().items():
            print(f"{name:20s} {description}")
        return 0
    try:
        entry = models.registry.entry(args.model)
    except KeyError as error:
        print(f"ember summary: {error.args[0]}")
        return 2
    input_size = args.input or entry.input_size
    options = {} if args.num_classes is None else {"num_classes": args.num_classes}
    if args.input is not None:
        options["in_channels"] = input_size[0]
    model = models.create(args.model, **options)
    print(summary(model, input_size, batch_size=args.batch_size, name=args.model))
    return 0
