"""The exporter beyond the zoo: every layer and operation it converts, and the errors for what it cannot."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import ember
import ember.onnx
from ember import nn, ops
from ember.nn import functional as F
from ember.nn.functional.activation import LeakyReLU as LeakyReLUFunction
from ember.onnx import ExportError

from .conftest import batch, calibrate

TOLERANCE = 1e-5


class EveryLayer(nn.Module):
    """Each layer type the exporter converts, with settings off the defaults."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding="same", padding_mode="reflect")
        self.dilated = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=4, padding_mode="replicate")
        self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.prelu = nn.PReLU(4)
        self.elu = nn.ELU(0.7)
        self.leaky = nn.LeakyReLU(0.2)
        self.lrn = nn.LocalResponseNorm(3, alpha=1e-2, beta=0.75, k=1.5)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.pool = nn.MaxPool2d(2, stride=1, dilation=2, ceil_mode=True)
        self.adaptive_max = nn.AdaptiveMaxPool2d(2)
        self.adaptive_avg = nn.AdaptiveAvgPool2d((3, 5))  # windows that overlap: two products
        self.flatten = nn.Flatten()
        self.bn1 = nn.BatchNorm1d(4 * 15)
        self.maxout = nn.Maxout(4 * 15, 6, pieces=3)
        self.unflatten = nn.Unflatten(1, (2, 3))
        self.silu, self.gelu, self.gelu_tanh = nn.SiLU(), nn.GELU(), nn.GELU("tanh")
        self.sigmoid, self.tanh, self.relu = nn.Sigmoid(), nn.Tanh(), nn.ReLU(inplace=True)
        self.softmax, self.log_softmax = nn.Softmax(dim=2), nn.LogSoftmax(dim=1)
        self.dropout, self.identity, self.inner_flatten = nn.Dropout(0.3), nn.Identity(), nn.Flatten(2)

    def forward(self, x: ember.Tensor) -> tuple[ember.Tensor, ember.Tensor]:
        x = self.relu(self.dilated(self.conv(x)))
        x = self.up(x, output_size=(16, 16))  # output_padding 1, read off the output's shape
        side = self.adaptive_max(x)
        x = self.lrn(self.leaky(self.elu(self.prelu(self.bn(x)))))
        x = self.pool(self.avg(x))
        x = self.flatten(self.adaptive_avg(x))
        x = self.unflatten(self.maxout(self.bn1(self.dropout(x))))
        x = self.silu(x) + self.gelu(x) * self.gelu_tanh(x) - self.sigmoid(x) / (1 + self.tanh(x) ** 2)
        scores = self.log_softmax(self.identity(ops.flatten(self.softmax(x), 1)))
        return scores, self.inner_flatten(side)


class EveryOperation(nn.Module):
    """The ember.ops operations a forward may apply between layers."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 6)
        self.register_buffer("table", ember.tensor(np.linspace(-1, 1, 32, dtype=np.float32).reshape(8, 4)))

    def forward(self, x: ember.Tensor) -> ember.Tensor:  # x: (N, 2, 4, 8)
        y = ops.linear(x, self.linear.weight, self.linear.bias)  # (N, 2, 4, 6): MatMul and Add
        y = ops.stack([y, -y, ops.clamp(y, min=-0.5)], 2)  # (N, 2, 3, 4, 6)
        y = y[:, ::-1, 1:, None, 2, ::2]  # (N, 2, 2, 1, 3): a reversed axis, an index, a new axis
        y = y.squeeze(3).transpose(1, 2).permute(0, 2, 1, 3).unsqueeze(-1).reshape(y.shape[0], 4, 3)
        z = ops.matmul(x[:, 0], self.table)  # (N, 4, 4)
        z = ops.maximum(ops.minimum(z, 0.7), -0.7).clone().float()
        positive = (z.abs() + 1).sqrt().log().exp() ** 2
        pooled = ops.cat([y.sum(2, keepdim=True), y.amax(2, keepdim=True), y.amin(2, keepdim=True)], 2)
        mixed = ops.pad(pooled, (0, 1), value=0.25) * positive.mean(2, keepdim=True)
        return ops.log_softmax(ops.softmax(mixed, dim=2), dim=1).relu().sigmoid().tanh().sign() + mixed.neg()


class Functional(nn.Module):
    """A PyTorch user's forward: parameters held, ``F``'s functions and ``ember.flatten`` called."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 8, 3)
        self.up = nn.ConvTranspose2d(8, 4, 3, stride=2)
        self.bn = nn.BatchNorm2d(4)
        self.slope = nn.Parameter(ember.full((4,), 0.2))
        self.fc = nn.Linear(4 * 9, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 6, 8, 8)
        x = F.conv2d(x, self.conv2.weight, self.conv2.bias, stride=1, padding="same")
        x = F.avg_pool2d(F.leaky_relu(F.elu(x, 0.5), 0.1), 3, stride=2, padding=1, count_include_pad=False)
        x = F.conv_transpose2d(x, self.up.weight, self.up.bias, stride=2, padding=1)  # (N, 4, 7, 7)
        x = F.batch_norm(x, self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias,
                         training=self.training, eps=1e-3)  # fmt: skip
        x = F.prelu(F.gelu(F.silu(x), approximate="tanh"), self.slope)
        x = F.adaptive_avg_pool2d(F.sigmoid(F.tanh(x)) + F.adaptive_max_pool2d(x, 1), (3, 3))
        x = F.dropout(ember.flatten(x, 1), 0.5, training=self.training)
        return F.log_softmax(F.linear(x, self.fc.weight, self.fc.bias), dim=1), F.softmax(x, dim=1)


def exported(model: nn.Module, x: np.ndarray, **options: object) -> bytes:
    proto = ember.onnx.export(model, x, **options)
    data = proto.SerializeToString()
    onnx.checker.check_model(data, full_check=True)
    return data


def op_types(data: bytes) -> set[str]:
    return {node.op_type for node in onnx.load_from_string(data).graph.node}


def test_every_layer_converts_to_the_same_numbers():
    model = calibrate(EveryLayer(), batch((3, 16, 16), 8, seed=1))
    data = exported(model, batch((3, 16, 16), 2))
    assert ember.onnx.compare(model, data, [batch((3, 16, 16), 1, 2), batch((3, 16, 16), 7, 3)]) <= TOLERANCE
    used = op_types(data)
    expected = {"Pad", "Conv", "ConvTranspose", "BatchNormalization", "PRelu", "Elu", "LeakyRelu", "LRN"}
    expected |= {"AveragePool", "MaxPool", "MatMul", "Flatten", "Gemm", "ReduceMax", "Erf", "Softmax"}
    assert expected <= used and "Dropout" not in used and "Identity" not in used


def test_every_operation_between_layers_converts_to_the_same_numbers():
    model = EveryOperation()
    data = exported(model, batch((2, 4, 8), 3))
    assert ember.onnx.compare(model, data, [batch((2, 4, 8), 1, 2), batch((2, 4, 8), 7, 3)]) <= TOLERANCE
    assert {"Slice", "Concat", "Transpose", "Clip", "ReduceSum", "ReduceMin", "Pad", "Sign"} <= op_types(data)


def test_functional_calls_convert_as_their_layers_with_the_models_weights():
    model = calibrate(Functional(), batch((3, 16, 16), 8, seed=1))
    data = exported(model, batch((3, 16, 16), 2))
    assert ember.onnx.compare(model, data, [batch((3, 16, 16), 1, 2), batch((3, 16, 16), 7, 3)]) <= TOLERANCE
    expected = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "BatchNormalization", "PRelu", "Elu"}
    assert expected | {"LeakyRelu", "GlobalMaxPool", "Flatten", "LogSoftmax"} <= op_types(data)
    graph = onnx.load_from_string(data).graph
    assert {t.name for t in graph.initializer} >= {"conv2.weight", "up.weight", "bn.running_var", "slope"}


@pytest.mark.parametrize(
    ("forward", "message"),
    [
        (lambda x: F.dropout(x, 0.5), r"^the model \(Lambda\): F\.dropout\(\.\.\.\) with training=True"),
        (
            lambda x: F.batch_norm(x, None, None, training=True),
            r"^the model \(Lambda\): F\.batch_norm\(\.\.\., training=True\)",
        ),
        (lambda x: F.mse_loss(x, x * 2), r"the operation ember\.nn\.functional\.mse_loss has no ONNX"),
    ],
)
def test_a_functional_call_that_cannot_be_exported_is_named(forward, message):
    class Lambda(nn.Module):
        def forward(self, x):
            return forward(x)

    with pytest.raises(ExportError, match=message):
        ember.onnx.export(Lambda(), batch((3, 4, 4), 2))


def test_the_graph_names_values_after_modules_and_weights_after_their_keys():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2, 3))
    graph = onnx.load_from_string(exported(model, batch((1, 3, 3), 1))).graph
    assert [node.name for node in graph.node] == ["0", "1", "2", "3"]
    assert {t.name for t in graph.initializer} == set(model.state_dict())
    assert [v.name for v in graph.input] == ["input"] and [v.name for v in graph.output] == ["output"]
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    assert all(np.array_equal(weights[k], v.numpy()) for k, v in model.state_dict().items())


@pytest.mark.parametrize(("opset", "ir_version"), [(13, 7), (18, 8)])
def test_other_opsets_pin_their_own_ir_version(opset, ir_version):
    model = ember.models.create(
        "se_resnet20"
    )  # ReduceMean: axes an attribute before opset 18, an input after
    x = batch((3, 8, 8), 2)
    proto = ember.onnx.export(model, x, opset=opset)
    assert (proto.opset_import[0].version, proto.ir_version) == (opset, ir_version)
    assert ember.onnx.compare(model, proto, x) <= TOLERANCE


def test_a_fixed_batch_exports_what_a_dynamic_one_cannot():
    class Flat(nn.Module):
        def forward(self, x):
            return x.reshape(-1) * 2

    with pytest.raises(
        ExportError, match=r"the model \(Flat\): a reshape of \(2, 3\) to \(6,\).*dynamic_batch=False"
    ):
        ember.onnx.export(Flat(), batch((3,), 2))
    proto = ember.onnx.export(Flat(), batch((3,), 2), dynamic_batch=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    assert ember.onnx.compare(Flat(), proto, batch((3,), 2)) == 0


class Block(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) + x


class DirectFunction(nn.Module):
    """A layer that applies an autograd Function directly: outside what the trace sees."""

    def forward(self, x):
        return LeakyReLUFunction.apply(x, 0.1)


class Scaled(nn.Conv2d):
    """A subclass that overrides forward: not a Conv2d for the exporter."""

    def forward(self, x):
        return super().forward(x) * 2


class Compares(nn.Module):
    def forward(self, x):
        return ops.where(x > 0, x, 0.0)


class InPlace(nn.Module):
    def forward(self, x):
        y = x * 2
        y.relu_()
        return y


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        (DirectFunction(), r"^model\.inner \(DirectFunction\): Ember cannot export this layer.*exportable "),
        (Scaled(3, 3, 1), r"^model\.inner \(Scaled\): uses a value computed from the input outside"),
        (Compares(), r"^model\.inner \(Compares\): the operation ember\.ops\.gt has no ONNX conversion"),
        (InPlace(), r"^model\.inner \(InPlace\): uses a value computed .* an in-place change"),
        (nn.LocalResponseNorm(4), r"^model\.inner \(LocalResponseNorm\): an LRN of even size 4"),
        (nn.BatchNorm2d(3, track_running_stats=False), r"^model\.inner \(BatchNorm2d\): batch norm without"),
        (
            nn.Sequential(nn.Conv2d(3, 3, 1, padding_mode="circular")),
            r"^model\.inner\.0 \(Conv2d\): padding_mode",
        ),
    ],
)
def test_what_cannot_be_exported_is_named_with_its_module(inner, message):
    model = nn.Sequential()
    model.add_module("model", Block(inner))
    with pytest.raises(ExportError, match=message):
        ember.onnx.export(model, batch((3, 4, 4), 2))


def test_a_max_pool_returning_indices_is_refused():
    class Pools(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool2d(2, return_indices=True)

        def forward(self, x):
            return self.pool(x)[0]

    with pytest.raises(ExportError, match=r"^pool \(MaxPool2d\): a max pool that returns its indices"):
        ember.onnx.export(Pools(), batch((1, 4, 4), 1))


def test_bad_arguments_are_one_message():
    model = nn.Linear(3, 2)
    with pytest.raises(ExportError, match="opset 12 is not supported"):
        ember.onnx.export(model, batch((3,), 1), opset=12)
    with pytest.raises(ExportError, match=r"example_input must be a floating-point batch"):
        ember.onnx.export(model, np.zeros((1, 3), dtype=np.int64))

    class Named(nn.Module):
        def forward(self, x):
            return {"scores": x}

    with pytest.raises(ExportError, match="returned a dict; the exporter needs a tensor or a tuple"):
        ember.onnx.export(Named(), batch((3,), 1))


def test_the_trace_leaves_the_model_and_the_operations_as_they_were(tmp_path):
    originals = {name: getattr(ops, name) for name in ops.__all__}
    functional = {name: getattr(F, name) for name in ("relu", "conv2d", "max_pool2d")}
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout(0.5), Block(Compares()))
    model.train()
    with pytest.raises(ExportError):
        ember.onnx.export(model, batch((1, 4, 4), 1), tmp_path / "failed.onnx")
    assert not (tmp_path / "failed.onnx").exists() and not list(tmp_path.iterdir())
    assert all(getattr(ops, name) is function for name, function in originals.items())
    assert all(getattr(F, name) is function for name, function in functional.items())
    assert ember.flatten is ops.flatten
    assert model.training and model[1].training
    captured = []
    model[0].register_forward_hook(lambda module, args, output: captured.append(output))
    model[:2](ember.randn(1, 1, 4, 4))
    assert len(captured) == 1  # the user's hook runs; the exporter's are gone


def test_the_file_is_written_whole(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    path = tmp_path / "model.onnx"
    proto = ember.onnx.export(model, batch((3,), 1), path, metadata={"classes": '["a", "b"]'})
    assert path.read_bytes() == proto.SerializeToString()
    assert {p.key: p.value for p in onnx.load(path).metadata_props} == {"classes": '["a", "b"]'}


@pytest.mark.parametrize(
    "options",
    [
        {"scale_factor": 2},
        {"size": (3, 17)},
        {"scale_factor": 1.5, "mode": "bilinear"},
        {"scale_factor": (2, 3), "mode": "bilinear", "align_corners": False},
        {"size": (11, 4), "mode": "bilinear"},
        {"size": (9, 13), "mode": "bilinear", "align_corners": True},
    ],
)
def test_upsampling_exports_as_resize_and_imports_back(options):
    """nn.Upsample and F.interpolate as ONNX Resize with PyTorch's sampling (onnxruntime agrees, any
    batch size), and back into Ember as F.interpolate with the same numbers."""

    class Interpolated(nn.Module):
        def forward(self, x):
            return F.interpolate(x, **options)

    x = batch((3, 5, 7), 2)
    for model in (nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Upsample(**options)), Interpolated()):
        data = exported(model, x)
        assert "Resize" in op_types(data)
        assert ember.onnx.compare(model, data, [batch((3, 5, 7), 1, 2), batch((3, 5, 7), 6, 3)]) <= TOLERANCE
        imported = ember.onnx.import_model(data)
        with ember.no_grad():
            model.eval()
            inputs = ember.from_numpy(batch((3, 5, 7), 3, 4))
            assert float((imported(inputs) - model(inputs)).abs().max()) <= TOLERANCE


def test_rounding_exports_as_floor_ceil_round_and_imports_back():
    """floor, ceil and round (halves to even in both) as ONNX nodes; round to decimals is refused by name,
    and an operation without a conversion (topk) too."""

    class Rounded(nn.Module):
        def forward(self, x):
            return ops.floor(x * 3) + ops.ceil(x * 5) * ops.round(x * 7) + x.round()

    model, x = Rounded(), batch((3, 4), 2)
    data = exported(model, x)
    assert {"Floor", "Ceil", "Round"} <= op_types(data)
    assert ember.onnx.compare(model, data, [batch((3, 4), 1, 2), batch((3, 4), 5, 3)]) <= TOLERANCE
    halves = ember.tensor([[[-2.5, -1.5, -0.5, 0.5], [1.5, 2.5, 0.25, 3.0], [-0.75, 4.5, 5.5, 0.0]]])
    assert ember.onnx.compare(model, data, [halves.array]) == 0.0  # onnxruntime's Round halves to even too
    imported = ember.onnx.import_model(data)
    with ember.no_grad():
        assert float((imported(halves) - model(halves)).abs().max()) == 0.0

    class Decimals(nn.Module):
        def forward(self, x):
            return ops.round(x, decimals=2)

    with pytest.raises(ExportError, match="round with decimals"):
        ember.onnx.export(Decimals(), x)

    class Top(nn.Module):
        def forward(self, x):
            return x.topk(2).values

    with pytest.raises(ExportError, match="topk"):
        ember.onnx.export(Top(), x)
