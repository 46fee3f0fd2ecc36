"""Write a PyTorch state dict as safetensors, for ``ember.models.convert.load_safetensors_into``.

    python scripts/torch_to_safetensors.py CHECKPOINT.pth OUT.safetensors        # any saved state dict
    python scripts/torch_to_safetensors.py --torchvision resnet18 OUT.safetensors  # a torchvision model,
        randomly initialized, or with --checkpoint FILE its weights loaded first (legacy keys renamed)

This script runs on the PyTorch side (it needs torch, and torchvision for ``--torchvision``); Ember itself
never imports torch and never unpickles. Checkpoints are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import argparse
import sys

import torch
from safetensors.torch import save_file


def import_torchvision():
    """torchvision, importable even beside a CPU-only torch that its C++ ops were not built for.

    The models need none of torchvision's C++ operators, but importing the package registers fake kernels
    for ``torchvision::nms`` and ``qnms``, which fails ("operator torchvision::nms does not exist") when the
    extension cannot load; defining the two schemas first lets the import finish.
    """
    try:
        import torchvision
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        library = torch.library.Library("torchvision", "DEF")  # kept alive: the schemas live with it
        library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import_torchvision.library = library  # type: ignore[attr-defined]
        import torchvision
    return torchvision


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="a .pth state dict, or with --torchvision a torchvision model name")
    parser.add_argument("output", help="the .safetensors file to write")
    parser.add_argument("--torchvision", action="store_true", help="SOURCE names a torchvision model")
    parser.add_argument("--checkpoint", help="with --torchvision: load this .pth into the model first")
    parser.add_argument("--num-classes", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.torchvision:
        models = import_torchvision().models
        options = {"init_weights": True} if args.source == "googlenet" else {}
        model = models.get_model(args.source, weights=None, num_classes=args.num_classes, **options)
        if args.checkpoint:
            state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
            model.load_state_dict(rename_legacy_keys(state))
        state = model.state_dict()
    else:
        state = torch.load(args.source, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
    save_file(
        {key: value.contiguous() for key, value in state.items()}, args.output, metadata={"format": "pt"}
    )
    print(f"wrote {len(state)} tensors to {args.output}")
    return 0


def rename_legacy_keys(state: dict) -> dict:
    """torchvision's DenseNet files name layers ``norm.1``; its models (and Ember's) ``norm1``."""
    import re

    pattern = re.compile(
        r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
    )
    return {(m.group(1) + m.group(2) if (m := pattern.match(k)) else k): v for k, v in state.items()}


if __name__ == "__main__":
    sys.exit(main())
