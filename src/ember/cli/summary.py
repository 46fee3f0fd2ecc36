"""``ember summary MODEL --input 3x224x224``: print a zoo model's table of layers, memory and multiply-adds.

``ember summary --list`` names the models. The model is built by ``ember.models`` (freshly initialized: no
weights are loaded) and tabulated by ``ember.summary``. The input size is checked against the sides the
model takes before anything is built, and an input larger than the model's native one is first priced:
the table keeps every layer's output, so its memory is estimated from the native size, scaled by the
number of pixels, and refused if the machine does not have it.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from ember.cli.common import OK, guarded
from ember.cli.parser import whole_number

MAX_CLASSES = 100_000  # more than any data set Ember reads (ImageNet-21k has 21,841 classes)


def parse_size(text: str) -> tuple[int, ...]:
    """'3x224x224' -> (3, 224, 224); how many sizes a model takes is checked by the model's entry."""
    if not re.fullmatch(r"\d+(x\d+)*", text.strip().lower()) or not all(
        int(part) > 0 for part in text.lower().split("x")
    ):
        raise argparse.ArgumentTypeError(
            f"expected positive sizes joined by 'x', C x H x W such as 3x224x224, got {text!r}"
        )
    return tuple(int(part) for part in text.lower().split("x"))


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "summary",
        help="print a model's layers: output shapes, parameters, memory, multiply-adds",
        usage="%(prog)s MODEL [--input CxHxW] [--num-classes N] [--batch-size N]  |  %(prog)s --list",
    )
    parser.add_argument("model", nargs="?", metavar="MODEL", help="a model name (see --list)")
    parser.add_argument(
        "--input",
        type=parse_size,
        metavar="CxHxW",
        help="channels x height x width, e.g. 3x224x224 (default: the model's native size)",
    )
    parser.add_argument(
        "--num-classes",
        type=whole_number(1, MAX_CLASSES),
        metavar="N",
        help="number of classes (default: the model's)",
    )
    parser.add_argument(
        "--batch-size",
        type=whole_number(1),
        default=1,
        metavar="N",
        help="images in the forward pass (default 1; the table is per image either way)",
    )
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    parser.set_defaults(run=run)


def check_memory(name: str, input_size: tuple[int, ...], batch_size: int, num_classes: int | None) -> None:
    """Refuse an input (times the batch) too large for this machine, priced from the native size."""
    from ember.models import registry
    from ember.models.summary import summary
    from ember.train import memory

    entry = registry.entry(name)
    probe = (input_size[0], *entry.input_size[1:])
    scale = input_size[1] * input_size[2] / (probe[1] * probe[2])
    if scale * batch_size <= 1:
        return  # no more than one image of the size the model was designed for
    model = registry.create_for_input(name, probe, num_classes)
    table = summary(model, probe)
    need = memory.estimate_inference(
        table, batch_size, keep_outputs=True, scale=scale, scale_weights=entry.built_for_size
    )
    shape = "x".join(map(str, input_size))
    native = "x".join(map(str, entry.input_size))
    images = f"{shape} inputs" if batch_size == 1 else f"{batch_size:,} inputs of {shape}"
    advice = [f"a smaller --input (its native size is {native})"] if scale > 1 else []
    advice += ["a smaller --batch-size (the table is per image either way)"] if batch_size > 1 else []
    memory.check(
        need,
        f"the summary of {name} on {images} needs about {need / memory.GB:,.1f} GB",
        f"Use {' or '.join(advice)}.",
    )


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember import models
        from ember.models.summary import summary

        if args.list or not args.model:
            for name, description in models.list_models().items():
                print(f"{name:20s} {description}")
            return OK
        entry = models.registry.entry(args.model)
        input_size = args.input or entry.input_size
        entry.check_input(input_size)
        check_memory(args.model, input_size, args.batch_size, args.num_classes)
        model = models.registry.create_for_input(args.model, input_size, args.num_classes)
        print(summary(model, input_size, batch_size=args.batch_size, name=args.model))
        return OK

    return guarded("summary", action)
