"""Image files in and out, and the networks' face-input conventions (BGR, [0, 1], 96x96).

The face crop itself is tflipsync/faces/crop.py."""

import os

import numpy as np

from tflipsync import files
from tflipsync.errors import InputError
from tflipsync.conventions import FACE_SIZE



def read_image(path):
    """Reads a PNG, JPEG, BMP or GIF (first frame) as an RGB uint8 array (H, W, 3)."""
    import tensorflow as tf

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(path, "no such file")
    if os.path.getsize(path) == 0:
        raise InputError(path, "empty file")
    with open(path, "rb") as f:
        data = f.read()
    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
    except (tf.errors.InvalidArgumentError, ValueError):
        raise InputError(path, "not a readable image (PNG, JPEG, BMP or GIF)") from None
    return image


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
    import tensorflow as tf

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(path, "the output directory does not exist")
    files.write_bytes(path, tf.io.encode_png(np.ascontiguousarray(rgb)).numpy())


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
