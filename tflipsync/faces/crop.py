"""The one face crop: a padded face box cut out of a frame and resized to the networks' input.

Training records (`tflipsync preprocess`) and every inference path (`sync`, `sticker`, `generate`,
the serving client) cut faces here, so the generator sees at inference the crops it learned from:
the box region resized to 96x96 with OpenCV's area filter (aspect ratio not kept, as in the
original). Crops keep the frame's RGB order; records store them BGR, and the networks take BGR
in [0, 1] (`face_input`).
"""

import numpy as np

from tflipsync.conventions import FACE_SIZE
from tflipsync.errors import InputError

# Box padding as fractions of the detector box (top, bottom, left, right). BlazeFace's box runs
# from the eyebrows to about the lower lip; the crop must hold the chin and jaw, which is where the
# generator redraws, with a little margin, close to the S3FD boxes of the original.
CROP_PADDING = (0.05, 0.18, 0.05, 0.05)


def pad_box(box, frame_size, padding=CROP_PADDING):
    """Pads an (x0, y0, x1, y1) box by fractions of its size and clips it to the frame.

    Args:
        box: the detector (or smoothed) box.
        frame_size: (height, width) of the frame.
        padding: fractions (top, bottom, left, right) of the box's height/width.

    Returns:
        int array (4,) x0, y0, x1, y1 with x1 > x0 and y1 > y0 inside the frame.
    """
    height, width = frame_size
    x0, y0, x1, y1 = [float(v) for v in box]
    w, h = x1 - x0, y1 - y0
    top, bottom, left, right = padding
    out = np.array([x0 - left * w, y0 - top * h, x1 + right * w, y1 + bottom * h])
    out = np.round(out).astype(int)
    out[[0, 2]] = np.clip(out[[0, 2]], 0, width)
    out[[1, 3]] = np.clip(out[[1, 3]], 0, height)
    out[2] = max(out[2], out[0] + 1)
    out[3] = max(out[3], out[1] + 1)
    return out


def flag_box(box, frame_size):
    """The command line's --box (top, bottom, left, right) as an (x0, y0, x1, y1) float32 box.

    Raises:
        InputError: the box is not inside a frame of `frame_size` (height, width).
    """
    top, bottom, left, right = box
    height, width = frame_size
    if not (0 <= top < bottom <= height and 0 <= left < right <= width):
        raise InputError("--box", f"({top}, {bottom}, {left}, {right}) is not inside the {width}x{height} frame")
    return np.array([left, top, right, bottom], np.float32)


def face_crop(frame, box, size=FACE_SIZE):
    """The face in a uint8 (H, W, 3) frame's integer (x0, y0, x1, y1) box: (size, size, 3) uint8,
    in the frame's channel order."""
    import cv2

    x0, y0, x1, y1 = [int(v) for v in box]
    return cv2.resize(frame[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)


def face_input(rgb, box):
    """The face in an RGB uint8 frame's box as the networks take it: (96, 96, 3) BGR float32 in [0, 1]."""
    return face_crop(rgb, box)[..., ::-1].astype(np.float32) / 255.0
