"""``ember predict CHECKPOINT IMAGE...``: the top-k classes of image files (PNG, JPEG, anything Pillow reads).

Each image goes through the run's own input pipeline: converted to grey or colour as the model expects,
resized to the data set's image size, scaled and normalized with the training statistics. MNIST and
Fashion-MNIST show light shapes on a black background; a photo of a dark digit on white paper is inverted
first (``--invert auto``, the default, decides from the image's border; ``yes``/``no`` force it).

Several checkpoints before the images (``ember predict a.safetensors runs/b IMAGE...``) predict as their
ensemble: the average of their predicted distributions (``--combine`` as in ``ember eval``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ember.cli.common import OK, guarded
from ember.cli.evaluate import COMBINE
from ember.cli.parser import whole_number


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("predict", help="classify image files with a checkpoint (top-k classes)")
    parser.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="a .safetensors checkpoint or a run directory (more of them before the images: an ensemble)",
    )
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    parser.add_argument(
        "--combine",
        choices=COMBINE,
        default="mean",
        help="how an ensemble averages: mean of probabilities (default), geometric mean, or mean logits",
    )
    parser.add_argument(
        "--top-k",
        type=whole_number(1),
        default=3,
        metavar="K",
        help="how many classes to list per image (default 3)",
    )
    parser.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="invert grey images to a dark background (default: auto)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run)


def read_image(
    path: str | Path, channels: int, size: int, invert: str, dark_background: bool
) -> tuple[np.ndarray, bool]:
    """The file as a uint8 array (H x W, or H x W x 3) of the data set's size, and whether it was inverted."""
    from ember.data.images import open_image
    from ember.data.optional import require

    image = open_image(path, "L" if channels == 1 else "RGB", "ember predict")
    if image.size != (size, size):
        image = image.resize((size, size), require("PIL.Image", "ember predict").Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8)
    border = np.concatenate(
        [pixels[0].ravel(), pixels[-1].ravel(), pixels[:, 0].ravel(), pixels[:, -1].ravel()]
    )
    flip = invert == "yes" or (invert == "auto" and channels == 1 and dark_background and border.mean() > 127)
    return (255 - pixels if flip else pixels), bool(flip)


def split_checkpoints(first: str, rest: list[str]) -> tuple[list[str], list[str]]:
    """(checkpoints, images): the checkpoints (.safetensors files, run directories) before the images."""
    checkpoints, images = [first], list(rest)
    while len(images) > 1 and (images[0].endswith(".safetensors") or Path(images[0]).is_dir()):
        checkpoints.append(images.pop(0))
    return checkpoints, images


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember.data import ArrayDataset
        from ember.nn.functional import softmax
        from ember.train import recipes
        from ember.train.datasets import DATASETS
        from ember.train.memory import check_inference
        from ember.train.run import load_trained
        from ember.train.tasks import require_classification
        from ember.train.trainer import predict

        checkpoints, images = split_checkpoints(args.checkpoint, args.images)
        if len(checkpoints) > 1:
            from ember.train.ensemble import load_ensemble

            config, model, metadata, _ = load_ensemble(checkpoints, args.combine)
        else:
            config, model, metadata, _ = load_trained(args.checkpoint)
            require_classification(config, "ember predict")
        args.images = images
        info = DATASETS[config.dataset]
        classes = metadata["classes"]
        dark = info.dark_background
        read = [read_image(path, info.channels, info.size, args.invert, dark) for path in args.images]
        pixels = np.stack([image for image, _ in read])
        channels, height, width = (int(v) for v in metadata["input_size"])
        input_size = (channels, height, width)
        fewer = "Classify fewer images at a time."
        check_inference(model, input_size, len(pixels), config.model, fewer)
        dataset = ArrayDataset(
            pixels, np.zeros(len(pixels), np.int64), recipes.transforms_for(info, input_size)
        )
        inputs, _ = dataset.get_batch(np.arange(len(pixels)))
        probabilities = softmax(predict(model, inputs), dim=1).array
        k = min(args.top_k, len(classes))
        results = []
        for path, (_, inverted), row in zip(args.images, read, probabilities, strict=True):
            best = np.argsort(-row, kind="stable")[:k]
            top = [{"class": classes[i], "index": int(i), "probability": float(row[i])} for i in best]
            results.append({"image": path, "inverted": inverted, "top": top})
        if args.json:
            print(json.dumps(results, indent=2))
            return OK
        for item in results:
            guesses = ", ".join(
                f"{guess['class']} {100 * guess['probability']:.1f}%" for guess in item["top"]
            )
            note = " (inverted)" if item["inverted"] else ""
            print(f"{item['image']}{note}: {guesses}")
        return OK

    return guarded("predict", action)
