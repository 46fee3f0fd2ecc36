"""``ember.save`` / ``ember.load``: PyTorch's contract (weights_only=True by default) without running code."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest
import torch

import ember
from ember import nn, optim


def _trained():
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    optimizer = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    model(ember.randn(5, 3)).sum().backward()
    optimizer.step()
    return model, optimizer


def _same(a, b):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict)), (type(a), type(b))
    if isinstance(a, ember.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a.array, b.array)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


def test_state_dicts_and_a_checkpoint_dict_come_back_as_they_were(tmp_path):
    model, optimizer = _trained()
    checkpoint = {
        "epoch": 3,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "loss": 0.25,
        "note": None,
        "shape": (2, 3),
    }
    ember.save(checkpoint, tmp_path / "checkpoint.pt")
    loaded = ember.load(tmp_path / "checkpoint.pt")
    _same(loaded, checkpoint)
    assert loaded["optimizer_state_dict"]["param_groups"][0]["betas"] == (0.8, 0.9)
    fresh, fresh_optimizer = _trained()
    fresh.load_state_dict(loaded["model_state_dict"])
    fresh_optimizer.load_state_dict(loaded["optimizer_state_dict"])
    _same(fresh.state_dict(), model.state_dict())


def test_a_tensor_keeps_its_type_and_requires_grad_and_a_file_object_works():
    buffer = io.BytesIO()
    ember.save(
        [ember.arange(3), ember.ones(2, requires_grad=True), ember.tensor(1.5, dtype=ember.float64)], buffer
    )
    buffer.seek(0)
    integers, weights, scalar = ember.load(buffer)
    assert integers.tolist() == [0, 1, 2] and integers.dtype == ember.int64
    assert weights.requires_grad and scalar.shape == () and scalar.dtype == ember.float64


def test_the_safe_format_is_json_and_npy_files(tmp_path):
    ember.save({"w": ember.ones(2)}, tmp_path / "w.pt")
    with zipfile.ZipFile(tmp_path / "w.pt") as archive:
        assert sorted(archive.namelist()) == ["arrays/0.npy", "ember.json"]


def test_a_whole_module_loads_only_with_weights_only_false(tmp_path):
    model, _ = _trained()
    ember.save(model, tmp_path / "model.pt")
    with pytest.raises(pickle.UnpicklingError, match="pass weights_only=False") as raised:
        ember.load(tmp_path / "model.pt")
    assert isinstance(raised.value, ember.serialization.UnsafeFileError)
    loaded = ember.load(tmp_path / "model.pt", weights_only=False)
    x = ember.randn(2, 3)
    model.eval(), loaded.eval()
    assert np.array_equal(loaded(x).array, model(x).array)


class _Payload:
    """A pickle that writes a marker file when it is loaded (what a malicious checkpoint does)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _torch_style_archive(payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")
    return buffer.getvalue()


@pytest.mark.parametrize("wrap", [lambda data: data, _torch_style_archive], ids=["pickle", "torch-zip"])
def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path, wrap):
    marker = tmp_path / "marker"
    (tmp_path / "evil.pt").write_bytes(wrap(pickle.dumps({"state": _Payload(marker)}, protocol=2)))
    with pytest.raises(
        ember.serialization.UnsafeFileError, match=r"evil\.pt: refusing to load.*builtins?__\.exec'"
    ):
        ember.load(tmp_path / "evil.pt")
    assert not marker.exists()


def test_the_payload_does_run_when_the_user_vouches_for_it(tmp_path):
    marker = tmp_path / "marker"  # proof that the refusal above is what keeps the marker away
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    ember.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.read_text() == "ran"


def test_a_torch_save_state_dict_loads_into_the_ember_model(tmp_path):
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    torch_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    reference(torch.randn(5, 3)).sum().backward()
    torch_optimizer.step()
    torch.save(
        {"model": reference.state_dict(), "optimizer": torch_optimizer.state_dict()}, tmp_path / "t.pt"
    )
    loaded = ember.load(tmp_path / "t.pt")
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model.load_state_dict(loaded["model"])
    reference.eval(), model.eval()
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(
        model(ember.tensor(x)).array, reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-6
    )
    assert loaded["model"]["1.num_batches_tracked"].dtype == ember.int64
    assert loaded["optimizer"]["param_groups"][0]["momentum"] == 0.9
    assert set(loaded["optimizer"]["state"]) == {0, 1, 2, 3, 4, 5}


def test_torch_views_load_with_their_offsets_and_strides(tmp_path):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    torch.save({"t": base.t(), "row": base[1], "whole": base}, tmp_path / "views.pt")
    loaded = ember.load(tmp_path / "views.pt")
    for name, expected in {"t": base.t(), "row": base[1], "whole": base}.items():
        np.testing.assert_array_equal(loaded[name].array, expected.numpy())


def test_a_torch_whole_module_is_refused_with_what_to_do(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    with pytest.raises(ember.serialization.UnsafeFileError, match="save the state_dict instead"):
        ember.load(tmp_path / "module.pt")


def test_bad_input_gets_one_clear_message(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.pt: no such file"):
        ember.load(tmp_path / "missing.pt")
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(ember.serialization.SerializationError, match=r"notes\.pt: not a file ember\.save"):
        ember.load(tmp_path / "notes.pt")
    ember.save({"w": ember.ones(1)}, tmp_path / "w.pt")
    with pytest.raises(ember.DeviceUnavailableError, match="CUDA"):
        ember.load(tmp_path / "w.pt", map_location="cuda")
    assert ember.load(tmp_path / "w.pt", map_location="cpu")["w"].tolist() == [1.0]
    assert ember.load(tmp_path / "w.pt", map_location=lambda storage, loc: storage)["w"].tolist() == [1.0]
