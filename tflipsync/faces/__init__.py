"""Faces: MediaPipe BlazeFace detection, 468-point face mesh, and the main-face track of a video.

Detection runs MediaPipe Tasks' `FaceDetector` with the short-range BlazeFace model; the mesh runs
`face_landmark.tflite` with LiteRT on a crop rotated upright by the eye keypoints, as MediaPipe's
own face-mesh graph does (box side x1.5, 192x192, RGB in [0, 1]). Model files come from
`tflipsync.faces.assets` (fetched at set-up).

Tracking is offline over per-frame detections (a few numbers per frame, never the frames), so a
video is decoded once for detection and once for cropping: memory stays bounded whatever its
length. Within a shot, detections are linked into tracks by box overlap; the main face of a shot is
the track with the largest summed area (big and present for long). Boxes are averaged over a few
neighbouring frames of the same shot only, so smoothing never drags a box across a scene cut, and
frames where the main face is missing are marked, never fatal.
"""

import dataclasses

import numpy as np

from tflipsync.faces import assets

MESH_SIZE = 192
MESH_SCALE = 1.5
# Box padding as fractions of the detector box (top, bottom, left, right). BlazeFace's box runs
# from the eyebrows to about the lower lip; the crop must hold the chin and jaw, which is where the
# generator redraws, with a little margin, close to the S3FD boxes of the original.
CROP_PADDING = (0.05, 0.18, 0.05, 0.05)


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


class FaceDetector:
    """BlazeFace short-range detector; use as a context manager (or call close())."""

    def __init__(self, min_score=0.5, model_path=None):
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(
                model_asset_path=model_path or assets.model_path("face_detection_short_range.tflite")),
            running_mode=vision.RunningMode.IMAGE, min_detection_confidence=min_score)
        self._detector = vision.FaceDetector.create_from_options(options)

    def detect(self, rgb):
        """Faces in an RGB uint8 (H, W, 3) frame, best score first."""
        import mediapipe as mp

        height, width = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        found = []
        for d in self._detector.detect(image).detections:
            b = d.bounding_box
            box = np.array([b.origin_x, b.origin_y, b.origin_x + b.width, b.origin_y + b.height],
                           dtype=np.float32)
            points = np.array([[k.x * width, k.y * height] for k in d.keypoints], dtype=np.float32)
            found.append(Detection(box, float(d.categories[0].score), points.reshape(-1, 2)))
        return sorted(found, key=lambda d: -d.score)

    def close(self):
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FaceMesh:
    """468-point face mesh (`face_landmark.tflite`) run with LiteRT."""

    def __init__(self, model_path=None, threads=1):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(
            model_path=model_path or assets.model_path("face_landmark.tflite"), num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda o: -int(np.prod(o["shape"])))
        self._points, self._presence = outputs[0]["index"], outputs[1]["index"]

    @staticmethod
    def crop_transform(detection):
        """2x3 affine matrix from frame pixels to the upright 192x192 mesh crop."""
        import cv2

        right_eye, left_eye = detection.keypoints[0], detection.keypoints[1]
        # The person's right eye is on the image's left: the eye line points along +x upright.
        angle = np.degrees(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))
        x0, y0, x1, y1 = detection.box
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        side = max(x1 - x0, y1 - y0) * MESH_SCALE
        matrix = cv2.getRotationMatrix2D(centre, float(angle), MESH_SIZE / side)
        matrix[:, 2] += np.array([MESH_SIZE / 2, MESH_SIZE / 2]) - np.array(centre)
        return matrix

    def landmarks(self, rgb, detection):
        """Mesh points (468, 3) float32 in frame pixels (z in the same scale) and a presence score."""
        import cv2

        matrix = self.crop_transform(detection)
        crop = cv2.warpAffine(rgb, matrix, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        self._interpreter.set_tensor(self._input, (crop[None].astype(np.float32) / 255.0))
        self._interpreter.invoke()
        points = self._interpreter.get_tensor(self._points).reshape(468, 3).astype(np.float64)
        presence = float(1.0 / (1.0 + np.exp(-self._interpreter.get_tensor(self._presence).item())))
        inverse = cv2.invertAffineTransform(matrix)
        xy = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        scale = np.sqrt(abs(np.linalg.det(inverse[:, :2])))
        return np.concatenate([xy, points[:, 2:] * scale], axis=1).astype(np.float32), presence


def iou(a, b):
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def thumbnail(rgb, size=32):
    """A small grayscale float thumbnail of a frame, for scene-cut detection."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def scene_cuts(thumbnails, threshold=30.0):
    """bool (N,): True where frame i starts a new shot (mean absolute thumbnail change > threshold
    on the 0..255 scale); frame 0 is always a start."""
    cuts = np.zeros(len(thumbnails), dtype=bool)
    if len(thumbnails):
        cuts[0] = True
    for i in range(1, len(thumbnails)):
        cuts[i] = float(np.abs(thumbnails[i] - thumbnails[i - 1]).mean()) > threshold
    return cuts


def main_track(detections, cuts, min_iou=0.3, max_gap=5):
    """Picks the main face in each shot.

    Args:
        detections: list over frames of lists of Detection.
        cuts: bool (N,), shot starts (see scene_cuts).
        min_iou: least overlap that links a detection to a track's last box.
        max_gap: frames a track may miss and still be continued.

    Returns:
        list over frames of the main face's Detection, or None where it is absent.
    """
    chosen = [None] * len(detections)
    starts = list(np.flatnonzero(cuts)) + [len(detections)]
    for begin, end in zip(starts[:-1], starts[1:]):
        tracks = []  # each: {"last": frame index, "box": last box, "items": {frame: Detection}}
        for i in range(begin, end):
            free = list(detections[i])
            alive = [t for t in tracks if i - t["last"] <= max_gap + 1]
            pairs = sorted(((iou(t["box"], d.box), ti, di) for ti, t in enumerate(alive)
                            for di, d in enumerate(free)), reverse=True)
            used_t, used_d = set(), set()
            for overlap, ti, di in pairs:
                if overlap < min_iou:
                    break
                if ti in used_t or di in used_d:
                    continue
                used_t.add(ti)
                used_d.add(di)
                alive[ti].update(last=i, box=free[di].box)
                alive[ti]["items"][i] = free[di]
            for di, d in enumerate(free):
                if di not in used_d:
                    tracks.append({"last": i, "box": d.box, "items": {i: d}})
        if tracks:
            best = max(tracks, key=lambda t: sum(d.area for d in t["items"].values()))
            for i, d in best["items"].items():
                chosen[i] = d
    return chosen


def smooth_boxes(chosen, cuts, radius=2):
    """Per-frame boxes averaged over the present frames within ±radius of the same shot.

    Returns:
        (float32 (N, 4) boxes, bool (N,) present). A frame without the face takes the nearest
        present frame's smoothed box of its shot (or, if its shot has none, of the whole video),
        so its crop is a stand-in and `present` says so; all-zero boxes if no frame has a face.
    """
    n = len(chosen)
    present = np.array([d is not None for d in chosen], dtype=bool)
    raw = np.array([d.box if d is not None else np.zeros(4, np.float32) for d in chosen],
                   dtype=np.float64).reshape(n, 4)
    shot = np.cumsum(cuts) - 1 if n else np.zeros(0, int)
    boxes = np.zeros((n, 4), dtype=np.float64)
    for i in range(n):
        lo, hi = max(0, i - radius), min(n, i + radius + 1)
        near = [j for j in range(lo, hi) if present[j] and shot[j] == shot[i]]
        if present[i] and near:
            boxes[i] = raw[near].mean(axis=0)
    valid = np.flatnonzero(present)
    if valid.size:
        for i in np.flatnonzero(~present):
            same = valid[shot[valid] == shot[i]]
            pool = same if same.size else valid
            boxes[i] = boxes[pool[np.argmin(np.abs(pool - i))]]
    return boxes.astype(np.float32), present


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


def crop_face(frame, box, size=96):
    """Resizes the frame's box region to size x size (area filter; the channel order is kept)."""
    import cv2

    x0, y0, x1, y1 = [int(v) for v in box]
    return cv2.resize(frame[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)


def mouth_opening(landmarks):
    """Inner-lip gap (points 13 and 14) over face height (points 10 to 152), per frame."""
    landmarks = np.asarray(landmarks)
    gap = np.linalg.norm(landmarks[..., 13, :2] - landmarks[..., 14, :2], axis=-1)
    face = np.linalg.norm(landmarks[..., 10, :2] - landmarks[..., 152, :2], axis=-1)
    return gap / face
