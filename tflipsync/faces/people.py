"""A chosen person, held through a video: `--who largest|center|left|right|all|N`.

The person is chosen once, on the first frame where any face is found (faces are numbered there
from left to right, the numbers `tflipsync faces` draws), then followed: within a shot by box
overlap (the tracks of `track.shot_tracks`), and from one track to the next, across gaps and
scene cuts, by appearance (a small colour and texture description of the face crop) and
position. The person is never re-chosen per shot: a shot where nobody looks like them passes
through. `all` keeps every track, so every face of every frame is redrawn.
"""

import numpy as np

from tflipsync.errors import InputError

WORDS = ("largest", "center", "left", "right", "all")
LOOK_SIDE = 16  # the face crop is described at 16 x 16 pixels
HUE_BINS, SATURATION_BINS = 12, 4
COLOUR_SIZE = HUE_BINS * SATURATION_BINS
MAX_COST = 0.45  # a track farther than this (look plus position) from the person is someone else


def appearance(rgb, box):
    """A face's look: float32 (COLOUR_SIZE + LOOK_SIDE**2,).

    The square roots of its hue-saturation histogram (unit length, so a dot product is the
    Bhattacharyya coefficient) followed by its 16 x 16 grey crop, zero mean and unit length.

    Args:
      rgb: (H, W, 3) uint8 RGB frame.
      box: (x0, y0, x1, y1) detector box.
    """
    import cv2

    height, width = rgb.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    look = np.zeros(COLOUR_SIZE + LOOK_SIDE ** 2, np.float32)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return look
    small = cv2.resize(rgb[y0:y1, x0:x1], (LOOK_SIDE, LOOK_SIDE), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    histogram = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SATURATION_BINS], [0, 180, 0, 256]).ravel()
    look[:COLOUR_SIZE] = np.sqrt(histogram / max(float(histogram.sum()), 1e-6))
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32).ravel()
    grey -= grey.mean()
    look[COLOUR_SIZE:] = grey / max(float(np.linalg.norm(grey)), 1e-6)
    return look


def look_distance(a, b):
    """Distance in [0, 1] between two looks (`appearance`, or means of them): half colour
    (Hellinger distance), half texture (1 - correlation, halved)."""
    colour = np.sqrt(max(0.0, 1.0 - float(a[:COLOUR_SIZE] @ b[:COLOUR_SIZE])))
    texture = (1.0 - float(a[COLOUR_SIZE:] @ b[COLOUR_SIZE:])) / 2.0
    return 0.5 * colour + 0.5 * texture


def numbered(detections):
    """One frame's detections in the order of their numbers: left to right by box centre."""
    return sorted(detections, key=lambda d: (float(d.box[0] + d.box[2]), float(d.box[1] + d.box[3])))


def pick(detections, who, size):
    """The face `who` names among one frame's detections.

    Args:
      detections: non-empty list of Detection.
      who: a word of WORDS other than "all", or a face number (1 is the leftmost).
      size: (height, width) of the frame.

    Raises:
      InputError: naming --who, when there is no face of that number.
    """
    faces = numbered(detections)
    if isinstance(who, int):
        if not 1 <= who <= len(faces):
            raise InputError("--who", f"there is no face {who}: the first frame with a face has {len(faces)} "
                                      f"(numbered 1 to {len(faces)} from the left; `tflipsync faces` shows them)")
        return faces[who - 1]
    if who == "largest":
        return max(faces, key=lambda d: d.area)
    if who == "left":
        return faces[0]
    if who == "right":
        return faces[-1]
    centre = np.array([size[1] / 2.0, size[0] / 2.0])
    return min(faces, key=lambda d: float(np.hypot(*(_centre(d.box) - centre))))


def _centre(box):
    return np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])


def _describe(track, shot, detections, looks):
    """A track's shot, frames, mean look, mean centre and mean width (the numbers `follow` compares)."""
    frames = sorted(track["items"])
    ds = [track["items"][i] for i in frames]
    # each detection's look sits at the detection's place in its frame's list
    mean = np.mean([looks[i][next(n for n, d in enumerate(detections[i]) if d is item)]
                    for i, item in zip(frames, ds)], axis=0)
    return {"shot": shot, "first": frames[0], "last": frames[-1], "items": track["items"], "look": mean,
            "centre": np.mean([_centre(d.box) for d in ds], axis=0),
            "width": float(np.mean([d.box[2] - d.box[0] for d in ds]))}


def _cost(person, candidate, frame_width):
    """How unlike the person's latest track a candidate track is: look plus position (the latter
    weighs four times less across a scene cut, where people move)."""
    latest = person[-1]
    shift = float(np.hypot(*(candidate["centre"] - latest["centre"]))) / max(frame_width, 1.0)
    weight = 1.0 if candidate["shot"] == latest["shot"] else 0.25
    look = np.mean([t["look"] for t in person[-3:]], axis=0)  # the last few tracks: robust to one odd shot
    return look_distance(look, candidate["look"]) + weight * shift


def follow(tracks, start, frame_width):
    """The tracks that are the person of track `start`: later tracks that do not overlap it in
    time, chosen greedily shot by shot, the least unlike first, while under MAX_COST."""
    person = [start]
    later = [t for t in tracks if t["first"] > start["last"]]
    for shot in sorted({t["shot"] for t in later}):
        pool = [t for t in later if t["shot"] == shot and t["first"] > person[-1]["last"]]
        while pool:
            best = min(pool, key=lambda t: _cost(person, t, frame_width))
            if _cost(person, best, frame_width) >= MAX_COST:
                break
            person.append(best)
            pool = [t for t in pool if t["first"] > best["last"]]
    return person


def choose(detections, cuts, looks, who, size, link):
    """The people `who` names, each followed through the video.

    Args:
      detections: list over frames of lists of Detection.
      cuts: bool (N,) shot starts.
      looks: list over frames of lists of `appearance` vectors, one per detection.
      who: a word of WORDS or a face number.
      size: (height, width) of the frames (None if there are none).
      link: link(detections, begin, end) -> the tracks of one shot (`track.shot_tracks`).

    Returns:
      list of people (one, or every track for "all"), each a list over frames of its Detection
      or None; empty if no frame has a face.
    """
    count = len(detections)
    starts = list(np.flatnonzero(cuts)) + [count]
    tracks = []
    for shot, (begin, end) in enumerate(zip(starts[:-1], starts[1:])):
        tracks += [_describe(track, shot, detections, looks) for track in link(detections, begin, end)]
    if not tracks:
        return []
    if who == "all":
        chosen = [[t] for t in tracks]
    else:
        first = min(t["first"] for t in tracks)
        target = pick(detections[first], who, size)
        start = next(t for t in tracks if t["items"].get(first) is target)
        chosen = [follow(tracks, start, size[1])]
    people = []
    for person in chosen:
        frames = [None] * count
        for t in person:
            for i, d in t["items"].items():
                frames[i] = d
        people.append(frames)
    return people
