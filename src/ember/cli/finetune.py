"""``ember finetune CHECKPOINT --dataset NAME --strategy linear|top|all``: transfer learning from a run.

``ember train`` with ``--init-from CHECKPOINT`` and the checkpoint's model (architecture and options): the
pretrained weights are loaded but for the classifier, which is new (the new data set's classes); the
strategy freezes what the lecture's table says (``ember.train.transfer``) and the pretrained layers that
train get ``--backbone-lr`` times the learning rate. Every other option of ``ember train`` applies.
"""

from __future__ import annotations

import argparse
from typing import Any

from ember.cli.common import guarded, run_status
from ember.cli.train import add_config_arguments, check_workers, configuration


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "finetune",
        help="fine-tune a trained model on another data set (transfer learning)",
        description="Train from a checkpoint's weights with a new classifier (ember train --init-from).",
    )
    parser.add_argument(
        "pretrained", metavar="CHECKPOINT", help="a .safetensors checkpoint or a run directory"
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--no-report", dest="report", action="store_const", const=False, help="skip the HTML/PNG report"
    )
    parser.set_defaults(run=run, monitor=None)


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember.train import run as runs
        from ember.train.callbacks.checkpoint import checkpoint_path
        from ember.train.checkpoint import read_metadata

        source = read_metadata(checkpoint_path(args.pretrained)).get("config") or {}
        setattr(args, "finetune.init_from", args.pretrained)
        base = {key: source[key] for key in ("model", "model_options") if key in source}
        if getattr(args, "model", None) is not None:  # another architecture: its own options
            base = {}
        config = configuration(args, defaults=base)
        check_workers(config)
        return run_status(runs.start(config))

    return guarded("finetune", action)
