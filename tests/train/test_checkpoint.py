"""Checkpoint files: what goes in comes out, a crash never loses the previous file, bad files are named."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import atomic
from ember.train.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint


def nested_state() -> dict:
    generator = ember.Generator(7)
    generator.numpy.random(3)
    return {
        "model": {"0.weight": ember.randn(3, 4), "1.num_batches_tracked": ember.tensor(5)},
        "optimizer": {
            "state": {0: {"momentum_buffer": ember.ones(3, 4), "step": ember.tensor(2.0)}},
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "nesterov": True, "params": [0]}],
        },
        "scheduler": None,
        "rng": {"ember": generator.get_state(), "numpy": np.random.RandomState(3).get_state()},
        "numbers": [1, 2.5, float("inf"), -0.0, "text", None, np.float32(1.5), np.int64(9), 2**100],
        "$odd keys": {"$tensor": "not a reference"},
        "arrays": {"float64": np.arange(4.0), "scalar": np.array(3, np.int64), "empty": np.zeros((0, 2))},
    }


def test_round_trip_keeps_values_types_and_dtypes(tmp_path):
    state = nested_state()
    path = save_checkpoint(tmp_path / "run.safetensors", state, {"config": {"lr": 0.1}})
    loaded = load_checkpoint(path)
    assert isinstance(loaded["model"]["0.weight"], ember.Tensor)
    assert np.array_equal(loaded["model"]["0.weight"].array, state["model"]["0.weight"].array)
    assert loaded["model"]["1.num_batches_tracked"].array.shape == ()
    assert loaded["model"]["1.num_batches_tracked"].dtype == state["model"]["1.num_batches_tracked"].dtype
    assert list(loaded["optimizer"]["state"]) == [0]  # integer keys stay integers
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["rng"]["ember"] == state["rng"]["ember"]
    numpy_state = loaded["rng"]["numpy"]
    assert numpy_state[0] == "MT19937" and np.array_equal(numpy_state[1], state["rng"]["numpy"][1])
    numbers = loaded["numbers"]
    assert numbers[:6] == [1, 2.5, float("inf"), -0.0, "text", None]
    assert numbers[6] == np.float32(1.5) and numbers[6].dtype == np.float32 and numbers[8] == 2**100
    assert loaded["$odd keys"] == {"$tensor": "not a reference"}
    assert loaded["arrays"]["float64"].dtype == np.float64 and loaded["arrays"]["scalar"].shape == ()
    assert loaded["arrays"]["empty"].shape == (0, 2)
    assert read_metadata(path)["config"] == {"lr": 0.1}
    resumed = ember.Generator(0)
    resumed.set_state(loaded["rng"]["ember"])
    state_generator = ember.Generator(7)
    state_generator.numpy.random(3)
    assert np.array_equal(resumed.numpy.random(5), state_generator.numpy.random(5))


def test_code_is_never_stored(tmp_path):
    with pytest.raises(CheckpointError, match=r"cannot store a function at 'scheduler/lr_lambda'"):
        save_checkpoint(tmp_path / "x.safetensors", {"scheduler": {"lr_lambda": lambda epoch: 0.5}})
    assert not (tmp_path / "x.safetensors").exists()


def test_loading_reads_data_and_never_runs_it(tmp_path):
    marker = tmp_path / "ran"
    payload = f"__import__('os').system('touch {marker}')"
    path = save_checkpoint(tmp_path / "c.safetensors", {"note": payload, "cls": {"__reduce__": payload}})
    assert load_checkpoint(path) == {"note": payload, "cls": {"__reduce__": payload}}
    assert not marker.exists()


def test_truncated_file_is_reported_with_its_name(tmp_path):
    path = save_checkpoint(tmp_path / "last.safetensors", {"w": np.ones((64, 64), np.float32)})
    data = path.read_bytes()
    for cut in (len(data) - 100, 40, 5, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=r"last\.safetensors: truncated") as error:
            load_checkpoint(path)
        assert str(path) in str(error.value)


def test_foreign_and_garbage_files_are_reported(tmp_path):
    from safetensors.numpy import save_file

    foreign = tmp_path / "model.safetensors"
    save_file({"weight": np.ones(3, np.float32)}, str(foreign))
    with pytest.raises(
        CheckpointError, match=r"model\.safetensors: a safetensors file but not an Ember checkpoint"
    ):
        load_checkpoint(foreign)
    garbage = tmp_path / "notes.safetensors"
    header = b"this is not json"
    garbage.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(CheckpointError, match=r"notes\.safetensors: not a safetensors file"):
        load_checkpoint(garbage)
    text = tmp_path / "readme.safetensors"
    text.write_text("hello, world: not a checkpoint at all, but long enough")
    with pytest.raises(CheckpointError, match=r"readme\.safetensors: truncated or not a safetensors file"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_newer_format_version_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "c.safetensors", {"x": 1})
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    header["__metadata__"]["version"] = "99"
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size :])
    with pytest.raises(CheckpointError, match="version 99 is newer"):
        load_checkpoint(path)


def with_metadata(path: Path, **fields: str) -> Path:
    """The checkpoint at ``path`` with some of its header metadata replaced."""
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    header["__metadata__"].update(fields)
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size :])
    return path


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"version": "one"}, "damaged checkpoint header: version 'one' is not a number"),
        ({"metadata": "[1, 2]"}, "damaged checkpoint metadata"),
        ({"state": '{"$dict": [1]}'}, "damaged checkpoint state description"),
        ({"state": '{"w": {"$array": "nowhere"}}'}, "damaged checkpoint: the tensor 'nowhere' is missing"),
        ({"state": '{"$tuple": 5}'}, "damaged checkpoint state description"),
    ],
)
def test_a_damaged_header_is_reported_with_the_file_name(tmp_path, fields, message):
    path = save_checkpoint(tmp_path / "c.safetensors", {"w": np.zeros(2, np.float32)}, {"a": 1})
    with_metadata(path, **fields)
    with pytest.raises(CheckpointError, match=rf"^{path}: {message}"):
        load_checkpoint(path)
        read_metadata(path)


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.safetensors", {"epoch": 1, "w": np.zeros(1000, np.float32)})

    def half_then_crash(handle, data):
        handle.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(atomic, "write_chunks", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "w": np.ones(1000, np.float32)})
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # the temporary file is gone


def test_large_arrays_are_written_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "CHUNK", 1000)
    weights = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
    path = save_checkpoint(tmp_path / "c.safetensors", {"w": weights})
    assert np.array_equal(load_checkpoint(path)["w"], weights)


def test_a_folder_is_not_a_checkpoint(tmp_path: Path):
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)
