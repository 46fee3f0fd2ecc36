"""Every class of damaged input through the command line: a non-zero exit and ONE line that names the file
and what is wrong (no traceback): damaged IDX files under ``ember train``, checkpoints that do not fit their
model under ``ember eval`` and ``ember predict``, and image files that are not images, or are bombs."""

from __future__ import annotations

import gzip
import re
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from ember.cli import main
from ember.train.checkpoint import load_checkpoint, read_metadata, save_checkpoint

from ..data.conftest import idx_bytes
from .conftest import train_args


def one_line(capsys: pytest.CaptureFixture[str], command: str, path: Path) -> str:
    """The single line the command printed to stderr, which must begin with the file's name."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"ember {command}: {path}: "), lines[0]
    print("SEEN", lines[0])
    return lines[0]


# ----------------------------------------------------------------------------------------------------------
# ember train on damaged IDX files
IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


def header(count: int) -> bytes:
    return bytes([0, 0, 0x08, 3]) + struct.pack(">III", count, 28, 28)


def damage(good: bytes) -> dict[str, tuple[str, bytes, str]]:
    """Case -> (file name, its bytes, what the message must say)."""
    packed = gzip.compress(good)
    body = good[16:]
    return {
        "truncated gzip": (IMAGES + ".gz", packed[: len(packed) // 2], "damaged gzip-compressed IDX file"),
        "garbage gzip": (IMAGES + ".gz", b"\x1f\x8b\x08\x00" + bytes(range(200)), "damaged gzip"),
        "wrong magic": (IMAGES, b"\x00\x00\x99\x03" + good[4:], "not an IDX file"),
        "more items than it holds": (IMAGES, header(1300) + body, "bytes follow"),
        "gzip bomb header": (IMAGES + ".gz", gzip.compress(header(10**9) + body), "more than Ember reads"),
        "gzip, more items": (IMAGES + ".gz", gzip.compress(header(1300) + body), "truncated"),
        "labels and images": (LABELS, idx_bytes(np.zeros(1199, np.uint8)), "1,199 labels for the 1,200"),
    }


CASES = list(damage(b"\x00" * 16))


@pytest.mark.parametrize("case", CASES)
def test_train_on_a_damaged_idx_file_is_one_line(mnist_root, tmp_path, capsys, case):
    root = tmp_path / "data"
    shutil.copytree(mnist_root, root)
    name, data, message = damage((mnist_root / IMAGES).read_bytes())[case]
    (root / name.removesuffix(".gz")).unlink()
    (root / name).write_bytes(data)
    assert main(train_args(root, tmp_path / "runs")) == 1
    line = one_line(capsys, "train", root / name)
    assert message in line and "download it again" in line


# ----------------------------------------------------------------------------------------------------------
# ember eval / ember predict on checkpoints that do not fit
def first_matrix(model: dict) -> str:
    return next(key for key, value in model.items() if value.ndim == 2)


def wrong_shape(model: dict) -> str:
    model[first_matrix(model)] = np.zeros((3, 3), np.float32)
    return r"size mismatch for .*: copying a param with shape \(3, 3\)"


def missing_key(model: dict) -> str:
    del model[first_matrix(model)]
    return re.escape("missing key(s) in state_dict: ")


def extra_key(model: dict) -> str:
    model["extra.weight"] = np.zeros(2, np.float32)
    return re.escape('unexpected key(s) in state_dict: "extra.weight"')


def integers(model: dict) -> str:
    key = first_matrix(model)
    model[key] = np.asarray(model[key].array).astype(np.int64)
    return "type int64 from checkpoint, the type in current model is float32"


def booleans(model: dict) -> str:
    key = first_matrix(model)
    model[key] = np.asarray(model[key].array) > 0
    return "type bool from checkpoint"


def not_a_number(model: dict) -> str:
    key = first_matrix(model)
    model[key] = np.asarray(model[key].array).copy()
    model[key][0, 0] = np.nan
    return re.escape(f"NaN or infinite values in {key}: training diverged")


BROKEN = [wrong_shape, missing_key, extra_key, integers, booleans, not_a_number]


def altered(run: Path, tmp_path: Path, change) -> tuple[Path, str]:
    source = run / "checkpoints" / "best.safetensors"
    state = load_checkpoint(source)
    message = change(state["model"])
    target = tmp_path / "altered.safetensors"
    save_checkpoint(target, state, read_metadata(source))
    return target, message


@pytest.fixture
def image(tmp_path):
    from PIL import Image

    path = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(path)
    return path


@pytest.mark.parametrize("change", BROKEN, ids=lambda change: change.__name__)
@pytest.mark.parametrize("command", ["eval", "predict"])
def test_a_checkpoint_that_does_not_fit_is_one_line(finished_run, tmp_path, capsys, image, command, change):
    checkpoint, message = altered(finished_run, tmp_path, change)
    args = [command, str(checkpoint)] + ([str(image)] if command == "predict" else [])
    assert main(args) == 1
    line = one_line(capsys, command, checkpoint)
    assert re.search(message, line), line


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_float64_weights_are_rounded_with_one_warning_line(finished_run, tmp_path, capsys, image, command):
    def doubles(model: dict) -> str:
        for key, value in model.items():
            if np.asarray(value.array).dtype == np.float32:
                model[key] = np.asarray(value.array).astype(np.float64)
        return ""

    checkpoint, _ = altered(finished_run, tmp_path, doubles)
    args = [command, str(checkpoint)] + ([str(image)] if command == "predict" else [])
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"ember {command}: warning: {checkpoint}: load_state_dict:"
    )
    assert "(float64 to float32)" in err


# ----------------------------------------------------------------------------------------------------------
# ember predict on files that are not images
def png(width: int, height: int, rows: bytes) -> bytes:
    """A grey 1-bit PNG with the given header size and (compressed) rows, chunk by chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def images(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    from PIL import Image

    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)).save(good)
    side = 20_000  # 400 million pixels: over twice Pillow's limit (89 million), 50 MB decoded as 1-bit
    return {
        "decompression bomb": (
            write(tmp_path, "bomb.png", png(side, side, bytes(side // 8 + 1) * 64)),
            "refused as a possible decompression bomb",
        ),
        "text file": (write(tmp_path, "notes.png", b"not an image\n"), "not an image Pillow can read"),
        "truncated PNG": (
            write(tmp_path, "cut.png", good.read_bytes()[:400]),
            "not an image Pillow can read",
        ),
        "missing": (tmp_path / "nowhere.png", "no such image file"),
        "a folder": (tmp_path, "no such image file"),
    }


@pytest.mark.parametrize("case", ["decompression bomb", "text file", "truncated PNG", "missing", "a folder"])
def test_predict_on_a_file_that_is_not_an_image_is_one_line(finished_run, tmp_path, capsys, case):
    path, message = images(tmp_path)[case]
    good = tmp_path / "good.png"
    assert main(["predict", str(finished_run), str(good), str(path)]) == 1
    assert message in one_line(capsys, "predict", path)
