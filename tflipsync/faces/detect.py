"""Face detection from close-up to group shot: BlazeFace short-range and full-range, whole frame and tiles.

MediaPipe Tasks' `FaceDetector` letterboxes an image into its model's square input (128 px for
short range, 192 px for full range), so what a model can see is a face's share of the image's
longer side: short range finds faces from about a fifth of it up (selfies, close-ups), full range
from about a twelfth. Smaller faces (a group at a table, a seated speaker in portrait phone video)
are found by running full range on overlapping square tiles of 3/8 of the longer side: down to
about 3 % of the longer side (about 60 px in a 1080x1920 frame, 20 px at 640x360). Every result
is in the pixels of the whole frame, and duplicates (the same face seen by two models or two
tiles) are merged by overlap (`merge`).

One `FaceDetector` holds both models and offers two passes:

- `thorough(rgb)` (also `detect`): everything above, for a photo, a video's first frame, a shot's
  start and every few frames after (`track.main_face` schedules it);
- `fast(rgb, known)`: short range on the whole frame, plus a crop around each face already known
  that the whole frame did not show again, so small faces keep being found between thorough
  frames at the cost of one model call each.

The model files come from `tflipsync.faces.assets` (fetched at set-up, never mid-job).
"""

import dataclasses

import numpy as np

from tflipsync.faces import assets
from tflipsync.faces import track

MERGE_IOU = 0.3  # detections overlapping a better one at least this much are the same face
MERGE_INSIDE = 0.6  # ... or lying this much inside it (a tile's view of part of a face)
FULL_RANGE_MIN_SCORE = 0.6  # at 0.5 full range takes the astronaut's helmet on a tile for a face
TILE_SHARE = 3 / 8  # tile side / the frame's longer side
TILE_OVERLAP = 1 / 3  # of the tile side: a face this size or smaller lies whole in some tile
MIN_TILED = 512  # frames with a shorter longer side are not tiled: the whole frame covers them
CROP_SCALE = 2.5  # fast pass: side of the crop around a known face / the face's larger side

SHORT_RANGE = "face_detection_short_range.tflite"
FULL_RANGE = "face_detection_full_range_sparse.tflite"


@dataclasses.dataclass
class Detection:
    """One detected face, in the pixels of the frame it came from.

    box: (x0, y0, x1, y1) float; score: detector confidence; keypoints: (6, 2) float, in
    MediaPipe's order: right eye, left eye, nose tip, mouth centre, right ear, left ear (the
    person's right and left).
    """
    box: np.ndarray
    score: float
    keypoints: np.ndarray

    @property
    def area(self):
        return float(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0))


def same_face(a, b):
    """Whether boxes a and b (x0, y0, x1, y1) show one face: intersection over union at least
    MERGE_IOU, or at least MERGE_INSIDE of the smaller box inside the larger (a tile cutting
    through a face can give a box of part of it, which overlaps the whole face's box too little
    by union)."""
    if track.iou(a, b) >= MERGE_IOU:
        return True
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w > 0 and h > 0 and w * h >= MERGE_INSIDE * smaller


def merge(detections, first=()):
    """Non-maximum suppression over detections from several models, tiles or crops.

    Args:
        detections: Detections in frame pixels, possibly several of one face.
        first: Detections kept as they are, before any of `detections` (the whole-frame short-range
            result: the box the fast pass gives, so a face's box does not jump on thorough frames).

    Returns:
        one Detection per face, best score first: each of `first`, then of `detections` the best
        scored of each group that is the `same_face` as nothing kept before it.
    """
    kept = list(first)
    for d in sorted(detections, key=lambda d: -d.score):
        if not any(same_face(d.box, k.box) for k in kept):
            kept.append(d)
    return sorted(kept, key=lambda d: -d.score)


def tiles(height, width):
    """Square regions (x0, y0, x1, y1) of the thorough pass's tiled search; [] for small frames.

    Tiles have side TILE_SHARE of the longer side (clipped to the shorter one when it is
    narrower) and overlap by at least TILE_OVERLAP of it, spread evenly from edge to edge: 2x4
    on 9:16 portrait, 4x2 on 16:9, 4x3 on 4:3.
    """
    longer = max(height, width)
    if longer < MIN_TILED:
        return []
    side = int(round(longer * TILE_SHARE))
    stride = side * (1 - TILE_OVERLAP)

    def starts(extent):
        if extent <= side:
            return [0]
        count = int(np.ceil((extent - side) / stride)) + 1
        return np.linspace(0, extent - side, count).round().astype(int).tolist()

    return [(x, y, min(x + side, width), min(y + side, height)) for y in starts(height) for x in starts(width)]


def around(box, shape, scale=CROP_SCALE):
    """The square region (x0, y0, x1, y1) of side scale * the box's larger side, centred on it and
    clipped to a frame of shape (H, W, ...)."""
    half = scale * max(box[2] - box[0], box[3] - box[1]) / 2
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    height, width = shape[:2]
    x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
    x1, y1 = int(min(cx + half, width)), int(min(cy + half, height))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


# MediaPipe Tasks' one optional dependency: `mediapipe.tasks.python.core.optional_dependencies`
# imports TensorFlow where it is installed, only for `doc_controls.do_not_generate_docs` (a decorator
# of its API docs), and uses a no-op decorator where TensorFlow is absent. Importing TensorFlow for it
# costs 5-7 s of every job in the full install; `_import_tasks` gives MediaPipe that same no-op.
_OPTIONAL = "mediapipe.tasks.python.core.optional_dependencies"


def _import_tasks():
    """(BaseOptions, vision) of MediaPipe Tasks, imported without pulling in TensorFlow."""
    import sys
    import types

    if _OPTIONAL not in sys.modules and "tensorflow" not in sys.modules:
        stand_in = types.ModuleType(_OPTIONAL)
        stand_in.doc_controls = types.SimpleNamespace(do_not_generate_docs=lambda member: member)
        sys.modules[_OPTIONAL] = stand_in
    from mediapipe.tasks.python import BaseOptions, vision

    return BaseOptions, vision


class _Model:
    """One BlazeFace model in MediaPipe Tasks, run on a frame or a region of it."""

    def __init__(self, path, min_score):
        BaseOptions, vision = _import_tasks()

        options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=path),
                                             running_mode=vision.RunningMode.IMAGE,
                                             min_detection_confidence=min_score)
        self._detector = vision.FaceDetector.create_from_options(options)

    def detect(self, rgb, region=None):
        """Faces in an RGB uint8 (H, W, 3) frame, or in its region (x0, y0, x1, y1), as Detections
        in the frame's pixels, best score first."""
        import mediapipe as mp

        x0, y0 = (0, 0) if region is None else region[:2]
        part = rgb if region is None else rgb[region[1]:region[3], region[0]:region[2]]
        height, width = part.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(part))
        found = []
        for d in self._detector.detect(image).detections:
            b = d.bounding_box
            box = np.array([b.origin_x + x0, b.origin_y + y0, b.origin_x + x0 + b.width,
                            b.origin_y + y0 + b.height], dtype=np.float32)
            points = np.array([[k.x * width + x0, k.y * height + y0] for k in d.keypoints], dtype=np.float32)
            found.append(Detection(box, float(d.categories[0].score), points.reshape(-1, 2)))
        return sorted(found, key=lambda d: -d.score)

    def close(self):
        self._detector.close()


class FaceDetector:
    """Short-range and full-range BlazeFace with a thorough and a fast pass (see the module
    docstring); use as a context manager (or call close()).

    Args:
        min_score: least short-range confidence of a face.
        model_path: the short-range model file (default: the fetched one).
        full_range_path: the full-range model file (default: the fetched one).
        full_range_min_score: least full-range confidence of a face.
    """

    def __init__(self, min_score=0.5, model_path=None, full_range_path=None,
                 full_range_min_score=FULL_RANGE_MIN_SCORE):
        self._short = _Model(model_path or assets.model_path(SHORT_RANGE), min_score)
        self._full = _Model(full_range_path or assets.model_path(FULL_RANGE), full_range_min_score)

    def short_range(self, rgb):
        """Short range alone on the whole RGB uint8 (H, W, 3) frame (what detection was before
        full range and tiles), best score first."""
        return self._short.detect(rgb)

    def thorough(self, rgb):
        """Every face of an RGB uint8 (H, W, 3) frame that either model finds on the whole frame
        or (full range) on its tiles, merged; best score first."""
        others = self._full.detect(rgb)
        for region in tiles(*rgb.shape[:2]):
            others += self._full.detect(rgb, region)
        return merge(others, first=self._short.detect(rgb))

    detect = thorough

    def fast(self, rgb, known=()):
        """Short range on the whole frame, plus each of the `known` faces (Detections, usually the
        previous frame's) that it did not find again, looked for with short range in a crop
        around it (`around`: there the face fills about 40 % of the crop, well inside short
        range's reach). Best score first.

        Full range is not tried on the crops: a false face it found on a thorough frame (the
        helmet beside the astronaut at score 0.5) would be carried on frame after frame."""
        found = self._short.detect(rgb)
        again = []
        for face in known:
            if not any(same_face(face.box, d.box) for d in found + again):
                again += self._short.detect(rgb, around(face.box, rgb.shape))
        return merge(again, first=found)

    def close(self):
        for model in ("_short", "_full"):
            if getattr(self, model, None) is not None:
                getattr(self, model).close()
                setattr(self, model, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
