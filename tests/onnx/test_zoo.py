"""Every model of the zoo, exported and run by onnxruntime: the same outputs as Ember's forward pass."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import ember
import ember.onnx
import ember.vision  # its models are in the zoo too, whichever tests ran first in this process
from ember import models

from .conftest import batch, calibrate

TOLERANCE = 1e-5  # max |Ember - onnxruntime| / max |Ember|
# A small input at which every layer still gets a non-empty map (as tests/models/test_zoo.py).
SMALL_INPUT = {
    "lenet5": (1, 32, 32),
    "mlp": (1, 28, 28),
    "small_cnn": (1, 28, 28),
    "alexnet": (3, 64, 64),
    "alexnet_original": (3, 99, 99),
    "zfnet": (3, 64, 64),
    "fcn_unet": (1, 32, 32),
    "segnet": (1, 32, 32),
    "localizer": (1, 64, 64),  # its box head's input is fixed by the 64x64 scenes
}
CIFAR_INPUT, IMAGENET_INPUT = (3, 8, 8), (3, 32, 32)


def small_input(name: str) -> tuple[int, int, int]:
    default = CIFAR_INPUT if models.registry.entry(name).input_size == (3, 32, 32) else IMAGENET_INPUT
    return SMALL_INPUT.get(name, default)


def errors_from_exact(model: ember.nn.Module, data: bytes, x: np.ndarray) -> tuple[float, float]:
    """How far Ember's float32 output and onnxruntime's are from the exact one (the model in float64),
    relative to its scale."""
    with ember.no_grad():
        ours = model(ember.from_numpy(x)).numpy()
        exact = model.double()(ember.from_numpy(x.astype(np.float64))).numpy()
    model.float()  # float32 -> float64 -> float32 gives back the same weights
    theirs = ember.onnx.session(data).run(None, {"input": x})[0]
    scale = np.abs(exact).max()
    return np.abs(ours - exact).max() / scale, np.abs(theirs - exact).max() / scale


# Not exportable, refused with the module named: a max pool that hands its indices to MaxUnpool2d (ONNX's
# MaxUnpool numbers positions across the whole tensor, PyTorch's within each plane).
# The two-stage detectors (exported as they predict, in eval mode): proposals are chosen by NMS over values of
# the input, outside the traced operations. The grid detector returns its decoded detections, a list.
REFUSED = {
    "segnet": r"pool \(MaxPool2d\): a max pool that returns its indices",
    "fasterrcnn_scenes": r"rpn \(RegionProposalNetwork\): uses a value computed from the input",
    "maskrcnn_scenes": r"rpn \(RegionProposalNetwork\): uses a value computed from the input",
    "yolo": r"YOLO returned a list; the exporter needs a tensor",
}


@pytest.mark.parametrize("name", sorted(models.list_models()))
def test_every_zoo_model_runs_the_same_in_onnxruntime(name, fast_init, tmp_path):
    shape = small_input(name)
    if name in REFUSED:
        model = models.create(name, num_classes=10, in_channels=shape[0]).eval()
        with pytest.raises(ember.onnx.ExportError, match=REFUSED[name]):
            ember.onnx.export(model, batch(shape, 1), tmp_path / "model.onnx")
        return
    model = calibrate(models.create(name, num_classes=10, in_channels=shape[0]), batch(shape, 8, seed=1))
    proto = ember.onnx.export(model, batch(shape, 1), tmp_path / "model.onnx")
    assert (proto.ir_version, proto.opset_import[0].version) == (8, 17)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    data = (tmp_path / "model.onnx").read_bytes()
    onnx.checker.check_model(data, full_check=True)
    inputs = [batch(shape, 1, seed=2), batch(shape, 7, seed=3)]
    difference = ember.onnx.compare(model, data, inputs)
    if difference > TOLERANCE:
        # A deep network in float32 can be that far from its exact result (Ember's own float32 output
        # is, for ResNet-50 here): then onnxruntime must be no further from it than a few times Ember.
        ours, theirs = errors_from_exact(model, data, np.concatenate(inputs))
        assert theirs <= 4 * ours, f"{difference:.2g} from Ember; {theirs:.2g} against {ours:.2g} from exact"
