"""The main face of a video: per-frame detections linked into tracks, per shot, and smoothed.

Tracking is offline over per-frame detections (a few numbers per frame, never the frames), so a
video is decoded once for detection and once for cropping: memory stays bounded whatever its
length. Within a shot, detections are linked into tracks by box overlap; the main face of a shot is
the track with the largest summed area (big and present for long). Boxes are averaged over a few
neighbouring frames of the same shot only, so smoothing never drags a box across a scene cut, and
frames where the main face is missing are marked, never fatal. With `who` (`--who`), a person chosen
once is followed through shots instead, or every track is kept (tflipsync/faces/people.py).

`main_face` is the one detection pass that `sync`, `sticker`, `generate` and `preprocess` share; it
schedules the detector's thorough and fast passes (`DetectionSchedule`).
"""

import dataclasses
import time

import numpy as np

from tflipsync.faces import people


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


def shot_tracks(detections, begin, end, min_iou=0.3, max_gap=5):
    """The tracks of one shot, frames begin..end-1: detections linked by box overlap.

    Returns:
        list of {"last": last frame, "box": last box, "items": {frame: Detection}}.
    """
    tracks = []
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
    return tracks


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
        tracks = shot_tracks(detections, begin, end, min_iou, max_gap)
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


@dataclasses.dataclass
class MainFace:
    """The main face of each of a video's N frames (see `main_face`).

    boxes: float32 (N, 4) smoothed (x0, y0, x1, y1) detector boxes, unpadded; present: bool (N,);
    shots: int (N,) shot number; chosen: per frame the main face's Detection or None; records:
    per frame the main face's `measure` record (None where absent), or None without `measure`;
    people: with `who`, (boxes, present) of each chosen person (the first is `boxes`, `present`);
    numbered: with `who`, the detections of the first frame with a face, in their numbers' order.
    """
    boxes: np.ndarray
    present: np.ndarray
    shots: np.ndarray
    chosen: list
    records: list = None
    people: list = None
    numbered: list = None


THOROUGH_EVERY = 25  # frames from one thorough pass to the next within a shot (1 s at 25 fps; 60 ms a pass)


class DetectionSchedule:
    """Runs a detector's thorough pass on a video's first frame, on each shot start (`scene_cuts`)
    and every THOROUGH_EVERY frames, and its fast pass, seeded with the previous frame's faces,
    on the frames between (see `detect.FaceDetector`).

    A detector with `detect` only (a stand-in in tests) has it called on every frame.

    Args:
      detector: a FaceDetector, or anything with detect(rgb) -> list of Detection.
      every: frames from one thorough pass to the next within a shot.
    """

    def __init__(self, detector, every=THOROUGH_EVERY):
        self._detector = detector
        self._every = every
        self._since = None  # frames since the last thorough pass; None before the first frame
        self._known = []

    def __call__(self, frame, thumbs):
        """Faces of one frame.

        Args:
          frame: RGB uint8 (H, W, 3).
          thumbs: the `thumbnail`s of the frames so far, this frame's last.

        Returns:
          list of Detection, best score first.
        """
        if not hasattr(self._detector, "fast"):
            return self._detector.detect(frame)
        if self._since is None or self._since + 1 >= self._every or scene_cuts(thumbs[-2:])[-1]:
            self._known, self._since = self._detector.thorough(frame), 0
        else:
            self._known, self._since = self._detector.fast(frame, self._known), self._since + 1
        return self._known


class _Untimed:
    @staticmethod
    def add(name, started):
        pass


def main_face(frames, detector, measure=None, radius=2, stages=None, who=None):
    """The one detection pass: detects every frame, cuts shots, tracks and smooths the main face.

    Args:
      frames: iterable of RGB uint8 (H, W, 3) frames, consumed once.
      detector: a FaceDetector, its passes scheduled by `DetectionSchedule` (or anything with
        detect(rgb) -> list of Detection, called on every frame).
      measure: optional measure(frame, Detection) -> a record or None (no usable face), run on
        every detected face (the landmarks engine's face mesh); a main face whose record is None
        counts as absent.
      radius: frames either side averaged by `smooth_boxes` (0: no smoothing).
      stages: optional timer with add(name, started) for the "decode", "detect" and "mesh" stages.
      who: None for the main face of each shot, else whom to follow through the video (a word of
        `people.WORDS` or a face number; see tflipsync/faces/people.py).

    Returns:
      a MainFace.
    """
    stages = stages or _Untimed
    detections, thumbs, measured, looks, size = [], [], [], [], None
    schedule = DetectionSchedule(detector)
    frames = iter(frames)
    while True:
        started = time.perf_counter()
        frame = next(frames, None)
        stages.add("decode", started)
        if frame is None:
            break
        started = time.perf_counter()
        thumbs.append(thumbnail(frame))
        detections.append(schedule(frame, thumbs))
        stages.add("detect", started)
        if who is not None:
            looks.append([people.appearance(frame, d.box) for d in detections[-1]])
            size = frame.shape[:2]
        if measure is not None:
            started = time.perf_counter()
            measured.append([measure(frame, d) for d in detections[-1]])
            stages.add("mesh", started)
    cuts = scene_cuts(thumbs)
    if who is None:
        chosen = main_track(detections, cuts)
    else:
        persons = people.choose(detections, cuts, looks, who, size, shot_tracks)
        chosen = persons[0] if persons else [None] * len(detections)
    records = None
    if measure is not None:
        records = [None if d is None else next(r for r, c in zip(measured[i], detections[i]) if c is d)
                   for i, d in enumerate(chosen)]
        chosen = [d if r is not None else None for d, r in zip(chosen, records)]
    boxes, present = smooth_boxes(chosen, cuts, radius)
    face = MainFace(boxes, present, np.cumsum(cuts) - 1, chosen, records)
    if who is not None:
        face.people = [(boxes, present)] + [smooth_boxes(p, cuts, radius) for p in persons[1:]]
        face.numbered = people.numbered(next((d for d in detections if d), []))
    return face
