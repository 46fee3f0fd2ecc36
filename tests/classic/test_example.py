"""The runnable example of the lectures' pipeline, in its quick form (small subsets)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from tests.classic.datasets import DATA_DIR

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "classic_pipeline.py"


def test_classic_pipeline_example_runs_and_saves_the_templates(tmp_path):
    out = tmp_path / "templates.png"
    env = dict(os.environ, PYTHONPATH=str(EXAMPLE.parents[1] / "src"), OPENBLAS_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--quick", "--root", str(DATA_DIR), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    knn = float(re.search(r"test images: accuracy (\S+)", result.stdout).group(1))
    linear = [float(a) for a in re.findall(r"test accuracy (\S+)", result.stdout)]
    assert knn > 0.8 and len(linear) == 2 and min(linear) > 0.8, result.stdout
    image = imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 500
    assert np.ptp(image[..., :3]) > 0.5  # not blank
