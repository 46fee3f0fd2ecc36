"""ONNX -> Ember: a file Ember wrote comes back with the same keys and weights (bit for bit) and outputs, and
a file written by hand with the supported operators runs as onnxruntime runs it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
import ember.onnx
from ember import models, nn
from ember.onnx import ExportError

from .conftest import batch, calibrate
from .test_zoo import small_input

ROUND_TRIP = [
    "lenet5",
    "mlp",
    "small_cnn",
    "resnet20",  # option A: slice and pad
    "preact_resnet20",
    "se_resnet20",  # mean, reshape, mul
    "googlenet",  # concatenations, ceil-mode pools
    "squeezenet1_1",
    "densenet121",
    "mobilenet_v1",  # depthwise convolutions
    "inception_factorized",
]


def outputs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with ember.no_grad():
        return model.eval()(ember.from_numpy(x)).numpy()


def assert_close(actual: np.ndarray, expected: np.ndarray, tolerance: float = 1e-5) -> None:
    """Equal to ``tolerance`` of the output's scale (the same layers, their sums chunked otherwise)."""
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() <= tolerance * np.abs(expected).max()


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_a_zoo_model_comes_back_with_its_keys_weights_and_outputs(name, fast_init):
    shape = small_input(name)
    model = calibrate(models.create(name, num_classes=10, in_channels=shape[0]), batch(shape, 8, seed=1))
    imported = ember.onnx.import_model(ember.onnx.export(model, batch(shape, 1)))
    original, back = model.state_dict(), imported.state_dict()
    used = {key for key in original if not key.startswith(("aux1.", "aux2."))}  # GoogLeNet's are train-only
    assert set(back) == used
    for key, value in back.items():
        assert value.dtype == original[key].dtype
        if not key.endswith("num_batches_tracked"):
            assert np.array_equal(value.numpy(), original[key].numpy()), key
    x = batch(shape, 5, seed=2)
    assert_close(outputs(imported, x), outputs(model, x))


class Layers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, stride=2, padding=1, dilation=1, groups=2)
        self.up = nn.ConvTranspose2d(4, 4, 2, stride=2, output_padding=0)
        self.bn = nn.BatchNorm2d(4)
        self.prelu = nn.PReLU(4)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.lrn = nn.LocalResponseNorm(3)
        self.adaptive = nn.AdaptiveAvgPool2d(3)  # 8x8 to 3x3: averaging matrices
        self.flatten = nn.Flatten()
        self.bn1 = nn.BatchNorm1d(36)
        self.maxout = nn.Maxout(36, 5, pieces=2)
        self.act = nn.Sequential(nn.ELU(0.5), nn.LeakyReLU(0.1), nn.Softmax(dim=1))

    def forward(self, x):
        x = self.lrn(self.pool(self.prelu(self.bn(self.up(self.conv(x))))))
        return self.act(self.maxout(self.bn1(self.flatten(self.adaptive(x)))))


def test_layers_beyond_the_zoo_come_back():
    model = calibrate(Layers(), batch((2, 8, 8), 8, seed=1))
    imported = ember.onnx.import_model(ember.onnx.export(model, batch((2, 8, 8), 1)))
    assert set(imported.state_dict()) == set(model.state_dict())
    x = batch((2, 8, 8), 3, seed=2)
    assert_close(outputs(imported, x), outputs(model, x))


def test_a_file_written_by_hand_runs_as_onnxruntime_runs_it(tmp_path):
    random = np.random.default_rng(0)
    weights = {
        "W": random.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "B": random.standard_normal(4).astype(np.float32),
        "M": random.standard_normal((4 * 9, 5)).astype(np.float32),  # Gemm with transB=0
        "shape": np.array([0, -1], dtype=np.int64),
    }
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], name="first", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"], name="second"),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[1, 1]),
        helper.make_node("Reshape", ["p", "shape"], ["f"]),
        helper.make_node("Gemm", ["f", "M"], ["y"], name="head"),
    ]
    graph = helper.make_graph(
        nodes,
        "by hand",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5])],
        [numpy_helper.from_array(array, name) for name, array in weights.items()],
    )
    path = tmp_path / "hand.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    imported = ember.onnx.import_model(path)
    assert sorted(imported.state_dict()) == ["conv0.bias", "conv0.weight", "gemm1.weight"]
    x = batch((3, 8, 8), 2)
    expected = ember.onnx.session(path).run(None, {"x": x})[0]
    assert_close(outputs(imported, x), expected)


def test_what_cannot_be_imported_is_one_message(tmp_path):
    gelu = ember.onnx.export(nn.Sequential(nn.Linear(3, 3), nn.GELU()), batch((3,), 1))
    with pytest.raises(
        ExportError, match=r"^import: node 1/Erf \(Erf\): operator not supported \(Ember imports"
    ):
        ember.onnx.import_model(gelu)
    asymmetric = helper.make_model(
        helper.make_graph(
            [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], pads=[0, 0, 1, 1])],
            "asymmetric",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    with pytest.raises(ExportError, match=r"^import: node pool \(MaxPool\): asymmetric padding"):
        ember.onnx.import_model(asymmetric)
    with pytest.raises(ExportError, match="no such file"):
        ember.onnx.import_model(tmp_path / "missing.onnx")
    (tmp_path / "text.onnx").write_text("not a model")
    with pytest.raises(ExportError, match=r"text\.onnx is not an ONNX file"):
        ember.onnx.import_model(tmp_path / "text.onnx")
