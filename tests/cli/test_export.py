"""``ember export``: a finished run's model as an ONNX file that onnxruntime runs as Ember does."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ember.cli import main

onnx = pytest.importorskip("onnx", reason="ember export needs the onnx extra")
onnxruntime = pytest.importorskip("onnxruntime", reason="ember export's check needs onnxruntime")


def test_export_writes_a_file_onnxruntime_runs(finished_run, tmp_path, capsys):
    path = tmp_path / "mlp.onnx"
    assert main(["export", str(finished_run), "--output", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {path}: mlp, " in out and "opset 17, IR version 8" in out
    assert "input 'input' (batch, 1, 28, 28) float32: images scaled to [0, 1], then normalized" in out
    assert "onnxruntime agrees with Ember on batches of 1 and 7" in out
    model = onnx.load(path)
    metadata = {p.key: p.value for p in model.metadata_props}
    assert json.loads(metadata["classes"])[0] == "0 - zero" and metadata["model"] == "mlp"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"input": np.zeros((3, 1, 28, 28), np.float32)})[0]
    assert scores.shape == (3, 10)


def test_export_beside_the_checkpoint_refuses_to_replace_a_file(finished_run, capsys):
    checkpoint = finished_run / "checkpoints" / "last.safetensors"
    assert main(["export", str(checkpoint), "--static-batch", "4"]) == 0
    path = checkpoint.with_suffix(".onnx")
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [4, 1, 28, 28]
    capsys.readouterr()
    assert main(["export", str(checkpoint)]) == 1
    assert (
        capsys.readouterr().err
        == f"ember export: {path} exists: pass --force to replace it, or --output another file\n"
    )
    assert main(["export", str(checkpoint), "--force"]) == 0
    assert onnx.load(path).graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_export_of_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing.safetensors")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ember export: ") and "nothing.safetensors" in err and len(err.splitlines()) == 1
