"""``ember train --task detect|instance``: a few short epochs on 512 scenes beat a trivial predictor (one
box of the mean size at the image's centre, of the most common class) in box mAP@0.5, and Mask R-CNN's
masks beat the trivial predictor's box-shaped mask."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ember.cli import main
from ember.vision.datasets import Scenes
from ember.vision.detection.metrics import DetectionMetrics

from .conftest import MNIST_DIR

TRAIN, TEST = 512, 128
# Fewer proposals and sampled RoIs than torchvision's defaults (the measured runs keep those): the same
# rules on a smaller budget, so that the run takes seconds.
OPTIONS = {
    "rpn_pre_nms_top_n_train": 300,
    "rpn_post_nms_top_n_train": 300,
    "rpn_pre_nms_top_n_test": 100,
    "rpn_post_nms_top_n_test": 100,
    "box_batch_size_per_image": 128,
}
SMALL = [arg for key, value in OPTIONS.items() for arg in ("--set", f"model_options.{key}={value}")]
# The two-stage detectors' recipe (torchvision's: SGD 0.02, one-cycle per step), at batch 8.
TWO_STAGE = [
    "--optimizer", "sgd", "--lr", "0.02", "--schedule", "onecycle", "--schedule-interval", "step",
    "--batch-size", "8", *SMALL,
]  # fmt: skip


def run_task(output: Path, task: str, model: str, epochs: int, recipe: list[str] = TWO_STAGE) -> dict:
    args = [
        "train", "--task", task, "--model", model, "--dataset", "scenes", "--data-root", str(MNIST_DIR),
        "--subset", str(TRAIN), "--val-size", "64", "--test-subset", str(TEST), "--epochs", str(epochs),
        "--workers", "0", "--no-report", "--output", str(output), "--name", task, *recipe,
    ]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((output / task / "summary.json").read_text())
    assert summary["task"] == task and (output / task / "checkpoints" / "best.safetensors").is_file()
    return summary["test"]


def trivial(masks: bool) -> dict:
    """The trivial predictor's mAP on the test scenes: the mean training box at the centre, the most
    common training label, score 1 (and the box filled as its mask)."""
    train = Scenes(MNIST_DIR, size=TRAIN).scenes
    boxes = np.concatenate([scene.boxes for scene in train])
    labels = np.concatenate([scene.labels for scene in train])
    width, height = (boxes[:, 2:] - boxes[:, :2]).mean(axis=0)
    box = np.array([[32 - width / 2, 32 - height / 2, 32 + width / 2, 32 + height / 2]], np.float32)
    mask = np.zeros((1, 1, 64, 64), np.float32)
    mask[..., int(box[0, 1]) : int(np.ceil(box[0, 3])), int(box[0, 0]) : int(np.ceil(box[0, 2]))] = 1
    guess = {
        "boxes": box,
        "labels": np.array([np.bincount(labels).argmax()]),
        "scores": np.ones(1),
        "masks": mask,
    }
    metrics = DetectionMetrics(("bbox", "segm") if masks else ("bbox",))
    for scene in Scenes(MNIST_DIR, train=False, size=TEST).scenes:
        metrics.update([guess], [{"boxes": scene.boxes, "labels": scene.labels, "masks": scene.masks}])
    return metrics.compute()


def test_faster_rcnn_beats_a_trivial_predictor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test = run_task(tmp_path, "detect", "fasterrcnn_scenes", 3)
    baseline = trivial(masks=False)
    assert test["count"] == TEST and len(test["map_per_class"]) == 10
    # measured: 0.238 against 0.000 (validation: 0.06, 0.19, 0.26 after each epoch)
    assert test["map50"] > baseline["map_50"] + 0.1
    # ember eval measures the best checkpoint again: the validation mAP@0.5 that chose it
    run = tmp_path / "detect"
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    capsys.readouterr()
    assert main(["eval", str(run), "--split", "val", "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert measured["map50"] == pytest.approx(max(record["val_map50"] for record in history), abs=1e-6)
    assert main(["predict", str(run), "--scenes", "2", "--json", "--out", str(tmp_path / "out")]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [item["scene"] for item in found] == [0, 1] and all("detections" in item for item in found)
    assert (tmp_path / "out" / "predictions.png").is_file()


def test_mask_rcnn_beats_a_trivial_predictor(tmp_path: Path) -> None:
    test = run_task(tmp_path, "instance", "maskrcnn_scenes", 3)
    baseline = trivial(masks=True)
    # measured: box mAP@0.5 0.153, mask mAP@0.5 0.043 against 0.000 and 0.000 (the masks come last: their
    # validation mAP@0.5 was 0.000, 0.014, 0.049 after each epoch)
    assert test["map50"] > baseline["map_50"] + 0.05
    assert test["mask_map50"] > baseline["mask_map_50"] + 0.02


def test_yolo_beats_a_trivial_predictor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The grid detector through the same training system (its loss's four terms summed), Adam at 2e-3."""
    recipe = ["--optimizer", "adam", "--lr", "2e-3", "--schedule", "constant", "--batch-size", "32"]
    test = run_task(tmp_path, "detect", "yolo", 4, recipe)
    log = capsys.readouterr().out
    baseline = trivial(masks=False)
    print(f"yolo smoke: box mAP@0.5 {test['map50']:.3f}, trivial {baseline['map_50']:.3f}")
    # measured: 0.207 against 0.000 (448 training scenes, 4 epochs)
    assert test["count"] == TEST and test["map50"] > baseline["map_50"] + 0.1
    epochs = [line for line in log.splitlines() if line.startswith("epoch 4/4  train loss")]
    assert epochs and "acc" not in epochs[0] and "val map50 " in epochs[0]  # no accuracy, the mAP
    assert "(coord " in epochs[0] and "class " in epochs[0]  # the loss's terms
    run = tmp_path / "detect"
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    terms = [record[f"train_loss_{name}"] for name in ("coord", "object", "noobj", "class")]
    assert sum(terms) == pytest.approx(record["train_loss"], rel=1e-4)
    capsys.readouterr()
    assert main(["predict", str(run), "--scenes", "2", "--json", "--out", str(tmp_path / "out")]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [item["scene"] for item in found] == [0, 1] and all("detections" in item for item in found)
