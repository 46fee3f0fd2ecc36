"""``ember export CHECKPOINT --format onnx``: a trained model as an ONNX file, for any ONNX runtime.

The checkpoint carries its run's configuration, so the model is rebuilt as trained (``load_trained``) and
traced on an input of the run's size (``ember.onnx.export``; a dynamic batch dimension). The file's
metadata records the class names and the input pipeline (scale to [0, 1], then normalize with the data
set's mean and std), which a deployment must repeat. If onnxruntime is installed, the file is run on a
batch of 1 and one of 7 and its outputs compared with Ember's.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from typing import Any

from ember.cli.common import OK, guarded

FORMATS = ("onnx",)
TOLERANCE = 1e-5  # onnxruntime against Ember, relative to the output's scale


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("export", help="write a checkpoint's model as an ONNX file")
    parser.add_argument(
        "checkpoint", metavar="CHECKPOINT", help="a .safetensors checkpoint or a run directory"
    )
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="the file format (onnx)")
    parser.add_argument(
        "--output", "-o", help="the file to write (default: the checkpoint's name with .onnx, beside it)"
    )
    parser.add_argument("--opset", type=int, default=None, help="the ONNX opset (default 17)")
    parser.add_argument(
        "--static-batch",
        type=int,
        metavar="N",
        help="fix the batch size to N (default: a dynamic batch dimension)",
    )
    parser.add_argument("--force", action="store_true", help="replace the output file if it exists")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        import numpy as np

        from ember import onnx
        from ember.train import recipes
        from ember.train.run import load_trained

        config, model, metadata, path = load_trained(args.checkpoint)
        output = Path(args.output) if args.output else path.with_suffix(".onnx")
        if output.exists() and not args.force:
            raise onnx.ExportError(f"{output} exists: pass --force to replace it, or --output another file")
        if args.static_batch is not None and args.static_batch < 1:
            raise onnx.ExportError(f"--static-batch must be at least 1, got {args.static_batch}")
        info = recipes.DATASETS[config.dataset]
        input_size = tuple(int(v) for v in metadata["input_size"])
        random = np.random.default_rng(0)
        batches = [random.standard_normal((n, *input_size)).astype(np.float32) for n in (1, 7)]
        if args.static_batch is not None:
            batches = [random.standard_normal((args.static_batch, *input_size)).astype(np.float32)]
        notes = {
            "classes": json.dumps(metadata["classes"]),
            "input": "images scaled to [0, 1], then normalized: (x - mean) / std"
            + _resized(info.size, input_size),
            "mean": json.dumps(list(info.mean)),
            "std": json.dumps(list(info.std)),
            "model": config.model,
            "dataset": config.dataset,
        }
        proto = onnx.export(
            model,
            batches[0],
            output,
            opset=args.opset or onnx.OPSET,
            dynamic_batch=args.static_batch is None,
            metadata=notes,
        )
        size = output.stat().st_size / 1e6
        batch = "batch" if args.static_batch is None else str(args.static_batch)
        print(
            f"wrote {output}: {config.model}, {len(proto.graph.node)} nodes, {size:.1f} MB, opset "
            f"{proto.opset_import[0].version}, IR version {proto.ir_version}"
        )
        print(f"input 'input' ({batch}, {', '.join(map(str, input_size))}) float32: {notes['input']}")
        print(f"  mean {notes['mean']}, std {notes['std']} (also in the file's metadata, with the classes)")
        print(f"output 'output' ({batch}, {len(metadata['classes'])}): class scores (logits)")
        if importlib.util.find_spec("onnxruntime") is None:
            print("not checked: onnxruntime is not installed (pip install 'ember[onnx]')")
            return OK
        difference = onnx.compare(model, proto, batches)
        sizes = " and ".join(str(len(b)) for b in batches)
        if difference > TOLERANCE:
            raise onnx.ExportError(
                f"onnxruntime's outputs differ from Ember's by {difference:.1e} of their scale (batches of "
                f"{sizes}); please report it, with the checkpoint"
            )
        print(f"onnxruntime agrees with Ember on batches of {sizes}: {difference:.1e} of the output's scale")
        return OK

    return guarded("export", action)


def _resized(side: int, input_size: tuple[int, ...]) -> str:
    """How the run brought its images to the model's size (``ember.train.recipes.transforms_for``)."""
    extra = input_size[1] - side
    if extra <= 0:
        return ""
    how = f"padded with {extra // 2} zeros on each side" if extra <= 8 else "resized"
    return f" ({side}x{side} images {how} to {input_size[1]}x{input_size[2]})"
