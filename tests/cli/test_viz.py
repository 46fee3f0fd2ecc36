"""ember viz on a finished run: every picture a readable PNG, one page, linked from the report."""

from __future__ import annotations

import numpy as np

from ember.cli import main


def test_viz_writes_every_picture_an_mlp_allows_and_the_report_links_it(finished_run, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "viz"
    assert main(["viz", str(finished_run), "--images", "60", "--output", str(out)]) == 0
    names = sorted(path.stem for path in out.glob("*.png"))
    expected = ["activations", "filters", "neighbours", "occlusion", "pca", "saliency", "templates", "tsne"]
    assert names == expected  # no top patches: the MLP has no conv layer
    for name in names:
        with Image.open(out / f"{name}.png") as image:
            assert image.width >= 500 and np.asarray(image.convert("L")).std() > 10
    page = (out / "index.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == len(names)
    assert "of the points have mostly their own class" in page

    assert main(["viz", str(finished_run), "--images", "20", "--what", "filters"]) == 0
    assert main(["report", str(finished_run)]) == 0
    assert 'href="../viz/index.html"' in (finished_run / "report" / "index.html").read_text()


def test_viz_names_a_missing_layer_and_a_picture_the_model_cannot_give(finished_run, tmp_path, capsys):
    args = ["viz", str(finished_run), "--images", "20", "--output", str(tmp_path)]
    assert main([*args, "--what", "activations", "--layer", "conv1"]) == 1
    error = capsys.readouterr().err.strip()
    assert (
        error.startswith("ember viz: the model has no layer 'conv1'; its layers are 0, 1, 2")
        and "\n" not in error
    )
    assert main([*args, "--what", "patches"]) == 1
    assert (
        capsys.readouterr().err.strip() == "ember viz: top patches need a conv layer and this model has none"
    )
