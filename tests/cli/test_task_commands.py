"""What a finished segmentation or localization run shows: its report (predicted masks next to the truth;
predicted boxes against the true ones), ``ember eval`` (the task's measures), ``ember predict`` (on image
files and on the run's test scenes: pictures, mask files, JSON) and ``ember report``; and the clear refusals.

The runs are tiny (48 scenes, one epoch, narrow networks): these tests check the plumbing, not the
learning (``test_train_tasks.py`` and ``tests/vision`` do that)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ember.cli import main
from ember.vision.datasets import Scenes

from ..vision.conftest import MNIST_DIR

TEST = 16
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tiny_run(output: Path, task: str, model: str) -> Path:
    args = [
        "train", "--task", task, "--model", model, "--dataset", "scenes", "--data-root", str(MNIST_DIR),
        "--subset", "48", "--val-size", "16", "--test-subset", str(TEST), "--epochs", "1",
        "--optimizer", "adam", "--schedule", "constant", "--batch-size", "16", "--workers", "0",
        "--set", "model_options.widths=[4,8,8,8]", "--output", str(output), "--name", task,
    ]  # fmt: skip
    assert main(args) == 0
    return output / task


@pytest.fixture(scope="module")
def segment_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("runs"), "segment", "fcn_unet")


@pytest.fixture(scope="module")
def localize_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("runs"), "localize", "localizer")


def picture(path: Path) -> np.ndarray:
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # something is drawn
    return pixels


def test_a_segmentation_report_shows_predicted_masks_next_to_the_truth(segment_run: Path) -> None:
    report = segment_run / "report"
    names = sorted(path.name for path in report.glob("*.png"))
    assert names == ["confusion_matrix.png", "curves.png", "learning_rate.png", "predicted_masks.png"]
    height, width = picture(report / "predicted_masks.png").shape
    assert width > 2 * height  # 8 scenes across, 3 rows (image, truth, predicted) down
    page = (report / "index.html").read_text()
    for words in (
        "Predicted masks next to the truth",
        "Pixel confusion matrix",
        "IoU per class",
        "test mean IoU (11 classes)",
        "16 test scenes",
        "best validation mean IoU",
        "val miou",  # the epoch table's column of the measure choosing the checkpoint
    ):
        assert words in page
    assert "Misclassified" not in page and "test top-5" not in page


def test_a_localization_report_shows_predicted_boxes_against_the_true_ones(localize_run: Path) -> None:
    report = localize_run / "report"
    assert sorted(path.name for path in report.glob("*.png")) == [
        "curves.png",
        "learning_rate.png",
        "predicted_boxes.png",
    ]
    picture(report / "predicted_boxes.png")
    page = (report / "index.html").read_text()
    for words in ("Predicted boxes against the truth", "test mean box IoU", "right class and box IoU"):
        assert words in page


def test_ember_report_rewrites_a_segmentation_runs_report(segment_run: Path, capsys) -> None:
    before = json.loads((segment_run / "summary.json").read_text())
    (segment_run / "report" / "predicted_masks.png").unlink()
    assert main(["report", str(segment_run)]) == 0
    assert (segment_run / "report" / "predicted_masks.png").is_file()
    after = json.loads((segment_run / "summary.json").read_text())
    assert after["task"] == "segment"
    assert after["test"]["miou"] == pytest.approx(before["test"]["miou"], abs=1e-9)


@pytest.mark.parametrize(
    ("run", "keys"),
    [
        ("segment_run", {"miou", "miou_objects", "pixel_accuracy", "iou_per_class", "confusion_matrix"}),
        ("localize_run", {"accuracy", "box_iou", "localized", "loss"}),
    ],
)
def test_eval_measures_what_the_task_measures(run: str, keys: set[str], request, capsys) -> None:
    directory = request.getfixturevalue(run)
    assert main(["eval", str(directory), "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    summary = json.loads((directory / "summary.json").read_text())["test"]
    assert keys <= measured.keys() and measured["count"] == TEST
    for key in keys - {"iou_per_class", "confusion_matrix"}:
        assert measured[key] == pytest.approx(summary[key], abs=1e-9), key  # the same model, the same scenes


def test_eval_prints_the_segmentation_measures(segment_run: Path, capsys) -> None:
    assert main(["eval", str(segment_run), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "val split: 16 scenes" in out and "IoU per class:" in out and "    0 background" in out
    assert "mIoU" in out and "pixel confusion matrix (rows: true class, columns: predicted class):" in out


def test_eval_prints_the_localization_measures(localize_run: Path, capsys) -> None:
    assert main(["eval", str(localize_run)]) == 0
    out = capsys.readouterr().out
    assert "test split: 16 scenes" in out and "mean box IoU" in out and "IoU >= 0.5" in out


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], np.ndarray]:
    """The first three test scenes as PNG files (uint8), and the scenes as they are (float)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("scenes")
    images = Scenes(MNIST_DIR, train=False, size=3).images
    paths = []
    for k, image in enumerate(images):
        paths.append(folder / f"scene{k}.png")
        Image.fromarray(np.round(image[0] * 255).astype(np.uint8)).save(paths[-1])
    return paths, images


def test_predict_writes_a_mask_per_image_and_pictures(segment_run, scene_files, tmp_path, capsys) -> None:
    from PIL import Image

    paths, _ = scene_files
    out = tmp_path / "predicted"
    command = ["predict", str(segment_run), *map(str, paths), "--out", str(out), "--json"]
    assert main(command) == 0
    items = json.loads(capsys.readouterr().out)
    assert [item["image"] for item in items] == list(map(str, paths))
    for item in items:
        with Image.open(item["mask"]) as image:
            mask = np.asarray(image)
        assert mask.shape == (64, 64) and mask.max() < 11  # class indices, 0 the background
        assert sum(item["pixels"].values()) == int((mask > 0).sum())  # the pixels of each class found
    assert sorted(path.name for path in out.glob("*.png")) == sorted(
        ["predictions.png", "scene0.mask.png", "scene1.mask.png", "scene2.mask.png"]
    )
    picture(out / "predictions.png")
    # the same scenes straight from the data set: the same masks but for pixels on a knife's edge (the files
    # hold the scenes rounded to 8 bits)
    assert main(["predict", str(segment_run), "--scenes", "3", "--out", str(tmp_path / "s"), "--json"]) == 0
    scenes = json.loads(capsys.readouterr().out)
    assert [item["scene"] for item in scenes] == [0, 1, 2]
    for from_file, from_scene in zip(items, scenes, strict=True):
        with Image.open(from_file["mask"]) as a, Image.open(from_scene["mask"]) as b:
            assert (np.asarray(a) == np.asarray(b)).mean() > 0.95


def test_predict_prints_a_line_per_image(segment_run, scene_files, tmp_path, capsys) -> None:
    paths, _ = scene_files
    assert main(["predict", str(segment_run), str(paths[0]), "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{paths[0]}: ") and f"(mask: {tmp_path / 'scene0.mask.png'})" in lines[0]
    assert lines[1] == f"picture: {tmp_path / 'predictions.png'}"


def test_predict_draws_boxes_on_test_scenes_with_the_truth(localize_run, tmp_path, capsys) -> None:
    assert main(["predict", str(localize_run), "--scenes", "20", "--out", str(tmp_path), "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    scenes = Scenes(MNIST_DIR, train=False, size=20, target_type="localization")
    assert len(items) == 20
    for k, item in enumerate(items):
        assert set(item) == {"scene", "class", "index", "probability", "box", "truth", "iou"}
        assert len(item["box"]) == 4 and all(0 <= v <= 64 for v in item["box"])
        assert 0 < item["probability"] <= 1
        label, box = scenes.target(k)
        assert item["truth"]["index"] == label and item["truth"]["box"] == box.tolist()
        assert 0 <= item["iou"] <= 1
    assert sorted(path.name for path in tmp_path.glob("*.png")) == ["predictions-1.png", "predictions-2.png"]
    for path in tmp_path.glob("*.png"):
        picture(path)
    assert main(["predict", str(localize_run), "--scenes", "1", "--out", str(tmp_path)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("test scene 0: ") and "% at (" in line and "; truth " in line


def test_bad_input_is_one_message(segment_run, finished_run, scene_files, tmp_path, capsys) -> None:
    cases = [
        (["predict", str(segment_run)], 2, "give image files, or --scenes N"),
        (["predict", str(finished_run), "--scenes", "2"], 2, "predicts on image files only"),
        (["predict", str(segment_run), str(tmp_path / "missing.png")], 1, "missing.png: no such image file"),
        (["eval", str(segment_run), str(segment_run)], 1, "classification runs only, not --task segment"),
    ]
    for command, status, words in cases:
        assert main(command) == status, command
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
    with pytest.raises(SystemExit) as stopped:  # argparse's refusal, with the usage
        main(["predict", str(segment_run), "--scenes", "0"])
    assert stopped.value.code == 2 and "--scenes: must be a whole number >= 1" in capsys.readouterr().err
