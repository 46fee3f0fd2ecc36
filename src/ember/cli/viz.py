"""``ember viz RUN_OR_CHECKPOINT --what ...``: pictures of what a trained network does (``ember.viz``).

Filters, class templates, activations, top-activating patches, saliency, occlusion, nearest neighbours and
t-SNE / PCA maps of the features, from the run's best checkpoint over the first test images; written as
PNGs and one ``index.html`` into ``RUN/viz/`` (or ``--output``). ``ember report`` links the page.
"""

from __future__ import annotations

import argparse
from typing import Any

from ember.cli.common import OK, guarded
from ember.cli.parser import whole_number
from ember.viz.visualize import WHAT, write_visualizations


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("viz", help="pictures of a trained network: filters, saliency, t-SNE, ...")
    parser.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT", help="a run directory or a checkpoint")
    parser.add_argument(
        "--what",
        nargs="+",
        choices=(*WHAT, "all"),
        default=["all"],
        metavar="PICTURE",
        help=f"which pictures: {', '.join(WHAT)} or all (default all)",
    )
    parser.add_argument(
        "--layer", metavar="NAME", help="the layer for activations and patches (default: a conv)"
    )
    parser.add_argument(
        "--images", type=whole_number(10), default=500, metavar="N", help="test images to use (default 500)"
    )
    parser.add_argument("--output", metavar="DIR", help="where to write (default: RUN/viz)")
    parser.add_argument("--data-root", metavar="DIR", help="folder holding the data set's files")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from pathlib import Path

        import numpy as np

        from ember.train import recipes
        from ember.train.run import load_trained

        config, model, _, path = load_trained(args.checkpoint)
        if args.data_root:
            config.data_root = args.data_root
        data = recipes.load_data(config)
        count = min(args.images, len(data.test))
        items = [data.test[n] for n in range(count)]
        inputs = np.stack(
            [np.asarray(image.array if hasattr(image, "array") else image) for image, _ in items]
        )
        targets = np.asarray([int(target) for _, target in items])
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        out = Path(args.output) if args.output else run_dir / "viz"
        what = None if "all" in args.what else list(dict.fromkeys(args.what))
        title = f"{config.model} on {config.dataset}"
        page = write_visualizations(
            model, inputs, targets, data.classes, out, what, args.layer, title, config.seed
        )
        print(f"viz: {page}")
        return OK

    return guarded("viz", action)
