"""``ember eval`` and ``ember predict`` on a finished run."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from ember.cli import main

from ..train.helpers import mnist_arrays


def test_eval_reports_the_test_accuracy_of_the_best_checkpoint(finished_run, capsys):
    assert main(["eval", str(finished_run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary = json.loads((finished_run / "summary.json").read_text())
    assert result["checkpoint"].endswith("best.safetensors")
    assert result["count"] == 300
    assert {key: result[key] for key in summary["test"]} == summary["test"]  # one summary, the same measures


def test_eval_prints_a_readable_table(finished_run, capsys):
    checkpoint = finished_run / "checkpoints" / "last.safetensors"
    assert main(["eval", str(checkpoint), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "val split: 200 images" in out
    assert re.search(r"loss \d+\.\d{4}  top-1 \d+\.\d\d%  top-5 \d+\.\d\d%", out)
    assert "    0 0 - zero" in out and "confusion matrix (rows: true class, columns: predicted class):" in out


def test_eval_of_a_bad_checkpoint_is_one_clear_line(tmp_path, capsys):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    assert main(["eval", str(broken)]) == 1
    assert capsys.readouterr().err.startswith(f"ember eval: {broken}: truncated")


@pytest.fixture
def digit_files(tmp_path):
    from PIL import Image

    images, labels = mnist_arrays(False)
    paths = []
    for index in range(5):
        path = tmp_path / f"digit{index}.png"
        Image.fromarray(images[index]).save(path)
        paths.append(path)
    dark_on_white = tmp_path / "paper.jpg"
    Image.fromarray(255 - images[0]).resize((56, 56)).convert("RGB").save(dark_on_white, quality=95)
    return paths, dark_on_white, labels[:5]


def test_predict_lists_the_top_k_classes(finished_run, digit_files, capsys):
    paths, paper, labels = digit_files
    assert main(["predict", str(finished_run), *map(str, paths), str(paper), "--top-k", "3", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [item["image"] for item in results] == [*map(str, paths), str(paper)]
    for item in results:
        probabilities = [guess["probability"] for guess in item["top"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1 + 1e-6
    top = [item["top"][0]["index"] for item in results[:5]]
    assert np.mean(np.asarray(top) == labels) >= 0.6
    assert results[-1]["inverted"] and not results[0]["inverted"]
    assert results[-1]["top"][0]["index"] == results[0]["top"][0]["index"]  # the same digit, photographed


def test_predict_prints_one_line_per_image(finished_run, digit_files, capsys):
    paths, _, _ = digit_files
    assert main(["predict", str(finished_run / "checkpoints" / "best.safetensors"), str(paths[0])]) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"{re.escape(str(paths[0]))}: (\d - \w+ \d+\.\d%, ){{2}}\d - \w+ \d+\.\d%", line), (
        line
    )


def test_predict_names_an_unreadable_image(finished_run, tmp_path, capsys):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert main(["predict", str(finished_run), str(text)]) == 1
    assert f"{text}: not an image Pillow can read" in capsys.readouterr().err


def test_report_is_rewritten_from_the_best_checkpoint(finished_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    shutil.rmtree(run / "report")
    before = json.loads((run / "summary.json").read_text())
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {run / 'report' / 'index.html'}"
    after = json.loads((run / "summary.json").read_text())
    assert after["test"] == before["test"] and after["best_epoch"] == before["best_epoch"]
    assert sorted(p.name for p in (run / "report").iterdir()) == [
        "confusion_matrix.png",
        "curves.png",
        "index.html",
        "learning_rate.png",
        "misclassified.png",
    ]
