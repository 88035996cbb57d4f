"""`--sketch`: the landmark and edge "face sketch" of each output frame, as a diagnostic video.

Each sketch frame is black, the size of the output frame, with the Canny edges of the face region
of the output frame in grey and the planned mouth landmarks drawn over them: the outer lips in
green, the inner lips in red, a dot per point. Frames without a face or kept silent show their
edges only. Frame j of the sketch is frame j of the output.
"""

import cv2
import numpy as np

from tflipsync.faces import mesh

EDGE_GREY = 150
OUTER_COLOUR = (60, 220, 60)  # RGB
INNER_COLOUR = (235, 60, 60)
MARGIN = 0.15  # fraction of the face box added on every side before finding edges


def draw(frame, box, outer=None, inner=None, thresholds=(60, 140)):
    """The sketch of one output frame.

    Args:
      frame: (H, W, 3) uint8 RGB output frame.
      box: (x0, y0, x1, y1) face box, or None (no edges).
      outer, inner: (warp.RING, 2) pixel lip points in mesh.OUTER_LIPS / INNER_LIPS order, or None.
      thresholds: Canny's two hysteresis thresholds.

    Returns:
      (H, W, 3) uint8 RGB.
    """
    height, width = frame.shape[:2]
    out = np.zeros_like(frame)
    if box is not None:
        x0, y0, x1, y1 = (float(v) for v in box)
        mx, my = MARGIN * (x1 - x0), MARGIN * (y1 - y0)
        x0, y0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
        x1, y1 = min(width, int(np.ceil(x1 + mx))), min(height, int(np.ceil(y1 + my)))
        if x1 > x0 and y1 > y0:
            grey = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
            edges = cv2.Canny(grey, *thresholds)
            out[y0:y1, x0:x1][edges > 0] = EDGE_GREY
    thickness = max(1, int(round(min(height, width) / 360)))
    for points, colour in ((outer, OUTER_COLOUR), (inner, INNER_COLOUR)):
        if points is None:
            continue
        ring = np.round(np.asarray(points) * 16).astype(np.int32)
        cv2.polylines(out, [ring], True, colour, thickness, cv2.LINE_AA, shift=4)
        for point in ring:
            cv2.circle(out, tuple(int(v) for v in point), (thickness + 1) * 16, colour, -1, cv2.LINE_AA, shift=4)
    return out


def lips(points, mouth):
    """(outer, inner) rings from mouth points (K, 2) ordered as the face-mesh indices `mouth`."""
    position = {int(index): k for k, index in enumerate(mouth)}
    return (points[[position[i] for i in mesh.OUTER_LIPS]], points[[position[i] for i in mesh.INNER_LIPS]])
