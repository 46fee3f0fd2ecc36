"""Reading one image file with Pillow: a decoded image, or one error that names the file and what is wrong.

Pillow refuses an image whose header announces more than twice ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (a
decompression bomb: a small file that would decode to gigabytes) and raises ``DecompressionBombError``, which
is not an ``OSError``; a file that is not an image, or is truncated, raises ``OSError`` (or, from some of its
decoders, ``SyntaxError`` and ``ValueError``). All become a ``DataFormatError`` naming the file; a missing
file is a ``MissingFileError``.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from ember.data.optional import require
from ember.errors import DataFormatError, MissingFileError


def open_image(path: str | os.PathLike[str], mode: str, feature: str = "reading images") -> Any:
    """The image in ``path``, decoded and converted to Pillow ``mode`` ("RGB", "L", ...)."""
    image_module = require("PIL.Image", feature)
    if not Path(path).is_file():
        raise MissingFileError(f"{path}: no such image file")
    try:
        with image_module.open(path) as image:
            return image.convert(mode)  # decodes the whole image: a truncated file fails here
    except image_module.DecompressionBombError as error:
        raise DataFormatError(
            f"{path}: refused as a possible decompression bomb ({error}); if you trust the file, make it "
            "smaller with an image editor first"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        unknown = isinstance(error, image_module.UnidentifiedImageError)  # its message repeats the path
        reason = "no image format Pillow knows" if unknown else str(error)
        raise DataFormatError(
            f"{path}: not an image Pillow can read ({reason}); pass a PNG, JPEG, BMP, GIF, TIFF or WebP file"
        ) from None
