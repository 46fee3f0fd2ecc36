"""The report: PNG plots and a self-contained HTML page that a person can read."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from ember.train.metrics import ClassificationMetrics

from .helpers import mnist_arrays

pytest.importorskip("matplotlib")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fake_run(directory, epochs=5, steps_per_epoch=20):
    rng = np.random.default_rng(0)
    with open(directory / "metrics.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["epoch", "step", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"]
        )
        for epoch in range(1, epochs + 1):
            writer.writerow(
                [
                    epoch,
                    epoch * steps_per_epoch,
                    0.1 / epoch,
                    1 / epoch,
                    1 - 0.5 / epoch,
                    1.2 / epoch,
                    0.9 - 0.4 / epoch,
                    3.0,
                ]
            )
    with open(directory / "steps.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "epoch", "loss", "accuracy", "lr", "images_per_second"])
        for step in range(1, epochs * steps_per_epoch + 1):
            writer.writerow(
                [
                    step,
                    (step - 1) // steps_per_epoch + 1,
                    2 / step**0.5 + 0.1 * rng.random(),
                    0.5,
                    0.1 * (1 - step / 100),
                    900,
                ]
            )
    (directory / "config.yaml").write_text("model: tiny\ndataset: mnist\n")
    images, labels = mnist_arrays(False)
    images, labels = images[:200], labels[:200]
    predictions = np.where(rng.random(200) < 0.85, labels, rng.integers(0, 10, 200))
    metrics = ClassificationMetrics(10, keep_predictions=True)
    metrics.update(np.eye(10, dtype=np.float32)[predictions], labels, 0.5)
    result = metrics.compute()
    classes = [f"{d} - digit" for d in range(10)]
    summary = {
        "dataset": "mnist",
        "model": "tiny",
        "epochs": epochs,
        "best_epoch": 4,
        "checkpoint": "checkpoints/best.safetensors",
        "seconds": 75.0,
        "test": {
            "loss": 0.5,
            "accuracy": result.accuracy,
            "top5": result.top5,
            "count": 200,
            "per_class_accuracy": dict(zip(classes, map(float, result.per_class_accuracy), strict=True)),
            "confusion_matrix": result.confusion.tolist(),
        },
    }
    (directory / "summary.json").write_text(json.dumps(summary))
    return result, images, classes


class PageChecker(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.scripts, self.headings = [], [], 0, []
        self._heading = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag in ("a", "link") and "href" in attrs:
            self.links.append(attrs["href"])
        self.scripts += tag == "script"
        self._heading = tag in ("h1", "h2")

    def handle_data(self, data):
        if self._heading:
            self.headings.append(data)
            self._heading = False


def test_report_writes_readable_pngs_and_a_self_contained_page(tmp_path):
    from PIL import Image

    from ember.train.report import write_report

    result, images, classes = fake_run(tmp_path)
    page = write_report(tmp_path, test=result, images=images, classes=classes)
    names = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    assert names == ["confusion_matrix.png", "curves.png", "learning_rate.png", "misclassified.png"]
    for name in names:
        path = tmp_path / "report" / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.width >= 600 and image.height >= 400
            pixels = np.asarray(image.convert("L"))
            assert pixels.std() > 10  # something is drawn
    checker = PageChecker()
    text = page.read_text()
    checker.feed(text)
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert len(checker.images) == 4 and all(
        src.startswith("data:image/png;base64,") for src in checker.images
    )
    assert checker.links == [] and checker.scripts == 0  # nothing to fetch, nothing to run
    assert checker.headings[0] == "Ember training report: tiny on mnist"
    assert "Confusion matrix" in checker.headings and "Misclassified test images" in checker.headings
    assert f"{100 * result.accuracy:.2f}%" in text and "9 - digit" in text
    labels = re.findall(r'<div class="label">([^<]*)</div>', text)
    assert "test loss" in labels and len(labels) == len(set(labels)), labels  # each headline number once


def test_report_shows_no_test_loss_card_where_the_run_has_none(tmp_path):
    """A detection run's summary has no test loss (its headline numbers are mAPs): no "nan" card."""
    from ember.train.report import write_report

    result, images, classes = fake_run(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    del summary["test"]["loss"]
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    text = write_report(tmp_path, test=result, images=images, classes=classes).read_text()
    labels = re.findall(r'<div class="label">([^<]*)</div>', text)
    values = re.findall(r'<div class="value">([^<]*)</div>', text)
    assert "test loss" not in labels and "epochs trained" in labels
    assert not any("nan" in value for value in values), values


def test_report_without_predictions_skips_the_misclassified_grid(tmp_path):
    from ember.train.report import write_report

    fake_run(tmp_path)
    write_report(tmp_path)
    names = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    assert names == ["confusion_matrix.png", "curves.png", "learning_rate.png"]
