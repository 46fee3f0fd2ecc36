"""``ember predict CHECKPOINT IMAGE...``: what a trained model says about image files (PNG, JPEG, anything
Pillow reads): a classifier's top-k classes; a segmentation run's map of classes per pixel, a localization
run's class and box (``ember.train.tasks``: the run's task decides).

Each image goes through the run's own input pipeline: converted to grey or colour as the model expects,
resized to the data set's image size, scaled and normalized with the training statistics. MNIST and
Fashion-MNIST show light shapes on a black background; a photo of a dark digit on white paper is inverted
first (``--invert auto``, the default, decides from the image's border; ``yes``/``no`` force it).

Several checkpoints before the images (``ember predict a.safetensors runs/b IMAGE...``) predict as their
ensemble: the average of their predicted distributions (``--combine`` as in ``ember eval``).

A segmentation or localization run predicts on image files or on its own test scenes (``--scenes N``: the
first N, drawn beside the truth) and writes into ``--out`` (default ``./predictions``) pictures of the
predictions, 8 or 16 images a picture, and for segmentation one ``NAME.mask.png`` per image whose grey
levels are the class indices (0 the background); one line per image (``--json``: a list of objects).
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
    parser = commands.add_parser(
        "predict", help="classify image files with a checkpoint (top-k classes), or segment or localize them"
    )
    parser.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="a .safetensors checkpoint or a run directory (more of them before the images: an ensemble)",
    )
    parser.add_argument("images", metavar="IMAGE", nargs="*", help="image files (PNG, JPEG, ...)")
    parser.add_argument(
        "--scenes",
        type=whole_number(1),
        metavar="N",
        help="a segmentation or localization run: predict on its first N test scenes (drawn with the truth)",
    )
    parser.add_argument(
        "--out",
        default="predictions",
        metavar="DIR",
        help="where a segmentation or localization run's pictures and masks go (default ./predictions)",
    )
    parser.add_argument("--data-root", metavar="DIR", help="folder holding the data set's files (--scenes)")
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
        from ember.train.config import ConfigError
        from ember.train.run import load_trained
        from ember.train.tasks import TASKS
        from ember.train.trainer import predict

        checkpoints, images = split_checkpoints(args.checkpoint, args.images)
        if len(checkpoints) > 1:
            from ember.train.ensemble import load_ensemble

            config, model, metadata, _ = load_ensemble(checkpoints, args.combine)
        else:
            config, model, metadata, _ = load_trained(args.checkpoint)
        task = TASKS[config.task]
        if args.scenes is not None and not task.target_type:
            raise ConfigError([("--scenes", f"a {config.dataset} classifier predicts on image files only")])
        if args.scenes is None and not images:
            raise ConfigError(
                [("IMAGE", "give image files, or --scenes N for the run's first N test scenes")]
            )
        args.images = images
        classes = metadata["classes"]
        inputs, pictures, items, truth = (scene_inputs if args.scenes is not None else file_inputs)(
            args, config, metadata, model
        )
        outputs = predict(model, inputs)
        items = [
            {**item, **found}
            for item, found in zip(items, task.predict(outputs, classes, args.top_k), strict=True)
        ]
        written = task.save_predictions(Path(args.out), items, pictures, classes, truth)
        for item in items:
            item.pop("name")
        if args.json:
            print(json.dumps(items, indent=2))
            return OK
        for item in items:
            what = item["image"] if "image" in item else f"test scene {item['scene']}"
            note = " (inverted)" if item.get("inverted") else ""
            print(f"{what}{note}: {task.prediction_line(item)}")
        for path in written:
            print(f"picture: {path}")
        return OK

    return guarded("predict", action)


def file_inputs(
    args: argparse.Namespace, config: Any, metadata: dict[str, Any], model: Any
) -> tuple[Any, np.ndarray, list[dict[str, Any]], None]:
    """(inputs of the model, the images in [0, 1] to draw on, an item per image, no truth) for the image
    files, each through the run's own input pipeline."""
    from ember.data import ArrayDataset
    from ember.train import recipes
    from ember.train.datasets import DATASETS
    from ember.train.memory import check_inference

    info = DATASETS[config.dataset]
    read = [
        read_image(path, info.channels, info.size, args.invert, info.dark_background) for path in args.images
    ]
    pixels = np.stack([image for image, _ in read])
    channels, height, width = (int(v) for v in metadata["input_size"])
    input_size = (channels, height, width)
    check_inference(model, input_size, len(pixels), config.model, "Predict on fewer images at a time.")
    dataset = ArrayDataset(pixels, np.zeros(len(pixels), np.int64), recipes.transforms_for(info, input_size))
    inputs, _ = dataset.get_batch(np.arange(len(pixels)))
    shown = pixels.astype(np.float32) / 255
    shown = shown[:, None] if shown.ndim == 3 else shown.transpose(0, 3, 1, 2)
    names = unique_names([Path(path).stem for path in args.images])
    items = [
        {"image": path, "inverted": inverted, "name": name}
        for path, (_, inverted), name in zip(args.images, read, names, strict=True)
    ]
    return inputs, shown, items, None


def scene_inputs(
    args: argparse.Namespace, config: Any, metadata: dict[str, Any], model: Any
) -> tuple[Any, np.ndarray, list[dict[str, Any]], list[Any]]:
    """(inputs, images, items, true targets) for the run's first ``--scenes`` test scenes."""
    from ember.train import recipes
    from ember.train.memory import check_inference

    if args.data_root:
        config.data_root = args.data_root
    scenes = recipes.make_scenes(config, False, args.scenes)
    input_size = tuple(int(v) for v in metadata["input_size"])
    check_inference(model, input_size, len(scenes), config.model, "Predict on fewer scenes at a time.")
    items = [{"scene": k, "name": f"scene-{k:04d}"} for k in range(len(scenes))]
    return scenes.images, scenes.images, items, [scenes.target(k) for k in range(len(scenes))]


def unique_names(stems: list[str]) -> list[str]:
    """File stems made unique (a second 'digit' becomes 'digit-2'), to name each image's output files."""
    seen: dict[str, int] = {}
    names = []
    for stem in stems:
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return names
