"""Image files in and out, and the networks' face-input conventions (BGR, [0, 1], 96x96).

The face crop itself is tflipsync/faces/crop.py."""

import os

import numpy as np

from tflipsync import files
from tflipsync.errors import InputError
from tflipsync.conventions import FACE_SIZE

IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")  # what read_image accepts


def read_image(path):
    """Reads a PNG, JPEG, BMP, GIF (first frame) or WebP as an RGB uint8 array (H, W, 3).

    Pillow decodes it (JPEG with libjpeg's accurate integer DCT), so reading a photo needs no
    TensorFlow.
    """
    from PIL import Image

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(path, "no such file")
    if os.path.getsize(path) == 0:
        raise InputError(path, "empty file")
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            image.seek(0)  # the first frame of an animation
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError):  # PIL.UnidentifiedImageError is an OSError
        raise InputError(path, "not a readable image (PNG, JPEG, BMP, GIF or WebP)") from None


def masked_face_input(target, reference):
    """The generator's (..., 96, 96, 6) input: target with rows 48..95 zeroed, then the reference."""
    masked = np.array(target, np.float32, copy=True)
    masked[..., FACE_SIZE // 2:, :, :] = 0.0
    return np.concatenate([masked, np.asarray(reference, np.float32)], axis=-1)


def to_uint8_rgb(bgr_unit):
    """BGR floats in [0, 1] -> RGB uint8, rounding (the original truncates)."""
    return np.clip(np.rint(np.asarray(bgr_unit)[..., ::-1] * 255.0), 0, 255).astype(np.uint8)


def write_png(path, rgb):
    """Writes an RGB uint8 image as PNG through a temporary file, so no partial file is left."""
    from PIL import Image

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(path, "the output directory does not exist")
    with files.atomic_path(path) as temporary:
        Image.fromarray(np.ascontiguousarray(rgb, np.uint8)).save(temporary, format="PNG")


def contact_sheet(images, columns):
    """Tiles (N, H, W, 3) uint8 images into one image, `columns` per row, black padding."""
    images = np.asarray(images)
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    sheet = np.zeros((rows * height, columns * width, channels), np.uint8)
    for index, image in enumerate(images):
        r, c = divmod(index, columns)
        sheet[r * height:(r + 1) * height, c * width:(c + 1) * width] = image
    return sheet
